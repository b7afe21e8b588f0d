"""Shared pieces of the queue/submission tests.

Run as a script, this file is a stand-in harness for the tests that need many quick or misbehaving
evaluations (races, hangs, memory limits): it accepts the harness's CLI (same parser) and, depending on
``FAKE_HARNESS_MODE``, writes a record with the key the real harness would compute, hangs, fails, or
allocates memory. Every test that checks the real evaluation path uses ``python -m harness`` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FAKE_HARNESS = Path(__file__).resolve()
# The fastest honest harness config: PyTorch only, batch 1, shortest timing window, no dataset.
FAST = {"backends": ["pytorch"], "batch_sizes": [1], "min_duration_s": 0.1, "dataset": None}


def make_stores(root: Path):
    from store import LocalDatasetStore, Stores

    return Stores(
        results=LocalDatasetStore(root / "results", "results"),
        queue=LocalDatasetStore(root / "queue", "queue"),
        backend="local",
    )


def add_approved(queue, model: str, config: dict, revision: str | None = None, source: str = "timm") -> dict:
    """An APPROVED entry written straight to the queue (skips review, like enqueue_approved)."""
    from eval_queue.entries import create_entry
    from eval_queue.entry import APPROVED, make_entry, utc_now
    from harness.config import BenchmarkConfig

    cfg = BenchmarkConfig.from_dict(config).to_dict()
    entry = make_entry(model, source, revision, cfg, "tester", utc_now(), status=APPROVED, note="test")
    return create_entry(queue, entry).to_dict()


def fake_harness_cmd() -> list[str]:
    return [sys.executable, str(FAKE_HARNESS)]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RESULTS_REPO", "QUEUE_REPO")}
    env.update({"LEADERBOARD_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    env.setdefault("LEADERBOARD_WORKER_DEVICES", "cpu")  # skip CUDA detection (a torch import) in workers
    env.update(extra)
    return env


def run_queue_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eval_queue", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


def live_processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``marker``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmd and state != "Z":
            out.append(int(d.name))
    return out


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


# --- the stand-in harness -----------------------------------------------------------------------
def _fake_main(argv: list[str]) -> int:
    from harness.cli import build_parser, config_from_args
    from harness.config import result_key
    from harness.environment import hardware_profile

    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    mode = os.environ.get("FAKE_HARNESS_MODE", "ok")
    log = os.environ.get("FAKE_HARNESS_LOG")
    if log:  # one line per started evaluation (O_APPEND writes of a short line are atomic)
        with open(log, "a") as fh:
            fh.write(f"{args.model} {config.batch_sizes[0]} {os.getpid()}\n")
    print(f"[harness] loading {args.model}", file=sys.stderr, flush=True)
    if mode == "hang":
        marker = os.environ.get("FAKE_HARNESS_MARKER", "")
        # a grandchild in the same process group, findable by its marker argument
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
        time.sleep(600)
    if mode == "error":
        print("error: unknown architecture 'nope': not in timm's registry", file=sys.stderr)
        return 2
    if mode == "alloc":
        block = bytearray(int(os.environ.get("FAKE_HARNESS_ALLOC_MB", "4096")) * 2**20)
        print(len(block))
    time.sleep(float(os.environ.get("FAKE_HARNESS_SLEEP", "0")))
    model, _, rev = args.model.partition("@") if args.model.startswith("hf-hub:") else (args.model, "", "")
    revision = rev or None
    record = {
        "schema_version": 1,
        "key": result_key(model, revision, config, hardware_profile(config.device)),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {"id": model, "source": "timm", "revision": revision},
        "runs": [],
        "config": config.to_dict(),
        "stand_in": True,
    }
    Path(args.output).write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(_fake_main(sys.argv[1:]))
