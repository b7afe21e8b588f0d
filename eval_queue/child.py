"""Run one evaluation command in its own process group with a wall-clock limit and a memory limit.

The whole group is killed on timeout or cancellation, so the harness's own measurement processes go too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE_S = 3.0
LIMITS_SCRIPT = Path(__file__).with_name("limits.py")  # stdlib only: runs without PYTHONPATH


@dataclass
class ChildResult:
    returncode: int | None
    timed_out: bool
    cancelled: bool
    duration_s: float
    stderr_tail: str
    pgid: int


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc (zombies cannot be killed anyway)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


def kill_group(proc: subprocess.Popen, pgid: int) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after a short grace period."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc.poll() is not None and not group_members(pgid):
                return
            time.sleep(0.05)
    proc.poll()


def tail(path: Path, max_bytes: int = 8192) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wrap_with_limits(cmd: list[str], memory_mb: float | None) -> list[str]:
    limits = ["--as-mb", f"{memory_mb:g}"] if memory_mb else []
    return [sys.executable, str(LIMITS_SCRIPT), *limits, "--parent", str(os.getpid()), "--", *cmd]


def run_child(
    cmd: list[str],
    *,
    timeout_s: float,
    memory_mb: float | None,
    workdir: Path,
    env: dict[str, str] | None = None,
    on_tick: Callable[[str], bool] | None = None,
    tick_s: float = 5.0,
) -> ChildResult:
    """Run ``cmd`` (limited); call ``on_tick(stderr_tail)`` every ``tick_s``; a False answer cancels it."""
    stderr_path = workdir / "stderr.log"
    t0 = time.monotonic()
    with open(stderr_path, "wb") as err, open(workdir / "stdout.log", "wb") as out:
        proc = subprocess.Popen(
            wrap_with_limits(cmd, memory_mb),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=workdir,
            env=env,
            start_new_session=True,  # own session and process group: killpg reaches every descendant
        )
    pgid = proc.pid
    timed_out = cancelled = False
    next_tick = t0 + tick_s
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if now - t0 >= timeout_s:
                timed_out = True
                break
            if on_tick is not None and now >= next_tick:
                next_tick = now + tick_s
                if not on_tick(tail(stderr_path, 2048)):
                    cancelled = True
                    break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(0.2, max(0.01, timeout_s - (now - t0))))
    finally:
        if proc.poll() is None or group_members(pgid):
            kill_group(proc, pgid)
        proc.wait()
    return ChildResult(
        returncode=proc.returncode,
        timed_out=timed_out,
        cancelled=cancelled,
        duration_s=time.monotonic() - t0,
        stderr_tail=tail(stderr_path),
        pgid=pgid,
    )
