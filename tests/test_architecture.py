"""The code's shape as the design document draws it (docs/ARCHITECTURE.md), checked on the source.

Dependencies flow one way: settings <- store <- harness <- eval_queue <- submissions <- leaderboard <- ui
<- app. An import "to the right" (lazy imports inside functions included) is what turned the first
version into a cycle; these tests keep it from coming back. Configuration is read only through
``settings``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("settings", "store", "harness", "eval_queue", "submissions", "leaderboard", "ui", "app")
RANK = {name: i for i, name in enumerate(LAYERS)}


def project_files() -> list[Path]:
    files = [REPO / "app.py", REPO / "settings.py"]
    for pkg in LAYERS:
        if (REPO / pkg).is_dir():
            files += sorted((REPO / pkg).rglob("*.py"))
    return [f for f in files if f.exists()]


def layer_of(path: Path) -> str:
    return path.relative_to(REPO).parts[0].removesuffix(".py")


def imported_layers(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level project package) of every import in the module, nested ones included."""
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        out += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in RANK]
    return out


def test_the_layer_check_sees_a_violation():
    tree = ast.parse("def f():\n    from leaderboard import load\n")
    assert imported_layers(tree) == [(2, "leaderboard")]


def test_dependencies_flow_one_way():
    wrong = []
    for path in project_files():
        here = layer_of(path)
        for line, target in imported_layers(ast.parse(path.read_text(), str(path))):
            if RANK[target] > RANK[here]:
                wrong.append(f"{path.relative_to(REPO)}:{line} ({here}) imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def _environ_reads(tree: ast.AST) -> list[int]:
    """Lines that read configuration from the environment directly (not copies for a child process)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr == "getenv" and isinstance(f.value, ast.Name) and f.value.id == "os":
                lines.append(node.lineno)
            if f.attr == "get" and ast.unparse(f.value) == "os.environ":
                lines.append(node.lineno)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.Compare) and any(ast.unparse(c) == "os.environ" for c in node.comparators):
            lines.append(node.lineno)
    return lines


def test_the_environ_check_sees_every_form():
    src = (
        "import os\na = os.environ.get('X')\nb = os.getenv('Y')\nc = os.environ['Z']\nd = 'W' in os.environ\n"
    )
    assert _environ_reads(ast.parse(src)) == [2, 3, 4, 5]
    assert _environ_reads(ast.parse("import os\nenv = dict(os.environ)\nos.environ['A'] = '1'\n")) == []


def test_configuration_is_read_only_through_settings():
    wrong = []
    for path in project_files():
        if path.name == "settings.py" and path.parent == REPO:
            continue
        wrong += [f"{path.relative_to(REPO)}:{n}" for n in _environ_reads(ast.parse(path.read_text()))]
    assert not wrong, "read the environment through settings.get instead:\n" + "\n".join(wrong)


def _settings_names_used() -> set[str]:
    used = set()
    for path in project_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "is_set", "setting")
                and ast.unparse(node.func.value) in ("settings", "settings_module")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                used.add(node.args[0].value)
            if (  # settings.py's own helpers (on_space) call get()/is_set() unqualified
                path.name == "settings.py"
                and isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("get", "is_set")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                used.add(node.args[0].value)
    return used


def test_every_setting_named_in_code_is_declared_and_every_declared_one_is_used():
    import settings

    declared = {s.name for s in settings.SETTINGS}
    used = _settings_names_used()
    assert used - declared == set(), "undeclared settings read in code"
    assert declared - used == set(), "declared settings nothing reads (remove them or use them)"


@pytest.mark.parametrize("needle", ["/work/", "/farm/"])
def test_no_machine_paths_in_code_tests_or_docs(needle):
    hits = []
    for path in [*project_files(), *REPO.glob("tests/**/*.py"), *REPO.glob("*.md"), *REPO.glob("docs/*.md")]:
        if path.resolve() == Path(__file__).resolve():
            continue
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if needle in line and f".{needle}" not in line:
                hits.append(f"{path.relative_to(REPO)}:{i}")
    assert not hits, f"machine-specific paths ({needle}):\n" + "\n".join(hits)
