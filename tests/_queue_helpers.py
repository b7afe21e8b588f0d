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


def add_approved(queue, model: str, config: dict, revision: str | None = None, source: str = "timm"):
    """An APPROVED entry written straight to the queue (skips review, like enqueue_approved)."""
    from eval_queue.entries import create_entry
    from eval_queue.entry import APPROVED, make_entry, utc_now
    from harness.config import BenchmarkConfig

    cfg = BenchmarkConfig.from_dict(config).to_dict()
    entry = make_entry(model, source, revision, cfg, "tester", utc_now(), status=APPROVED, note="test")
    return create_entry(queue, entry)


def run_submit_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m submissions ARGS``."""
    return run_queue_cli(*args, env=env, timeout=timeout, module="submissions")


def fake_harness_cmd() -> list[str]:
    return [sys.executable, str(FAKE_HARNESS)]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RESULTS_REPO", "QUEUE_REPO")}
    env.update({"LEADERBOARD_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    env.setdefault("LEADERBOARD_WORKER_DEVICES", "cpu")  # skip CUDA detection (a torch import) in workers
    env.update(extra)
    return env


def run_queue_cli(
    *args: str, env: dict[str, str], timeout: float = 120, module: str = "eval_queue"
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
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
def _write_error(path: str | None, kind: str, message: str) -> None:
    if path:  # what the real harness writes with --error-file (contract: kind, message, traceback)
        Path(path).write_text(json.dumps({"kind": kind, "message": message, "traceback": None}))


def _next_noise() -> str:
    """``FAKE_HARNESS_NOISE=loaded,calm``: the n-th evaluation is noisy under load (``loaded``), noisy on a
    quiet machine (``jitter``) or calm (the last one repeats);
    ``FAKE_HARNESS_COUNTER`` is the file that counts evaluations across processes."""
    seq = [p for p in os.environ.get("FAKE_HARNESS_NOISE", "calm").split(",") if p]
    counter = os.environ.get("FAKE_HARNESS_COUNTER")
    n = 0
    if counter:
        with open(counter, "a+") as fh:
            fh.seek(0)
            n = len(fh.read())
            fh.write("x")
    return seq[min(n, len(seq) - 1)]


def _fake_main(argv: list[str]) -> int:
    from harness.cli import build_parser, config_from_args
    from harness.config import result_key
    from harness.environment import hardware_profile

    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    error_file = getattr(args, "error_file", None)
    mode = os.environ.get("FAKE_HARNESS_MODE", "ok")
    log = os.environ.get("FAKE_HARNESS_LOG")
    if log:  # one line per started evaluation (O_APPEND writes of a short line are atomic)
        with open(log, "a") as fh:
            fh.write(f"{args.model} {config.batch_sizes[0]} {os.getpid()}\n")
    dump = os.environ.get("FAKE_HARNESS_ENV_DUMP")
    if dump:  # what the evaluation child can see of the worker's environment
        Path(dump).write_text(json.dumps(dict(os.environ)))
    print(f"[harness] loading {args.model}", file=sys.stderr, flush=True)
    if mode == "hang":
        marker = os.environ.get("FAKE_HARNESS_MARKER", "")
        # a grandchild in the same process group, findable by its marker argument
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
        time.sleep(600)
    if mode in ("error", "error-no-file"):
        message = "unknown architecture 'nope': not in timm's registry"
        if mode == "error":
            _write_error(error_file, "unknown_architecture", message)
        print(f"error: {message}", file=sys.stderr)
        return 2
    if mode == "alloc":
        block = bytearray(int(os.environ.get("FAKE_HARNESS_ALLOC_MB", "4096")) * 2**20)
        print(len(block))
    time.sleep(float(os.environ.get("FAKE_HARNESS_SLEEP", "0")))
    model, _, rev = args.model.partition("@") if args.model.startswith("hf-hub:") else (args.model, "", "")
    revision = rev or None
    noise = _next_noise()
    noisy, load = noise != "calm", 4.0 if noise == "loaded" else 0.2
    runs = [
        {
            "backend": backend,
            "device": config.device,
            "precision": precision,
            "batch_size": bs,
            "status": "ok",
            "latency_ms": {"p50": 30.0 if noisy else 10.0, "p95": 90.0 if noisy else 11.0},
            "throughput_ips": 100.0 * bs,
            "noise": {
                "cv": 0.6 if noisy else 0.02,
                "p95_over_p50": 3.0 if noisy else 1.1,
                "load_before": load,
                "load_after": None,
                "cpu_count": 2,
                "noisy": noisy,
                "reasons": (["p95/p50 3.0"] if noisy else [])
                + (["load before 4.00 on 2 CPUs"] if load > 3 else []),
            },
        }
        for backend in config.backends
        for precision in config.precisions
        for bs in config.batch_sizes
    ]
    record = {
        "schema_version": 1,
        "key": result_key(model, revision, config, hardware_profile(config.device)),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {"id": model, "source": "timm", "revision": revision},
        "runs": runs,
        "config": config.to_dict(),
        "environment": {"hardware_profile": hardware_profile(config.device)},
        "stand_in": True,
    }
    Path(args.output).write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(_fake_main(sys.argv[1:]))
