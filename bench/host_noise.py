"""How quiet is this machine? The floor under issue 15's "every p50 within ±1%" target, measured without
the harness: plain loops, each iteration timed with ``perf_counter``, no harness code in the loop.

For each shape (a numpy matmul with no framework at all, then PyTorch eager resnet18/resnet50 at batch 1
and 8), timed for ``--seconds`` per round, rounds interleaved across shapes so drift hits all alike, it
prints: the coefficient of variation, p90/p50, the level shift (largest over smallest median of five
consecutive chunks: a machine whose speed moves partway through a run), the distribution-free 95% interval
of the median reached with those samples (``harness.timing.median_interval``, the statistic the harness
stops on), and what reaching ±1% would take at that width: samples ~ n * (w / 1%)^2, since the width
shrinks as one over the square root of n. The last column is the projection in seconds of timing, next to
the harness's 20 s cap per shape. Prints figures; never part of the test pass.

    .venv/bin/python bench/host_noise.py [--seconds 8] [--rounds 2] [--threads N] [--glibc-defaults]

It runs under the allocator settings of the harness's measuring children (``harness.allocator``; it
re-executes itself with them), or with ``--glibc-defaults`` without them, to see what they change.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import allocator  # noqa: E402
from harness.timing import CAP_FACTOR, median_interval, physical_cores, to_reach  # noqa: E402

SHAPES = (("numpy-matmul", 0), ("resnet18", 1), ("resnet18", 8), ("resnet50", 1), ("resnet50", 8))


def make_step(name: str, batch: int):
    """A zero-argument callable doing one iteration of the shape's work."""
    if name == "numpy-matmul":
        a = np.random.default_rng(0).standard_normal((768, 768)).astype(np.float32)
        return lambda: a @ a
    import timm
    import torch

    model = timm.create_model(name, pretrained=False).eval()
    x = torch.randn(batch, 3, 224, 224)

    def step():
        with torch.inference_mode():
            model(x)

    return step


def timed_loop(step, seconds: float) -> tuple[np.ndarray, int]:
    """Per-iteration milliseconds, and the minor page faults over the loop."""
    for _ in range(3):  # warm-up
        step()
    faults = allocator.minor_page_faults()
    samples, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        step()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return np.asarray(samples), allocator.minor_page_faults() - faults


def describe(samples: np.ndarray, faults: int) -> dict:
    ordered = np.sort(samples)
    p50 = float(np.median(ordered))
    chunks = [float(np.median(c)) for c in np.array_split(samples, 5) if c.size]
    interval = median_interval(ordered)
    width = interval["rel_half_width"] if interval else float("nan")
    needed = to_reach(samples.size, width)
    return {
        "n": int(samples.size),
        "p50": p50,
        "cv": float(samples.std() / samples.mean()),
        "p90/p50": float(np.percentile(ordered, 90)) / p50,
        "shift": max(chunks) / min(chunks),
        "width": width,
        "needed_n": needed,
        "needed_s": needed * p50 / 1000.0,
        "faults": faults / samples.size,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="timing per shape and round (default 8)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: physical cores)")
    ap.add_argument("--glibc-defaults", action="store_true", help="without the harness's allocator settings")
    args = ap.parse_args()
    if not args.glibc_defaults and not allocator.in_force():  # glibc reads them at start: start again
        os.execve(
            sys.executable, [sys.executable, *sys.argv], {**os.environ, **allocator.CHILD_ALLOCATOR_ENV}
        )
    if args.seconds <= 0 or args.rounds < 1:
        ap.error("--seconds must be > 0 and --rounds >= 1")
    import torch

    threads = args.threads or physical_cores()
    torch.set_num_threads(threads)
    steps = {shape: make_step(*shape) for shape in SHAPES}
    found: dict[tuple[str, int], list[dict]] = {shape: [] for shape in SHAPES}
    print(
        f"threads={threads} cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} {args.rounds} rounds x {args.seconds:g} s "
        f"allocator={allocator.in_force() or 'glibc defaults'}"
    )
    for r in range(args.rounds):
        order = SHAPES if r % 2 == 0 else tuple(reversed(SHAPES))  # ABBA across shapes
        for shape in order:
            found[shape].append(describe(*timed_loop(steps[shape], args.seconds)))
    cap = CAP_FACTOR * 1.0  # the cap at the default 1 s minimum duration
    print(
        f"\nshape              n   p50 ms    cv  p90/p50  shift  faults/pass  p50 ±    ±1% needs (samples, s of timing; cap {cap:g} s)"
    )
    for (name, batch), rows in found.items():
        med = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
        label = name if not batch else f"{name} bs{batch}"
        print(
            f"{label:<15} {med['n']:>5.0f} {med['p50']:>8.2f} {med['cv']:>5.1%} {med['p90/p50']:>8.3f} "
            f"{med['shift']:>6.3f} {med['faults']:>11.0f} {med['width']:>5.1%}   {med['needed_n']:>7.0f} samples  {med['needed_s']:>7.1f} s"
            f"  ({med['needed_s'] / cap:.1f}x the cap)"
        )
    print(f"\nload after: {os.getloadavg()[0]:.2f} (figures are medians over rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
