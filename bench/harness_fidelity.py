"""Does the harness measure what a plain timed loop measures, and how long does a default evaluation take?
Prints figures; never part of the test pass.

1. Interleaved A/B (one process, same model, same input, same iterations): the harness's ``measure()``
   (adaptive stopping rule) and a plain loop with one clock around all iterations, ``--ab-rounds`` times in
   ABBA order, so machine-load drift hits both alike. The plain loop has only a mean: its ratio to the
   harness's mean isolates the loop's own overhead; to the p50 it adds the samples' skew. Target: median
   of plain mean latency / harness p50, and of harness/plain throughput, within 0.97-1.03.
2. Wall time of a default evaluation (``python -m harness ARCH``: PyTorch + ONNX Runtime, batch 1 and 8,
   1 s minimum) per timing policy, modes interleaved per repeat, medians reported: ``fixed`` (the earlier
   policy: at least 100 iterations and 1 s per shape, via ``--timing fixed``), ``adaptive`` (the default),
   and with ``--baseline-rev REV`` ``code@REV`` (the harness package exported read-only from that commit
   with ``git archive``, i.e. the earlier code as a whole). Also: the share of wall time spent in timed
   loops, and every p50 interval's half-width (target: resnet50 adaptive < 45 s, all intervals ±1%).

    python bench/harness_fidelity.py [--archs resnet18,resnet50] [--repeats 3] [--baseline-rev HEAD~5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.config import split_csv  # noqa: E402
from harness.isolation import run_isolated  # noqa: E402
from harness.timing import physical_cores, random_batch  # noqa: E402


def interleaved_ab(job: dict) -> dict:
    """In one process, alternate the harness's measure() and a plain loop on the same model and input,
    ``rounds`` times, so machine-load drift hits both alike. Isolates the measuring loop's own overhead."""
    import timm
    import torch

    from harness.backends import PrepareRequest, get_backend
    from harness.timing import TimingPolicy, measure

    torch.set_num_threads(job["threads"])
    model = timm.create_model(job["arch"], pretrained=False).eval()
    size = tuple(timm.data.resolve_model_data_config(model)["input_size"])
    runner = get_backend("pytorch").prepare(
        PrepareRequest(model, size, "cpu", "fp32", job["threads"], Path("."))
    )
    batch = random_batch(job["batch_size"], size)
    x = torch.from_numpy(batch)
    policy = TimingPolicy(min_duration_s=job["min_duration_s"])  # the adaptive default
    ratios, p50_ratios, mean_ratios = [], [], []

    def plain(warmup: int, iterations: int) -> float:
        with torch.inference_mode():
            for _ in range(warmup):
                model(x)
            t0 = time.perf_counter()
            for _ in range(iterations):
                model(x)
            return time.perf_counter() - t0

    n, warm = None, None
    for r in range(job["rounds"]):
        # ABBA: the harness first in even rounds, the plain loop first in odd ones (with the previous
        # round's counts), so a machine that drifts slower or faster during a round favours neither
        if r % 2 == 1 and n is not None:
            elapsed = plain(warm, n)
            m = measure(runner, batch, policy)
        else:
            m = measure(runner, batch, policy)
            elapsed = plain(m.warmup, m.iterations)
        n, warm = m.iterations, m.warmup
        plain_ms = 1000 * elapsed / n
        ratios.append(m.throughput_ips / (job["batch_size"] / plain_ms * 1000))
        p50_ratios.append(plain_ms / float(m.latency_ms["p50"] or "nan"))
        mean_ratios.append(plain_ms / float(m.latency_ms["mean"] or "nan"))
    return {"ratios": ratios, "p50_ratios": p50_ratios, "mean_ratios": mean_ratios}


def baseline_tree(rev: str, into: Path) -> Path:
    """The ``harness`` package as of ``rev``, exported read-only (``git archive``; the checkout is untouched)."""
    data = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "harness"], capture_output=True, check=True
    )
    tar = into / "harness.tar"
    tar.write_bytes(data.stdout)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into


