"""``python -m harness compare BASELINE.json CURRENT.json``: a regression gate for CI.

Compares two result records of the same model, hardware profile and benchmark configuration and exits
non-zero when a threshold is crossed. Noise-aware: a latency regression counts only when it exceeds both
the relative threshold and the baseline's own measured spread (p95 - p50 of the baseline run), so a noisy
baseline cannot fail a build on jitter alone. A run whose record marks it noisy (``run["noise"]["noisy"]``,
see :mod:`harness.noise`) is shown with a noise marker; a p50 rise that would be a regression is reported as
"inconclusive: noisy" instead when either side is noisy, because the load or spread that made it noisy can
explain the rise. Failed runs and accuracy drops are regressions whatever the noise.

Exit status: 0 within thresholds; 1 a clear regression; 2 the records cannot be compared (one-line
reason); 3 no clear regression, but a latency rise beyond the thresholds in noisy runs (re-measure on a
quiet machine before trusting either way).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.noise import is_noisy

EXIT_OK, EXIT_REGRESSION, EXIT_REFUSED, EXIT_INCONCLUSIVE = 0, 1, 2, 3


class CompareRefused(Exception):
    """The two records are not comparable, or one is not a result record."""


@dataclass(frozen=True)
class RunDelta:
    run: str  # "backend/device/precision/bs=N"
    baseline_p50: float | None
    current_p50: float | None
    spread_ms: float | None
    change_pct: float | None
    throughput_change_pct: float | None
    regressed: bool
    note: str = ""
    noise: str = ""  # "", "baseline noisy", "current noisy" or "both noisy"
    inconclusive: bool = False  # would be a regression, but a side is noisy


@dataclass(frozen=True)
class AccuracyDelta:
    metric: str
    baseline: float | None
    current: float | None
    drop: float | None
    regressed: bool


@dataclass(frozen=True)
class Comparison:
    runs: list[RunDelta]
    accuracy: list[AccuracyDelta]

    @property
    def regressed(self) -> bool:
        return any(r.regressed for r in self.runs) or any(a.regressed for a in self.accuracy)

    @property
    def inconclusive(self) -> bool:
        return any(r.inconclusive for r in self.runs)


def load_record(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        rec = json.loads(p.read_text())
    except FileNotFoundError:
        raise CompareRefused(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareRefused(f"{p}: not a readable JSON result record ({exc})") from None
    if not isinstance(rec, dict) or rec.get("schema_version") != 1 or not isinstance(rec.get("runs"), list):
        raise CompareRefused(f"{p}: not a schema_version 1 result record (no 'runs' list)")
    if not isinstance(rec.get("model"), dict) or not rec["model"].get("id"):
        raise CompareRefused(f"{p}: result record has no model id")
    return rec


def run_id(run: dict[str, Any]) -> str:
    return f"{run.get('backend')}/{run.get('device')}/{run.get('precision')}/bs={run.get('batch_size')}"


def _hardware(rec: dict[str, Any]) -> str | None:
    return (rec.get("environment") or {}).get("hardware_profile")


def check_comparable(base: dict[str, Any], cur: dict[str, Any]) -> None:
    """Refuse records of different models, hardware profiles or configurations."""
    bm, cm = base["model"], cur["model"]
    if bm.get("id") != cm.get("id"):
        raise CompareRefused(f"different models: {bm.get('id')} vs {cm.get('id')}")
    if _hardware(base) != _hardware(cur):
        raise CompareRefused(f"different hardware profiles: {_hardware(base)} vs {_hardware(cur)}")
    if base.get("config") is not None and cur.get("config") is not None and base["config"] != cur["config"]:
        diff = sorted(
            k
            for k in set(base["config"]) | set(cur["config"])
            if base["config"].get(k) != cur["config"].get(k)
        )
        raise CompareRefused(f"different benchmark configurations (differ in: {', '.join(diff)})")
    bd, cd = base.get("dataset") or {}, cur.get("dataset") or {}
    if (bd.get("name"), bd.get("split"), bd.get("num_samples")) != (
        cd.get("name"),
        cd.get("split"),
        cd.get("num_samples"),
    ):
        raise CompareRefused(f"different datasets: {bd or None} vs {cd or None}")
    bruns, cruns = {run_id(r) for r in base["runs"]}, {run_id(r) for r in cur["runs"]}
    if bruns != cruns:
        only = sorted(bruns ^ cruns)
        raise CompareRefused(f"different run configurations (only in one record: {', '.join(only)})")


def _failed(run: dict[str, Any]) -> bool:
    """A run that did not measure (status failed/unsupported/timeout, or an error recorded)."""
    return run.get("status", "ok") != "ok" or bool(run.get("error"))


def noise_marker(base: dict[str, Any], cur: dict[str, Any]) -> str:
    """Which side of a run pair was measured noisily ("" when neither, or when unknown)."""
    b, c = is_noisy(base.get("noise")), is_noisy(cur.get("noise"))
    return {(True, True): "both noisy", (True, False): "baseline noisy", (False, True): "current noisy"}.get(
        (b, c), ""
    )


def _pct(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100.0


def compare_records(
    base: dict[str, Any], cur: dict[str, Any], max_latency_regression_pct: float, max_accuracy_drop: float
) -> Comparison:
    """Deltas per run and per accuracy metric; pure (no I/O)."""
    check_comparable(base, cur)
    current_runs = {run_id(r): r for r in cur["runs"]}
    deltas: list[RunDelta] = []
    accuracy: list[AccuracyDelta] = []
    for b in base["runs"]:
        rid = run_id(b)
        c = current_runs[rid]
        if _failed(b) or _failed(c):
            failed = _failed(c) and not _failed(b)
            deltas.append(
                RunDelta(
                    rid,
                    None,
                    None,
                    None,
                    None,
                    None,
                    bool(failed),
                    "run failed" if failed else "baseline failed",
                )
            )
            continue
        bl, cl = b.get("latency_ms") or {}, c.get("latency_ms") or {}
        bp50, cp50 = bl.get("p50"), cl.get("p50")
        spread = None if bp50 is None or bl.get("p95") is None else max(bl["p95"] - bp50, 0.0)
        change = _pct(cp50, bp50)
        noise = noise_marker(b, c)
        over = change is not None and change > max_latency_regression_pct
        rose = over and cp50 is not None and bp50 is not None and (cp50 - bp50) > (spread or 0.0)
        note = "within baseline spread" if over and not rose else ""
        if rose and noise:
            note = f"inconclusive: {noise}"
        deltas.append(
            RunDelta(
                rid,
                bp50,
                cp50,
                spread,
                change,
                _pct(c.get("throughput_ips"), b.get("throughput_ips")),
                regressed=rose and not noise,
                note=note,
                noise=noise,
                inconclusive=rose and bool(noise),
            )
        )
        if b.get("accuracy_top1") is not None or c.get("accuracy_top1") is not None:
            accuracy.append(
                _accuracy_delta(
                    f"top1 {rid}", b.get("accuracy_top1"), c.get("accuracy_top1"), max_accuracy_drop
                )
            )
    for metric in ("top1", "top5"):
        bv, cv = (base.get("accuracy") or {}).get(metric), (cur.get("accuracy") or {}).get(metric)
        if bv is not None or cv is not None:
            accuracy.append(_accuracy_delta(metric, bv, cv, max_accuracy_drop))
    return Comparison(deltas, accuracy)


def _accuracy_delta(metric: str, bv: float | None, cv: float | None, max_drop: float) -> AccuracyDelta:
    if bv is None or cv is None:
        return AccuracyDelta(metric, bv, cv, None, bv is not None and cv is None)
    drop = bv - cv
    return AccuracyDelta(metric, bv, cv, drop, drop > max_drop)


def _fmt(v: float | None, spec: str = ".3f", suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def render(comparison: Comparison) -> str:
    lines = [
        "| run | baseline p50 ms | current p50 ms | change | baseline spread ms | throughput change | noise "
        "| verdict |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for d in comparison.runs:
        if d.regressed:
            verdict = "REGRESSION"
        elif d.inconclusive:
            verdict = "INCONCLUSIVE: noisy"
        else:
            verdict = "ok" + (f" ({d.note})" if d.note else "")
        lines.append(
            f"| {d.run} | {_fmt(d.baseline_p50)} | {_fmt(d.current_p50)} | {_fmt(d.change_pct, '+.1f', '%')} | "
            f"{_fmt(d.spread_ms)} | {_fmt(d.throughput_change_pct, '+.1f', '%')} | "
            f"{d.noise or '-'} | {verdict} |"
        )
    if comparison.accuracy:
        lines += [
            "",
            "| accuracy | baseline | current | drop (points) | verdict |",
            "|---|---:|---:|---:|---|",
        ]
        for a in comparison.accuracy:
            lines.append(
                f"| {a.metric} | {_fmt(a.baseline, '.2f')} | {_fmt(a.current, '.2f')} | {_fmt(a.drop, '+.2f')} | "
                f"{'REGRESSION' if a.regressed else 'ok'} |"
            )
    return "\n".join(lines)


def parse_percent(text: str) -> float:
    """'10%' or '10' -> 10.0 (percent)."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10%, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a regression threshold cannot be negative")
    return value


