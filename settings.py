"""Every environment variable the project reads, declared once: name, type, default, meaning.

Nothing else in the project reads ``os.environ`` for configuration: code asks :func:`get` (typed, validated,
read at call time so a test's ``monkeypatch.setenv`` takes effect), and the README's table of variables is
generated from :data:`SETTINGS` (``python -m settings``) and checked against it by a test. This module
imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["SETTINGS", "Setting", "SettingError", "get", "is_set", "on_space", "readme_table"]


class SettingError(ValueError):
    """An environment variable holds a value its setting cannot take; the message names both."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One environment variable. ``kind``: str | int | float | bool | list (comma separated) | secret."""

    name: str
    kind: str
    default: Any
    help: str
    group: str
    minimum: float | None = None  # numbers only: smallest value accepted

    def parse(self, raw: str) -> Any:
        raw = raw.strip()
        if self.kind in ("str", "secret"):
            return raw
        if self.kind == "list":
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if self.kind == "bool":
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise SettingError(f"{self.name} must be 1 or 0 (true/false), got {raw[:40]!r}")
        try:
            value = int(raw) if self.kind == "int" else float(raw)
        except ValueError:
            raise SettingError(f"{self.name} must be a {self.kind} number, got {raw[:40]!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise SettingError(f"{self.name} must be a finite number, got {raw[:40]!r}")
        if self.minimum is not None and value < self.minimum:
            raise SettingError(f"{self.name} must be at least {self.minimum:g}, got {raw[:40]!r}")
        return value


def _s(name: str, kind: str, default: Any, group: str, help: str, minimum: float | None = None) -> Setting:
    return Setting(name, kind, default, help, group, minimum)


STORE, APP, AUTH, SUBMIT, WORKER, HARNESS = "store", "app", "maintainers", "submissions", "worker", "harness"

SETTINGS: tuple[Setting, ...] = (
    _s(
        "LEADERBOARD_DATA_DIR",
        "str",
        "./data",
        STORE,
        "local data directory: `results/` and `queue/`, laid out as the Hub repos",
    ),
    _s(
        "RESULTS_REPO",
        "str",
        None,
        STORE,
        "Hub dataset repo of the results (with `QUEUE_REPO`: use the Hub instead of local data)",
    ),
    _s("QUEUE_REPO", "str", None, STORE, "Hub dataset repo of the submission queue"),
    _s(
        "HF_TOKEN",
        "secret",
        None,
        STORE,
        "Hub token with write access to both repos (never passed to an evaluation)",
    ),
    _s(
        "HF_ENDPOINT",
        "str",
        "https://huggingface.co",
        STORE,
        "Hub address (tests point it at a local fake Hub)",
    ),
    _s(
        "GRADIO_SERVER_NAME",
        "str",
        None,
        APP,
        "address `python app.py` listens on (default 127.0.0.1 locally, 0.0.0.0 on a Space)",
    ),
    _s("GRADIO_SERVER_PORT", "int", 7860, APP, "port of `python app.py`", 1),
    _s("SYSTEM", "str", None, APP, "set to `spaces` by Hugging Face Spaces (with `SPACE_ID`: OAuth review)"),
    _s("SPACE_ID", "str", None, APP, "the Space's id, set by Hugging Face Spaces"),
    _s(
        "LEADERBOARD_SEED",
        "bool",
        None,
        APP,
        "seed a reference suite on an empty board (default on locally, off on the Hub)",
    ),
    _s("LEADERBOARD_WORKER", "bool", True, APP, "run the evaluation worker inside the app"),
    _s(
        "LEADERBOARD_WORKER_INTERVAL",
        "float",
        10.0,
        APP,
        "seconds between the in-app worker's queue polls",
        0.1,
    ),
    _s(
        "LEADERBOARD_REFRESH_S",
        "float",
        None,
        APP,
        "how often the Leaderboard tab looks for new results (default 10 s locally, 60 s on the Hub)",
        1,
    ),
    _s(
        "LEADERBOARD_QUEUE_REFRESH_S",
        "float",
        None,
        APP,
        "how often the Queue tab refreshes (default 5 s locally, 30 s on the Hub)",
        1,
    ),
    _s("LEADERBOARD_LOG_LEVEL", "str", "WARNING", APP, "log level of the command-line tools"),
    _s(
        "LEADERBOARD_ADMIN_TOKEN",
        "secret",
        None,
        AUTH,
        "maintainer token of the board (blank: review disabled)",
    ),
    _s("LEADERBOARD_TOKEN", "secret", None, AUTH, "the maintainer token a command-line call presents"),
    _s("MAINTAINERS", "list", (), AUTH, "Hub users allowed to review on a Space"),
    _s("MAINTAINER_ORGS", "list", (), AUTH, "Hub organisations whose members may review on a Space"),
    _s(
        "LEADERBOARD_ALLOW_LOCAL_DIRS",
        "bool",
        None,
        SUBMIT,
        "accept `local-dir:` submissions (default on for local data, off on the Hub)",
    ),
    _s(
        "LEADERBOARD_MAX_PARAMS_M",
        "float",
        1000.0,
        SUBMIT,
        "largest model accepted, in millions of parameters counted from the weights (0: no cap)",
        0,
    ),
    _s(
        "LEADERBOARD_RATE_LIMIT",
        "str",
        "5/7d",
        SUBMIT,
        "submissions per submitter per period, e.g. `5/7d`, `10/24h` (0: off)",
    ),
    _s(
        "LEADERBOARD_DATASETS",
        "list",
        ("digits",),
        SUBMIT,
        "datasets a submitter may pick (names the harness knows, or paths/Hub ids the maintainers chose)",
    ),
    _s(
        "LEADERBOARD_LEASE_S",
        "float",
        120.0,
        WORKER,
        "seconds a worker's lease on a job lasts; renewed while it runs",
        0.1,
    ),
    _s(
        "LEADERBOARD_HEARTBEAT_S",
        "float",
        None,
        WORKER,
        "seconds between lease renewals (default a quarter of the lease)",
        0.05,
    ),
    _s("LEADERBOARD_MAX_ATTEMPTS", "int", 3, WORKER, "tries of a job before it is FAILED", 1),
    _s("LEADERBOARD_JOB_TIMEOUT_S", "float", 3600.0, WORKER, "wall-clock limit of one evaluation", 1),
    _s(
        "LEADERBOARD_WORKER_MEMORY_MB",
        "float",
        None,
        WORKER,
        "address-space cap of a CPU evaluation (default 75% of RAM, 0: none)",
        0,
    ),
    _s(
        "LEADERBOARD_WORKER_DEVICES",
        "list",
        None,
        WORKER,
        "devices this worker evaluates on, e.g. `cuda` (default: detected)",
    ),
    _s("LEADERBOARD_WORKER_NAME", "str", None, WORKER, "name prefix of this worker in leases and events"),
    _s(
        "LEADERBOARD_HARNESS_CMD",
        "str",
        None,
        WORKER,
        "command that runs the harness (default: this Python's `-m harness`)",
    ),
    _s(
        "LEADERBOARD_HARDWARE_PROFILE",
        "str",
        None,
        HARNESS,
        "hardware profile name recorded by the harness (default: derived from the machine)",
    ),
    _s("HARNESS_MAX_DOWNLOAD_MB", "float", 4096.0, HARNESS, "size cap on Hub weight downloads", 1),
    # glibc's own variables; unset, measuring children get 4 GiB (harness/allocator.py: why)
    _s(
        "MALLOC_MMAP_THRESHOLD_",
        "int",
        None,
        HARNESS,
        "glibc mmap threshold of measuring children (4 GiB)",
        0,
    ),
    _s(
        "MALLOC_TRIM_THRESHOLD_",
        "int",
        None,
        HARNESS,
        "glibc trim threshold of measuring children (4 GiB)",
        0,
    ),
    _s("LEADERBOARD_DISPATCH", "str", "worker", WORKER, "`worker` (in-app) or `jobs` (Hugging Face Jobs)"),
    _s("LEADERBOARD_JOB_FLAVORS", "list", ("cpu-basic",), WORKER, "Jobs flavors submitters may pick"),
    _s("LEADERBOARD_JOBS_NAMESPACE", "str", None, WORKER, "user/org that runs and pays for the Jobs"),
    _s("LEADERBOARD_JOBS_IMAGE", "str", None, WORKER, "image of a Job (default: this Space's image)"),
    _s("LEADERBOARD_JOBS_MAX_RUNNING", "int", 2, WORKER, "Jobs running at once (0: no cap)", 0),
    _s("LEADERBOARD_JOBS_BUDGET_USD_PER_DAY", "float", 5.0, WORKER, "Jobs spend per 24 h (0: no cap)", 0),
    _s("LEADERBOARD_LOCAL_COST_PER_HOUR", "float", None, WORKER, "USD per hour of the local machine", 0),
)

_BY_NAME: dict[str, Setting] = {}
for _setting in SETTINGS:
    if _setting.name in _BY_NAME:
        raise RuntimeError(f"setting {_setting.name} declared twice")
    _BY_NAME[_setting.name] = _setting


def setting(name: str) -> Setting:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"undeclared setting {name!r}: add it to settings.SETTINGS") from None


def is_set(name: str) -> bool:
    """The variable is present and not blank (whitespace counts as blank)."""
    return bool(os.environ.get(setting(name).name, "").strip())


def get(name: str, default: Any = ...) -> Any:
    """The typed value of ``name`` from the environment, else ``default`` (else the declared default).

    A blank value counts as unset. A malformed one raises :class:`SettingError` naming the variable.
    """
    s = setting(name)
    raw = os.environ.get(s.name)
    if raw is None or not raw.strip():
        return s.default if default is ... else default
    return s.parse(raw)


def on_space() -> bool:
    """Running on Hugging Face Spaces (which sets both variables)."""
    return get("SYSTEM") == "spaces" and is_set("SPACE_ID")


def _default_text(s: Setting) -> str:
    if s.default is None or s.default == ():
        return ""
    if isinstance(s.default, tuple):
        return "`" + ",".join(s.default) + "`"
    if isinstance(s.default, bool):
        return "`1`" if s.default else "`0`"
    return f"`{s.default}`"


def readme_table() -> str:
    """The README's table of environment variables (the README embeds this text verbatim)."""
    lines = ["| variable | group | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{s.name}` | {s.group} | {_default_text(s)} | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())
