"""Test-session set-up: the suite must not depend on the caller's environment, and stays fast as it grows.

Runs before any test module imports huggingface_hub or the project, so the values below are what every
test, and every subprocess a test starts, sees unless the test sets its own (with ``monkeypatch``).

Speed (issue 15): with ``-n 2 --dist loadscope --no-loadscope-reorder`` (pytest-xdist; see pyproject),
``pytest_xdist_make_scheduler`` below keeps each module on one process (its module-scoped fixtures are
built once) and puts modules that assert wall-clock bounds in one group (never two at the same time);
``pytest_collection_modifyitems`` hands out the expensive modules first. The session fixtures ``digits_model`` and
``digits_record`` build the trained tiny model and its one full ``python -m harness`` record once per run,
shared by every module and both processes (a file lock; the second process reads the first one's files).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import settings  # noqa: E402  (after the path is set)

# Every variable the project reads, plus the Hub client's switches a developer may have exported
# (HF_HUB_OFFLINE=1 made the fake-Hub tests fail with "OfflineModeIsEnabled").
CALLER_VARIABLES = (
    *(s.name for s in settings.SETTINGS),
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HOME",
    "HF_HUB_CACHE",
)
for _name in CALLER_VARIABLES:
    os.environ.pop(_name, None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


# ---- scheduling across test processes ---------------------------------------------------------------

# Modules whose tests assert wall-clock bounds (a regex answers within 1 s, a hostile request within 5 s,
# a schema check within 50 ms) and the browser tests (a running app, Chromium and 30 s page waits, one of
# them while the app's worker runs the real harness): one group, so two of them never compete for the CPU.
TIMED_MODULES = frozenset(
    {
        "tests/test_app_server.py",
        "tests/test_leaderboard_filters.py",
        "tests/test_schema_record.py",
    }
)
TIMED_FOLDERS = ("tests/e2e/",)
TIMED_GROUP = "wall-clock-bounds"
HEAVY_MARKERS = ("slow", "e2e")  # a module with such a test is handed out first (the long ones first)


def group_of(nodeid: str) -> str:
    """The unit one test process runs whole: the test's module, or the timed group."""
    module = nodeid.split("::", 1)[0]
    return TIMED_GROUP if module in TIMED_MODULES or module.startswith(TIMED_FOLDERS) else module


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadscope`` hands out whole groups (above) instead of xdist's module/class scopes.

    (xdist's own ``loadgroup`` renames node ids, which pytest 9 no longer allows, so it groups nothing.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    heavy = {group_of(i.nodeid) for i in items if any(i.get_closest_marker(m) for m in HEAVY_MARKERS)}
    # Stable: collection order within each half. With --no-loadscope-reorder xdist hands groups out in
    # this order, so a long group does not start last and leave the other process idle.
    items.sort(key=lambda item: group_of(item.nodeid) not in heavy)


# Tests that must have the machine to themselves: with two processes, the other one finishes its current
# test and waits while such a test runs. (The browser test whose page loads while the app's worker runs the
# real harness timed out at 30 s when a harness run of the other process shared the 2 CPUs.) A test can
# also say so itself with ``@pytest.mark.alone``.
ALONE_TESTS = frozenset({"tests/e2e/test_app_e2e.py::test_submit_approve_and_see_the_measured_row"})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """Under xdist, every test holds a shared lock for its set-up, call and tear-down; an ``alone`` test
    holds it exclusively (and announces itself first, so the other process does not start a new test)."""
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None:  # one process: nothing runs beside the test anyway
        yield
        return
    import fcntl
    import tempfile
    import time

    base = Path(tempfile.gettempdir()) / f"pytest-alone-{workerinput['testrunuid']}"
    alone = item.get_closest_marker("alone") is not None or item.nodeid in ALONE_TESTS
    want = base.with_suffix(".want")
    with open(base.with_suffix(".lock"), "a") as fh:
        if alone:
            want.touch()
            fcntl.flock(fh, fcntl.LOCK_EX)
        else:
            while want.exists():
                time.sleep(0.2)
            fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            if alone:
                want.unlink(missing_ok=True)


# ---- built once per test run, shared by every process -----------------------------------------------


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every test process of this run sees (xdist workers each get a sub-folder of it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """``build(folder)`` runs once per test run, whichever process asks first; the rest wait and reuse it.

    A build that failed is retried by the next process that asks (it fails the same way, with its reason)."""
    root = shared_root(tmp_path_factory)
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            if folder.exists():
                import shutil

                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


# The one "everything on" run of the trained digits model: both backends, fp32 + int8, two batch sizes,
# accuracy on 120 samples of the digits test split and the robustness grid.
DIGITS_SAMPLES = 120


@dataclass(frozen=True)
class HarnessRun:
    """A record written by the real ``python -m harness`` CLI, with the arguments it ran with.

    ``record`` parses the file's text on every access: a test that edits its copy changes no other test."""

    text: str
    args: tuple[str, ...]

    @property
    def record(self) -> dict:
        return json.loads(self.text)


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory) -> Path:
    """``test_resnet`` trained for 3 s on the digits train split, in timm's Hub layout (read-only: shared)."""

    def build(folder: Path) -> None:
        import torch

        from tests._harness_helpers import train_digits_model

        torch.set_num_threads(1)
        train_digits_model(folder / "digits-test-resnet")

    return build_once(tmp_path_factory, "digits-model", build) / "digits-test-resnet"


@pytest.fixture(scope="session")
def digits_record(digits_model, tmp_path_factory) -> HarnessRun:
    """The digits model measured by the real harness CLI with everything on (``--output`` into a folder
    that did not exist: the CLI creates it and prints nothing)."""
    args = (
        f"local-dir:{digits_model}",
        "--dataset",
        "digits",
        "--max-samples",
        str(DIGITS_SAMPLES),
        "--backends",
        "pytorch,onnxruntime",
        "--batch-sizes",
        "1,4",
        "--precisions",
        "fp32,int8",
        "--min-duration",
        "0.1",
        "--threads",
        "1",
        "--robustness",
    )

    def build(folder: Path) -> None:
        from tests._harness_helpers import run_cli

        proc = run_cli(*args, "--output", str(folder / "sub" / "record.json"), timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout == "" and proc.stderr == "", (proc.stdout + proc.stderr)[-3000:]

    folder = build_once(tmp_path_factory, "digits-record", build)
    return HarnessRun((folder / "sub" / "record.json").read_text(), args)