def parse_points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected accuracy points such as 0.5, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("an accuracy drop threshold cannot be negative")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="result record JSON of the baseline")
    parser.add_argument("current", help="result record JSON to check")
    parser.add_argument(
        "--max-latency-regression",
        type=parse_percent,
        default=10.0,
        metavar="PCT",
        help="largest allowed p50 latency increase, e.g. 10%% (default 10%%)",
    )
    parser.add_argument(
        "--max-accuracy-drop",
        type=parse_points,
        default=0.5,
        metavar="POINTS",
        help="largest allowed top-1/top-5 drop in percentage points (default 0.5)",
    )
    args = parser.parse_args(argv)
    try:
        comparison = compare_records(
            load_record(args.baseline),
            load_record(args.current),
            args.max_latency_regression,
            args.max_accuracy_drop,
        )
    except CompareRefused as exc:
        print(f"error: cannot compare: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(render(comparison))
    if comparison.regressed:
        print("\nFAIL: regression beyond thresholds")
        return EXIT_REGRESSION
    if comparison.inconclusive:
        print(
            "\nINCONCLUSIVE: latency rose beyond the thresholds only in runs measured noisily; "
            "re-measure on a quiet machine"
        )
        return EXIT_INCONCLUSIVE
    print("\nOK: within thresholds")
    return EXIT_OK
