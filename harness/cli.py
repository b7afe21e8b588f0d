"""``python -m harness MODEL ...``: evaluate one model and write its result record as JSON.

Progress lines go to stderr only with --verbose, so a failure prints exactly one line.
Exit status: 0 record written; 1 record written but no measurement succeeded; 2 bad input or an error
(one line ``error: ...`` on stderr, no traceback unless --debug). With ``--error-file PATH`` every failure
exit also writes ``{"kind", "message", "traceback"}`` as JSON there (kinds: harness.errors.FAILURE_KINDS),
so a supervisor (the queue worker) never has to guess from stderr. ``python -m harness compare A.json
B.json`` is handed to ``harness.compare:main``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

from harness.backends import backend_specs
from harness.config import DEFAULT_TASK, DEVICES, PRECISIONS, BenchmarkConfig, ConfigError, split_csv
from harness.errors import EXIT_BAD_INPUT, BadConfig, HarnessError, as_harness_error
from harness.tasks import TASK_NAMES

EXIT_OK, EXIT_NO_MEASUREMENT = 0, 1


class _ArgumentParser(argparse.ArgumentParser):
    def error(
        self, message: str
    ) -> NoReturn:  # one line, exit 2 (argparse prints usage + message by default)
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    d = BenchmarkConfig()
    p = _ArgumentParser(
        prog="python -m harness",
        description="Evaluate one vision model: accuracy, latency/throughput, memory, size, params, GMACs.",
        epilog="Also: python -m harness compare BASELINE.json CURRENT.json",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="timm architecture, torchvision:ARCH, hf-hub:org/name[@rev] or local-dir:/path "
        "(timm or transformers checkpoint)",
    )
    p.add_argument(
        "--task",
        choices=TASK_NAMES,
        help="what the model must do (default: the model's own task, e.g. detection for "
        "torchvision:ssdlite320_mobilenet_v3_large); a model of another task is refused",
    )
    data = p.add_mutually_exclusive_group()
    data.add_argument(
        "--dataset",
        metavar="PATH_OR_ID",
        help="digits | image folder | .parquet | saved dataset | Hub id; detection/segmentation/pose: "
        "synthetic-detection | synthetic-segmentation | synthetic-pose | COCO ANN.json[::IMAGES] | ...",
    )
    data.add_argument("--no-dataset", action="store_true", help="efficiency only (the default)")
    p.add_argument(
        "--max-samples", type=_positive_int, metavar="N", help="evaluate a fixed-seed subset of N images"
    )
    specs = backend_specs()
    p.add_argument(
        "--backends",
        default=",".join(d.backends),
        help="comma list of " + "; ".join(f"{s.name} ({s.summary})" for s in specs),
    )
    p.add_argument("--device", default=d.device, help=" | ".join(DEVICES))
    p.add_argument("--batch-sizes", default=",".join(map(str, d.batch_sizes)), help="comma list, e.g. 1,8")
    p.add_argument(
        "--precisions", default=",".join(d.precisions), help="comma list of " + ",".join(PRECISIONS)
    )
    p.add_argument(
        "--min-duration", type=float, default=d.min_duration_s, metavar="S", help="seconds per shape"
    )
    p.add_argument("--robustness", action="store_true", help="top-1 under seeded corruptions x severities")
    p.add_argument(
        "--input-sizes",
        default="",
        metavar="PX,...",
        help="input-size scaling: batch-1 latency at each square resolution, e.g. 160,224,288,384 (none by "
        "default)",
    )
    p.add_argument(
        "--threads", type=_positive_int, metavar="N", help="intra-op threads (default: physical cores)"
    )
    p.add_argument("--timeout", type=float, default=1800.0, metavar="S", help="per isolated measurement")
    p.add_argument(
        "--timing",
        choices=("adaptive", "fixed"),
        default="adaptive",
        help="adaptive: stop each shape once the p50's 95%% interval is within ±1%% (the default); "
        "fixed: the earlier policy, at least 100 iterations and the min duration (for comparisons)",
    )
    p.add_argument("--output", metavar="FILE", help="write the record here (atomically) instead of stdout")
    p.add_argument(
        "--error-file", metavar="FILE", help='on failure write {"kind","message","traceback"} JSON here'
    )
    p.add_argument("--verbose", "-v", action="store_true", help="progress lines on stderr")
    p.add_argument("--quiet", action="store_true", help="no progress lines (the default)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _timing_overrides(policy: str, min_duration_s: float) -> dict[str, object] | None:
    """TimingPolicy overrides for ``--timing`` (None: the adaptive default)."""
    if policy != "fixed":
        return None
    from dataclasses import asdict

    from harness.timing import TimingPolicy

    fixed = asdict(TimingPolicy.fixed(min_duration_s))
    return {k: fixed[k] for k in ("min_iterations", "max_duration_s", "adaptive")}


def _silent(_message: str) -> None:
    pass


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in split_csv(text))
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated whole numbers, got {text[:60]!r}") from None


def config_from_args(args: argparse.Namespace) -> BenchmarkConfig:
    """The BenchmarkConfig these flags describe (inverse of ``BenchmarkConfig.to_cli_args``)."""
    return BenchmarkConfig(
        dataset=None if args.no_dataset else args.dataset,
        max_samples=args.max_samples,
        backends=split_csv(args.backends),
        device=args.device,
        batch_sizes=_int_list(args.batch_sizes, "--batch-sizes"),
        precisions=split_csv(args.precisions),
        min_duration_s=args.min_duration,
        robustness=args.robustness,
        input_sizes=_int_list(args.input_sizes, "--input-sizes"),
        task=args.task or DEFAULT_TASK,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        return _compare(argv[1:])
    debug = "--debug" in argv
    error_file = _error_file_arg(argv)  # known even when the other flags fail to parse
    try:
        args = build_parser().parse_args(argv)
        config = config_from_args(args)
        if args.timeout <= 0:
            raise ConfigError(f"--timeout must be positive, got {args.timeout:g}")
        from harness.record import write_json_atomic
        from harness.runner import Options, evaluate_model

        opts = Options(
            threads=args.threads,
            timeout_s=args.timeout,
            log=None if args.verbose and not args.quiet else _silent,
            timing=_timing_overrides(args.timing, args.min_duration),
            task_from_model=args.task is None,
        )
        record = evaluate_model(args.model, config, opts)
        text = record.to_json()
        if args.output:
            write_json_atomic(args.output, text)
        else:
            sys.stdout.write(text + "\n")
        if not any(r.status == "ok" for r in record.runs) and record.runs:
            first = next((r.error for r in record.runs if r.error), None) or "no run reported a reason"
            message = f"no measurement succeeded; first reason: {first}"
            print("error: no measurement succeeded; see runs[].error in the record", file=sys.stderr)
            _write_error_file(error_file, "no_measurement", message, None)
            return EXIT_NO_MEASUREMENT
        return EXIT_OK
    except ConfigError as exc:
        return _fail(BadConfig(str(exc)), debug, error_file, None)
    except HarnessError as exc:
        return _fail(exc, debug, error_file, traceback.format_exc() if debug else None)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        _write_error_file(error_file, "crashed", "interrupted", None)
        return 130
    except Exception as exc:  # noqa: BLE001 - unexpected: still one line (traceback with --debug)
        return _fail(as_harness_error(exc, "evaluation"), debug, error_file, traceback.format_exc())


def _fail(exc: HarnessError, debug: bool, error_file: str | None, tb: str | None) -> int:
    if debug:
        traceback.print_exc()
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"error: {message}", file=sys.stderr)
    _write_error_file(error_file, exc.kind, message, tb)
    return EXIT_BAD_INPUT


def _error_file_arg(argv: list[str]) -> str | None:
    """The --error-file value, read before argparse so that a parse failure is reported there too."""
    for i, arg in enumerate(argv):
        if arg == "--error-file" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--error-file="):
            return arg.split("=", 1)[1]
    return None


MAX_ERROR_MESSAGE, MAX_ERROR_TRACEBACK = 2000, 20_000


def _write_error_file(path: str | None, kind: str, message: str, tb: str | None) -> None:
    """Write the failure as JSON, atomically; a path we cannot write is reported, never fatal."""
    if not path:
        return
    body = {
        "kind": kind,
        "message": " ".join(message.split())[:MAX_ERROR_MESSAGE],
        "traceback": tb[-MAX_ERROR_TRACEBACK:] if tb else None,
    }
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".error-", dir=target.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        print(f"warning: could not write --error-file {path[:200]!r}: {exc.strerror or exc}", file=sys.stderr)


def _compare(argv: list[str]) -> int:
    from harness import compare

    return int(compare.main(argv) or 0)
