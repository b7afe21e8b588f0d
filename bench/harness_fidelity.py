"""Does the harness measure what a plain timed loop measures? Prints ratios; never part of the test pass.

For resnet18 and resnet50 (random weights, CPU, batch 1 and 8) it runs the real harness (isolated child,
warm-up, per-iteration timing) and, in a fresh child too, a plain loop of the same model with the same
threads and the same input (``with torch.inference_mode(): model(x)`` N times, one clock around all of
it). Target: harness/plain throughput within 0.93-1.07. It also prints ONNX Runtime p50 latency over
PyTorch's from the same harness record. Each pair is measured ``--repeats`` times, interleaved, and the
median ratio is reported (the machine may be shared).

    python bench/harness_fidelity.py [--archs resnet18,resnet50] [--min-duration 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config import BenchmarkConfig, split_csv  # noqa: E402
from harness.isolation import run_isolated  # noqa: E402
from harness.runner import Options, evaluate_model  # noqa: E402
from harness.timing import physical_cores, random_batch  # noqa: E402


def plain_loop(job: dict) -> dict:
    """The reference: no harness code in the measured path beyond building the same input."""
    import timm
    import torch

    torch.set_num_threads(job["threads"])
    model = timm.create_model(job["arch"], pretrained=False).eval()
    cfg = timm.data.resolve_model_data_config(model)
    x = torch.from_numpy(random_batch(job["batch_size"], tuple(cfg["input_size"])))
    with torch.inference_mode():
        t_end = time.perf_counter() + job["warmup_s"]
        while time.perf_counter() < t_end:
            model(x)
        n, t0 = 0, time.perf_counter()
        while n < job["min_iterations"] or time.perf_counter() - t0 < job["min_duration_s"]:
            model(x)
            n += 1
        elapsed = time.perf_counter() - t0
    return {"iterations": n, "throughput_ips": job["batch_size"] * n / elapsed, "mean_ms": 1000 * elapsed / n}


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
    policy = TimingPolicy(min_duration_s=job["min_duration_s"], min_iterations=job["min_iterations"])
    ratios = []
    for _ in range(job["rounds"]):
        m = measure(runner, batch, policy)
        with torch.inference_mode():
            for _ in range(m.warmup):
                model(x)
            t0 = time.perf_counter()
            for _ in range(m.iterations):
                model(x)
            plain = job["batch_size"] * m.iterations / (time.perf_counter() - t0)
        ratios.append(m.throughput_ips / plain)
    return {"ratios": ratios}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="resnet18,resnet50")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--min-duration", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ab-rounds", type=int, default=5, help="interleaved in-process A/B rounds (0: skip)")
    ap.add_argument("--ab-min-iterations", type=int, default=20)
    ap.add_argument("--skip-end-to-end", action="store_true")
    args = ap.parse_args()
    threads = args.threads or physical_cores()
    batch_sizes = tuple(int(b) for b in split_csv(args.batch_sizes))
    print(f"threads={threads} min_duration={args.min_duration}s repeats={args.repeats} device={args.device}")
    rows = []
    if args.ab_rounds:
        print("interleaved A/B in one process (harness measure() vs plain loop, same iterations):")
        for arch in split_csv(args.archs):
            for bs in batch_sizes:
                job = {"arch": arch, "batch_size": bs, "threads": threads, "rounds": args.ab_rounds}
                job |= {"min_duration_s": args.min_duration, "min_iterations": args.ab_min_iterations}
                out = run_isolated("bench.harness_fidelity:interleaved_ab", job, 1800)
                if not out.ok:
                    raise SystemExit(f"A/B failed: {out.error}")
                r = out.value["ratios"]
                each = ", ".join(f"{v:.3f}" for v in r)
                print(
                    f"  {arch:<10} bs={bs}: harness/plain median {statistics.median(r):.3f} [{each}]",
                    flush=True,
                )
    if args.skip_end_to_end:
        return 0
    print("end to end (harness CLI path, isolated child) vs plain loop in a fresh child:")
    for arch in split_csv(args.archs):
        harness_tp = {bs: [] for bs in batch_sizes}
        plain_tp = {bs: [] for bs in batch_sizes}
        ort_ratio = {bs: [] for bs in batch_sizes}
        for rep in range(args.repeats):
            cfg = BenchmarkConfig(
                backends=("pytorch", "onnxruntime"),
                device=args.device,
                batch_sizes=batch_sizes,
                min_duration_s=args.min_duration,
                max_samples=None,
            )
            record = evaluate_model(arch, cfg, Options(threads=threads, log=lambda _m: None))
            runs = {(r.backend, r.batch_size): r for r in record.runs}
            for bs in batch_sizes:
                pt, ort = runs[("pytorch", bs)], runs.get(("onnxruntime", bs))
                if pt.status != "ok":
                    raise SystemExit(f"harness run failed: {pt.error}")
                harness_tp[bs].append(pt.throughput_ips)
                if ort is not None and ort.status == "ok":
                    ort_ratio[bs].append(ort.latency_ms["p50"] / pt.latency_ms["p50"])
                job = {
                    "arch": arch,
                    "batch_size": bs,
                    "threads": threads,
                    "warmup_s": 0.5,
                    "min_iterations": pt.iterations,
                    "min_duration_s": pt.duration_s,
                }
                out = run_isolated("bench.harness_fidelity:plain_loop", job, 1800)
                if not out.ok:
                    raise SystemExit(f"plain loop failed: {out.error}")
                plain_tp[bs].append(out.value["throughput_ips"])
                print(
                    f"  {arch} bs={bs} rep={rep}: harness {pt.throughput_ips:.2f} img/s "
                    f"(p50 {pt.latency_ms['p50']:.2f} ms, {pt.iterations} it), "
                    f"plain {out.value['throughput_ips']:.2f} img/s ({out.value['iterations']} it)",
                    flush=True,
                )
        for bs in batch_sizes:
            ratios = [h / p for h, p in zip(harness_tp[bs], plain_tp[bs], strict=True)]
            rows.append(
                (
                    arch,
                    bs,
                    statistics.median(ratios),
                    ratios,
                    statistics.median(ort_ratio[bs] or [float("nan")]),
                )
            )
    print("\narch       bs  harness/plain (median; each repeat)        ort_p50/pytorch_p50")
    for arch, bs, med, ratios, ort in rows:
        flag = "ok" if 0.93 <= med <= 1.07 else "OUTSIDE 0.93-1.07"
        each = ", ".join(f"{r:.3f}" for r in ratios)
        print(f"{arch:<10} {bs:>2}  {med:.3f} [{each}] {flag:<18} {ort:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
