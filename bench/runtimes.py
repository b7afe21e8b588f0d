"""Every CPU runtime the registry has, on the same models and inputs, measured interleaved in one run.

For each model and batch size, every registered backend that can run cpu/fp32 here is prepared through
the harness's own backends (the same Runner the harness times; ONNX-consuming backends share one export).
Then ``--rounds`` rounds alternate the runtimes (the order rotates each round, so none always follows
the same neighbour): per turn a short warm-up (absorbs another runtime's spinning threads and cache
pollution) and at least ``--turn-s`` seconds / 5 timed passes. Reported per runtime: the p50 of all its
samples, the speed-up over PyTorch eager (eager p50 / runtime p50) and the range of that ratio over the
rounds' medians (how stable it is under machine drift), and the achieved GMAC/s (model GMACs at batch 1,
fvcore, times the batch, over the p50) against the machine's fp32 peak.

The peak is a measured figure: the best of several large fp32 GEMMs (torch.mm, 2048^3, the same threads),
i.e. what this CPU sustains on the most favourable dense kernel, not a datasheet number. It is measured
at the start, after every round and at the end, and the best of all is the peak: on a shared machine one
early figure can catch a busy moment (seen: 13 GMAC/s at the start, 30 at the end of one run). On a machine loaded past its core count, multi-threaded OpenMP (PyTorch)
loses far more than the other runtimes' pools (a descheduled thread stalls every barrier): there,
``--threads 1`` compares the runtimes' kernels rather than their thread pools. The theoretical
figure from the CPU flags and clock (FMA width x units x GHz x cores) is printed beside it for reference,
with its assumption stated, and the table gives both percentages: torch.mm is not always the best kernel
on a CPU (seen on 1 Zen 5 core: 48 GMAC/s, while OpenVINO's and ONNX Runtime's convolutions reach 54),
so "% GEMM" above 100 means "better than torch's GEMM", and "% theory" is the hard bound. Prints figures; never part of the test pass.

    python bench/runtimes.py [--models resnet18,mobilenetv3_large_100] [--batch-sizes 1,8] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.backends import BackendUnsupported, PrepareRequest, backend_specs, get_backend  # noqa: E402
from harness.config import split_csv  # noqa: E402
from harness.noise import load_average  # noqa: E402
from harness.timing import physical_cores, random_batch, set_threads  # noqa: E402

REFERENCE = "pytorch"
WARMUP_PER_TURN = 2
MIN_PER_TURN = 5


@dataclass
class Contender:
    name: str
    runner: Any
    x: Any
    samples_ms: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)


GEMM_GMACS: list[float] = []  # every GEMM figure of this run; the peak is the best


def peak_gemm_gmacs(threads: int, n: int = 2048, repeats: int = 7) -> float:
    """Best GMAC/s of ``repeats`` fp32 n x n x n matrix products (torch.mm) on ``threads`` threads."""
    import torch

    set_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    GEMM_GMACS.append(n**3 / best / 1e9)
    return GEMM_GMACS[-1]


def theoretical_gmacs(threads: int) -> tuple[float | None, str]:
    """FMA lanes x FMA units x clock x cores from /proc/cpuinfo, with the assumption it rests on."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, "no /proc/cpuinfo"
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    if not mhz or " fma" not in flags:
        return None, "no clock or no FMA flag in /proc/cpuinfo"
    lanes = 16 if " avx512f" in flags else 8
    units = 2  # two FMA pipes per core: Zen 4/5, Skylake-SP and later server cores
    ghz = max(mhz) / 1000
    return lanes * units * ghz * threads, (
        f"{lanes} fp32 lanes x {units} FMA units x {ghz:.2f} GHz (cpuinfo, not boost) x {threads} cores; "
        "assumes full-width FMA pipes (Zen 4 splits AVX-512 into two 256-bit halves: half this)"
    )


def prepare_all(model: Any, arch: str, size: tuple[int, int, int], threads: int, workdir: Path) -> tuple:
    """A Runner for every registered backend that runs cpu/fp32 here, and the reasons of those that don't."""
    from harness.onnx_export import export_onnx

    export = export_onnx(model, size, workdir / "model_fp32.onnx", threads=threads)
    runners, skipped = {}, {}
    for spec in backend_specs():
        backend = get_backend(spec.name)
        reason = backend.unsupported_reason("cpu", "fp32")
        if reason is None:
            request = PrepareRequest(
                model, size, "cpu", "fp32", threads, workdir / spec.name, arch,
                onnx_export=export if backend.consumes_onnx else None,
            )  # fmt: skip
            t0 = time.perf_counter()
            try:
                runners[spec.name] = backend.prepare(request)
                print(f"  {spec.name}: prepared in {time.perf_counter() - t0:.1f} s", flush=True)
                continue
            except BackendUnsupported as exc:
                reason = str(exc)
        skipped[spec.name] = reason
        print(f"  {spec.name}: unsupported: {reason}", flush=True)
    return runners, skipped


