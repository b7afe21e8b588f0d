"""Supervisor run as the worker's child: apply resource limits, run the command, take its group down with it.

``python -m eval_queue.limits [--as-mb M] [--parent PID] -- CMD ...``
- sets RLIMIT_AS (address space), inherited by CMD and by the harness's own measurement processes;
- asks Linux to send it SIGTERM when the worker dies (``PR_SET_PDEATHSIG``) and answers SIGTERM by
  SIGKILLing its whole process group, so a killed worker leaves no evaluation running;
- exits with CMD's status (re-raising CMD's fatal signal, so the worker sees e.g. SIGKILL from the OOM killer).
Doing this in a child avoids ``preexec_fn``, which is unsafe in a threaded parent such as the app.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def _term_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the worker's own timeout still applies
        pass


def _kill_group(*_args) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)  # includes this process


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python -m eval_queue.limits [--as-mb M] [--parent PID] -- CMD ...", file=sys.stderr)
        return 2
    split = argv.index("--")
    opts, cmd = argv[:split], argv[split + 1 :]
    if not cmd:
        print("error: no command to run", file=sys.stderr)
        return 2
    parent = None
    while opts:
        flag, value, opts = opts[0], opts[1], opts[2:]
        if flag == "--as-mb":
            limit = int(float(value) * 2**20)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        elif flag == "--parent":
            parent = int(value)
    signal.signal(signal.SIGTERM, _kill_group)
    signal.signal(signal.SIGINT, _kill_group)
    _term_with_parent()
    if parent is not None and os.getppid() != parent:  # the worker died before prctl took effect
        return 1
    try:
        child = subprocess.Popen(cmd)
    except OSError as exc:
        print(f"error: cannot start {cmd[0]}: {exc}", file=sys.stderr)
        return 127
    rc = child.wait()
    if rc < 0:  # pass the signal on so the worker can tell an OOM kill from an error exit
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
