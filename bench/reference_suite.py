"""How long does the reference suite take to fill an empty local board? (issue 15's target: < 5 minutes)

Seeds the suite (``eval_queue.seed``: what ``python app.py`` queues on an empty board) into a temporary
data folder, then runs the real worker (``python -m eval_queue work --once``) until the queue is empty, and
prints per model: its task, final status, the job's wall time and each run's stopping reason, and the total
wall time next to the target. Nothing is kept unless ``--keep DIR`` is given.

    .venv/bin/python bench/reference_suite.py [--keep DIR] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_S = 300.0
HUB_VARIABLES = ("RESULTS_REPO", "QUEUE_REPO", "HF_TOKEN", "LEADERBOARD_DISPATCH", "HF_HUB_OFFLINE")


def seed(data: Path) -> int:
    """Queue the suite into ``data`` in a child, so this process reads the same settings the worker does."""
    code = (
        "import store; from eval_queue.seed import seed_reference_suite; "
        "print(seed_reference_suite(store.get_stores()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=_env(data), capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HUB_VARIABLES}  # always the local store
    return env | {"LEADERBOARD_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def report(data: Path) -> list[dict]:
    """Per entry: model, task, status, seconds from claim to the end, re-measures, each run's stop."""
    rows = []
    records = {p.stem: p for p in (data / "results" / "records").rglob("*.json")}
    for path in sorted((data / "queue" / "entries").rglob("*.json")):
        entry = json.loads(path.read_text())
        events = entry.get("events") or []
        claimed = [e["at"] for e in events if e.get("note") == "claimed"]
        ended = [e["at"] for e in events if e.get("status") in ("FINISHED", "FAILED", "CANCELED")]
        stops: Counter[str] = Counter()
        key = entry.get("result_key")
        if key in records:
            for run in json.loads(records[key].read_text()).get("runs", []):
                stops[run.get("stop_reason") or run.get("status") or "?"] += 1
        rows.append(
            {
                "model": entry.get("model"),
                "task": (entry.get("config") or {}).get("task", "classification"),
                "status": entry.get("status"),
                "seconds": (_at(ended[-1]) - _at(claimed[0])).total_seconds() if claimed and ended else None,
                "remeasured": any("re-measuring" in (e.get("note") or "") for e in events),
                "stops": dict(stops),
                "error": ((entry.get("error") or {}).get("message") or "")[:120],
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="use (and keep) this empty folder as the data folder")
    ap.add_argument("--timeout", type=float, default=900.0, help="per job, seconds")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="reference-suite-") if args.keep is None else None
    data = args.keep or Path(tmp.name)  # type: ignore[union-attr]
    try:
        print(
            f"seeded {seed(data)} models into {'a temporary folder' if tmp else data}; load {os.getloadavg()[0]:.2f}"
        )
        start = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "eval_queue", "work", "--once", "--timeout", str(args.timeout)],
            cwd=REPO,
            env=_env(data),
            check=False,
        )
        wall = time.monotonic() - start
        print(f"\n{'model':50} {'task':14} {'status':9} {'s':>5} again  runs by stop (or error)")
        for r in report(data):
            s = f"{r['seconds']:5.0f}" if r["seconds"] is not None else "    ?"
            again = "yes" if r["remeasured"] else "no"
            print(f"{r['model']:50} {r['task']:14} {r['status']:9} {s} {again:5}  {r['stops'] or r['error']}")
        verdict = "met" if wall < TARGET_S else "missed"
        print(
            f"\nreference suite: {wall:.0f} s wall (target < {TARGET_S:.0f} s: {verdict}); load {os.getloadavg()[0]:.2f}"
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