def interleave(contenders: list[Contender], rounds: int, turn_s: float, threads: int) -> None:
    for r in range(rounds):
        peak_gemm_gmacs(threads, repeats=1)  # the peak is sampled between rounds too
        order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
        for c in order:
            for _ in range(WARMUP_PER_TURN):
                c.runner.run(c.x)
                c.runner.sync()
            turn: list[float] = []
            start = time.perf_counter()
            while len(turn) < MIN_PER_TURN or time.perf_counter() - start < turn_s:
                t0 = time.perf_counter_ns()
                c.runner.run(c.x)
                c.runner.sync()
                turn.append((time.perf_counter_ns() - t0) / 1e6)
            c.samples_ms.extend(turn)
            c.round_medians.append(statistics.median(turn))


def bench_shape(runners: dict[str, Any], size: tuple[int, int, int], batch: int, args) -> list[Contender]:
    x = random_batch(batch, size)
    contenders = [Contender(name, r, r.to_input(x)) for name, r in runners.items()]  # compiles the shape
    for c in contenders:  # the first passes after a compile or a reshape are not representative
        for _ in range(3):
            c.runner.run(c.x)
            c.runner.sync()
    interleave(contenders, args.rounds, args.turn_s, args.threads_in_force)
    return contenders


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet18,mobilenetv3_large_100")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--turn-s", type=float, default=0.25, help="minimum timed seconds per runtime per round")
    p.add_argument("--threads", type=int, default=None, help="default: physical cores")
    args = p.parse_args(argv)
    from harness.flops import count_gmacs
    from harness.models import load_model

    threads = args.threads_in_force = set_threads(args.threads or physical_cores())
    size = (3, args.size, args.size)
    load0 = load_average()
    peak = peak_gemm_gmacs(threads)
    theory, assumption = theoretical_gmacs(threads)
    print(
        f"threads {threads}; load average {load0}; fp32 peak (measured, best 2048^3 torch.mm): {peak:.1f} GMAC/s"
    )
    if theory:
        print(f"theoretical fp32 peak {theory:.1f} GMAC/s: {assumption}")
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-runtimes-") as tmp:
        for arch in split_csv(args.models):
            model = load_model(arch).model  # random weights, zeroed norm scales reset (harness.models)
            gmacs = count_gmacs(model, size) or float("nan")
            print(f"{arch}: {gmacs:.3f} GMACs at batch 1, {size[1]}x{size[2]}", flush=True)
            runners, skipped = prepare_all(model, arch, size, threads, Path(tmp) / arch)
            notes += [f"{arch} {name}: unsupported: {why}" for name, why in skipped.items()]
            for bs in (int(b) for b in split_csv(args.batch_sizes)):
                contenders = bench_shape(runners, size, bs, args)
                ref = next((c for c in contenders if c.name == REFERENCE), None)
                for c in contenders:
                    p50 = statistics.median(c.samples_ms)
                    ratios = (
                        [r / m for r, m in zip(ref.round_medians, c.round_medians, strict=True)]
                        if ref
                        else []
                    )
                    achieved = bs * gmacs / (p50 / 1000)
                    rows.append(
                        (arch, bs, c.name, p50, statistics.median(c.samples_ms if ref is None else ref.samples_ms) / p50,
                         min(ratios, default=float("nan")), max(ratios, default=float("nan")), achieved,
                         len(c.samples_ms))
                    )  # fmt: skip
                    print(f"  bs={bs} {c.name}: p50 {p50:.2f} ms", flush=True)
            del runners
    peak_after = peak_gemm_gmacs(threads)
    print(
        f"\nload average before {load0}, after {load_average()} (shared machine: the ratios are the figure)"
    )
    peak = max(GEMM_GMACS)
    print(
        f"GEMM: start {GEMM_GMACS[0]:.1f}, end {peak_after:.1f}, best of {len(GEMM_GMACS)} = peak {peak:.1f} GMAC/s"
    )
    header = (
        "model",
        "bs",
        "runtime",
        "p50 ms",
        "x eager",
        "round min",
        "round max",
        "GMAC/s",
        "% GEMM",
        "% theory",
        "n",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for a, bs, name, p50, ratio, lo, hi, ach, n in rows:
        pct = 100 * ach / peak
        pct_theory = f"{100 * ach / theory:.0f}" if theory else "-"
        print(
            f"| {a} | {bs} | {name} | {p50:.2f} | {ratio:.2f} | {lo:.2f} | {hi:.2f} | {ach:.1f} | {pct:.0f} | {pct_theory} | {n} |"
        )
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
