"""Run one measurement in a fresh child process (multiprocessing "spawn") with a time limit.

A model that leaks memory, wedges a thread pool or crashes the interpreter cannot affect the next
measurement; on timeout the child and everything it started are killed and a failure is returned.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from harness.allocator import child_environment
from harness.errors import as_harness_error


@dataclass
class ChildOutcome:
    ok: bool
    value: Any = None
    error_kind: str | None = None
    error: str | None = None  # one line
    traceback: str | None = None
    exitcode: int | None = None
    timed_out: bool = False
    wall_s: float = 0.0


def run_isolated(target: str, payload: Any, timeout_s: float) -> ChildOutcome:
    """Call ``module:function(payload)`` in a spawned child; its return value must be picklable."""
    ctx = mp.get_context("spawn")
    # the allocator settings every measuring child runs with; a malformed one is refused before anything
    # (pipe, process) exists
    with child_environment():
        recv_conn, send_conn = ctx.Pipe(duplex=False)
        t0 = time.monotonic()  # the child's cold start is measured from here (harness.coldstart)
        proc = ctx.Process(
            target=_child_main, args=(target, payload, send_conn, os.getpid(), t0), daemon=False
        )
        proc.start()
    send_conn.close()
    deadline = t0 + timeout_s
    message = None
    timed_out = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if recv_conn.poll(min(remaining, 0.2)):
                try:
                    message = recv_conn.recv()
                except EOFError:  # the child closed its end without a message: wait for it to exit
                    proc.join(max(0.0, deadline - time.monotonic()))
                    timed_out = proc.is_alive()
                break
            if not proc.is_alive():
                if recv_conn.poll(0.1):
                    continue
                break
        if message is not None:
            proc.join(30)
    finally:
        if proc.is_alive() and proc.pid is not None:
            kill_tree(proc.pid)
            proc.join(10)
        recv_conn.close()
    if timed_out:
        return ChildOutcome(
            ok=False,
            error_kind="timeout",
            error=f"timed out after {timeout_s:g} s; the child process was killed",
            exitcode=proc.exitcode,
            timed_out=True,
            wall_s=time.monotonic() - t0,
        )
    wall = time.monotonic() - t0
    if message is None:
        code = proc.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        hint = " (likely out of memory)" if code == -9 else ""
        return ChildOutcome(
            ok=False,
            error_kind="crashed",
            error=f"child process died ({how}){hint}",
            exitcode=code,
            wall_s=wall,
        )
    status, body = message
    if status == "ok":
        return ChildOutcome(ok=True, value=body, exitcode=proc.exitcode, wall_s=wall)
    return ChildOutcome(
        ok=False,
        error_kind=body["kind"],
        error=body["message"],
        traceback=body.get("traceback"),
        exitcode=proc.exitcode,
        wall_s=wall,
    )


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (children first found, then killed together)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    # wait for the descendants only: our direct child is reaped by multiprocessing (keeps its exit code)
    psutil.wait_procs(procs[:-1], timeout=10)


def _watch_parent(parent_pid: int) -> None:
    """Exit if the parent disappears, so an orphaned measurement does not keep burning CPU."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(70)


def _child_main(target: str, payload: Any, conn, parent_pid: int, spawned_at: float | None = None) -> None:
    from harness import coldstart

    coldstart.set_spawned_at(spawned_at)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        module_name, _, func_name = target.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
        conn.send(("ok", func(payload)))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as one line
        err = as_harness_error(exc, "measuring")
        conn.send(
            (
                "error",
                {"kind": err.kind, "message": str(err), "traceback": traceback.format_exc(limit=20)},
            )
        )
    finally:
        conn.close()