def evaluate_wall(arch: str, mode: str, tree: Path | None, threads: int, out: Path) -> dict:
    """One default evaluation through the CLI in a fresh interpreter; wall time and what the record says."""
    cmd = [sys.executable, "-m", "harness", arch, "--threads", str(threads), "--output", str(out)]
    if mode == "fixed":
        cmd += ["--timing", "fixed"]
    cwd = tree or REPO  # the archived package shadows the checkout's (sys.path[0] is the cwd)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (cwd, REPO))}
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{arch} ({mode}) failed: {proc.stderr.strip()[-500:]}")
    record = json.loads(out.read_text())
    ok = [r for r in record["runs"] if r.get("status") == "ok"]
    widths = [r["p50_interval"]["rel_half_width"] for r in ok if r.get("p50_interval")]
    return {
        "wall": wall,
        "timed": sum(r["duration_s"] for r in ok),
        "iterations": [r["iterations"] for r in ok],
        "widths": widths,
        "stops": [r.get("stop_reason") or "-" for r in ok],
        "p50": {f"{r['backend'][:3]}{r['batch_size']}": r["latency_ms"]["p50"] for r in ok},
        "load": (load_before, os.getloadavg()[0]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="resnet18,resnet50")
    ap.add_argument("--batch-sizes", default="1,8", help="A/B only; the wall figure uses the defaults")
    ap.add_argument("--min-duration", type=float, default=1.0, help="A/B only")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ab-rounds", type=int, default=5, help="interleaved in-process A/B rounds (0: skip)")
    ap.add_argument("--modes", default="fixed,adaptive", help="wall-time modes: fixed, adaptive")
    ap.add_argument("--baseline-rev", default=None, help="also time the harness package of this commit")
    ap.add_argument("--skip-wall", action="store_true")
    args = ap.parse_args()
    threads = args.threads or physical_cores()
    batch_sizes = tuple(int(b) for b in split_csv(args.batch_sizes))
    print(f"threads={threads} cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} repeats={args.repeats}")
    if args.ab_rounds:
        print("1. interleaved A/B in one process (harness measure() vs plain loop, same iterations):")
        for arch in split_csv(args.archs):
            for bs in batch_sizes:
                job = {"arch": arch, "batch_size": bs, "threads": threads, "rounds": args.ab_rounds}
                job |= {"min_duration_s": args.min_duration}
                out = run_isolated("bench.harness_fidelity:interleaved_ab", job, 1800)
                if not out.ok:
                    raise SystemExit(f"A/B failed: {out.error}")
                p50, tp = statistics.median(out.value["p50_ratios"]), statistics.median(out.value["ratios"])
                mean = statistics.median(out.value["mean_ratios"])
                flag = "ok" if 0.97 <= p50 <= 1.03 and 0.97 <= tp <= 1.03 else "OUTSIDE 0.97-1.03"
                each = ", ".join(f"{v:.3f}" for v in out.value["p50_ratios"])
                print(
                    f"  {arch:<10} bs={bs}: plain mean/harness p50 {p50:.3f} [{each}], "
                    f"plain mean/harness mean {mean:.3f}, throughput harness/plain {tp:.3f}  {flag}",
                    flush=True,
                )
    if args.skip_wall:
        return 0
    print("2. wall time of a default evaluation (python -m harness ARCH), modes interleaved:")
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        modes: list[tuple[str, Path | None]] = [(m, None) for m in split_csv(args.modes)]
        if args.baseline_rev:
            modes.insert(0, (f"code@{args.baseline_rev}", baseline_tree(args.baseline_rev, Path(tmp))))
        results: dict[tuple[str, str], list[dict]] = {}
        for arch in split_csv(args.archs):
            for rep in range(args.repeats):
                for mode, tree in modes:
                    r = evaluate_wall(arch, mode, tree, threads, Path(tmp) / "record.json")
                    results.setdefault((arch, mode), []).append(r)
                    shown = ", ".join(f"±{w:.1%}" for w in r["widths"]) or "-"
                    print(
                        f"  {arch} {mode:<16} rep={rep}: wall {r['wall']:.1f} s, timed {r['timed']:.1f} s "
                        f"({r['timed'] / r['wall']:.0%}), iterations {r['iterations']}, stops {r['stops']}, "
                        f"p50 intervals {shown}, p50 ms {r['p50']}, load {r['load'][0]:.2f}->{r['load'][1]:.2f}",
                        flush=True,
                    )
    print("\narch       mode              wall s (median)  timed share  max p50 ±  all ±1%")
    for (arch, mode), rs in results.items():
        wall = statistics.median(r["wall"] for r in rs)
        share = statistics.median(r["timed"] / r["wall"] for r in rs)
        widths = [w for r in rs for w in r["widths"]]
        worst = f"{max(widths):.2%}" if widths else "-"
        within = "yes" if widths and max(widths) <= 0.01 else ("no" if widths else "-")
        print(f"{arch:<10} {mode:<17} {wall:>7.1f}         {share:>5.0%}       {worst:>7}   {within}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
