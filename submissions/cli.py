"""``python -m submissions MODEL [--by NAME] [...]``: validate a model and queue it for review.

Reads the stores from the settings (``LEADERBOARD_DATA_DIR``, or ``RESULTS_REPO``/``QUEUE_REPO`` for the
Hub). A refusal or any other error is one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

import settings
from eval_queue.cli import EXIT_ERROR, OneLineParser
from harness.tasks import TASK_NAMES


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m submissions", description="Submit a model to the vision model leaderboard."
    )
    p.add_argument(
        "model", help="timm arch, torchvision:ARCH, org/name, hf-hub:org/name[@rev] or local-dir:/abs/path"
    )
    p.add_argument(
        "--task",
        choices=TASK_NAMES,
        help="what the model must do (default: the model's own task: torchvision builder family, "
        "transformers architecture class; timm is classification)",
    )
    p.add_argument("--revision", help="branch, tag or commit sha (Hub models)")
    p.add_argument("--by", help="submitter name (default: $USER)")
    p.add_argument("--dataset", help="one of the datasets this board offers (LEADERBOARD_DATASETS)")
    p.add_argument("--max-samples", type=int)
    p.add_argument("--backends", help="comma list, e.g. pytorch,onnxruntime")
    p.add_argument("--device", help="cpu | cuda (what this board's workers offer)")
    p.add_argument("--batch-sizes", help="comma list, e.g. 1,8")
    p.add_argument("--precisions", help="comma list, e.g. fp32,int8")
    p.add_argument("--min-duration", type=float, help="seconds per shape")
    p.add_argument("--robustness", action="store_true", default=None)
    p.add_argument("--input-sizes", help="input-size scaling resolutions, comma list, e.g. 160,224,288")
    p.add_argument("--flavors", help="Hugging Face Jobs flavors, comma list (`python -m eval_queue flavors`)")
    return p


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def config_from_args(args: argparse.Namespace) -> dict:
    """The partial benchmark config the flags give (None = the default); lists stay comma strings,
    which the strict config reader splits with the one shared parser."""
    return {
        "dataset": args.dataset,
        "max_samples": args.max_samples,
        "backends": args.backends,
        "device": args.device,
        "batch_sizes": args.batch_sizes,
        "precisions": args.precisions,
        "min_duration_s": args.min_duration,
        "robustness": args.robustness,
        "input_sizes": args.input_sizes,
    }


def main(argv: list[str] | None = None) -> int:
    try:
        logging.basicConfig(
            level=settings.get("LEADERBOARD_LOG_LEVEL").upper(), format="%(name)s %(levelname)s %(message)s"
        )
        args = build_parser().parse_args(argv)
        from store import get_stores
        from submissions.submit import submit

        e = submit(get_stores(), args.model, revision=args.revision, config=config_from_args(args),
                   submitted_by=args.by or _user(), flavors=args.flavors, task=args.task)  # fmt: skip
        on = f" on {', '.join(j.flavor for j in e.jobs)}" if e.jobs else ""
        task = e.config.get("task", "classification")
        print(f"queued {e.id} ({e.model} @ {e.revision or '-'}, {task}){on} status {e.status}")
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line (LEADERBOARD_LOG_LEVEL=DEBUG for more)
        logging.getLogger(__name__).debug("submit failed", exc_info=True)
        print(f"error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return EXIT_ERROR
