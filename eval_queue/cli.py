"""``python -m eval_queue``: submit, list, show, approve, reject, work, recover.

Reads the stores from the environment (``$LEADERBOARD_DATA_DIR``, or ``RESULTS_REPO``/``QUEUE_REPO``/
``HF_TOKEN`` for the Hub). Errors are one line on stderr with exit status 2. Maintainer commands need the
admin token (``LEADERBOARD_TOKEN`` or ``--token``) equal to the board's ``LEADERBOARD_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys

EXIT_ERROR = 2


class CliError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise CliError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m eval_queue", description="Evaluation queue of the vision model leaderboard.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("submit", help="validate a model and queue it for review")
    s.add_argument("model", help="timm arch, org/name, hf-hub:org/name[@rev] or local-dir:/abs/path")
    s.add_argument("--revision", help="branch, tag or commit sha (Hub models)")
    s.add_argument("--by", help="submitter name (default: $USER)")
    s.add_argument("--dataset", help="digits | image folder | .parquet | saved dataset | Hub id")
    s.add_argument("--max-samples", type=int)
    s.add_argument("--backends", help="comma list of pytorch,onnxruntime")
    s.add_argument("--device", help="cpu | cuda")
    s.add_argument("--batch-sizes", help="comma list, e.g. 1,8")
    s.add_argument("--precisions", help="comma list of fp32,fp16,int8")
    s.add_argument("--min-duration", type=float, help="seconds per shape")
    s.add_argument("--robustness", action="store_true", default=None)

    ls = sub.add_parser("list", help="list queue entries")
    ls.add_argument("--status", help="only this status (PENDING_REVIEW, APPROVED, RUNNING, ...)")
    ls.add_argument("--json", action="store_true", help="print the entries as JSON")

    sh = sub.add_parser("show", help="print one entry as JSON")
    sh.add_argument("id")

    for name in ("approve", "reject"):
        a = sub.add_parser(name, help=f"{name} a pending submission (maintainers)")
        a.add_argument("id")
        if name == "reject":
            a.add_argument("--reason", required=True, help="shown to the submitter")
        a.add_argument("--by", help="maintainer name recorded in the event (default: $USER)")
        a.add_argument("--token", help="admin token (default: $LEADERBOARD_TOKEN)")

    w = sub.add_parser("work", help="claim approved jobs and evaluate them")
    w.add_argument("--once", action="store_true", help="stop when no approved job is left")
    w.add_argument("--max-jobs", type=int, help="stop after this many jobs")
    w.add_argument("--poll", type=float, default=10.0, help="seconds between polls of an empty queue")
    w.add_argument("--timeout", type=float, help="time limit per job in seconds")
    w.add_argument("--memory-mb", type=float, help="address-space limit per CPU job (0 = none)")
    w.add_argument("--lease", type=float, help="lease duration in seconds")
    w.add_argument("--max-attempts", type=int, help="lost leases before a job is FAILED")
    w.add_argument("--devices", help="only claim jobs for these devices, e.g. cuda (default: detected)")

    sub.add_parser("recover", help="re-queue RUNNING jobs whose worker stopped renewing its lease")
    return p


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _csv(text: str | None, cast=str):
    if text is None:
        return None
    try:
        return [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise CliError(f"expected a comma list of numbers, got {text!r}") from None


def cmd_submit(args, stores) -> int:
    from submissions import submit

    config = {
        "dataset": args.dataset,
        "max_samples": args.max_samples,
        "backends": _csv(args.backends),
        "device": args.device,
        "batch_sizes": _csv(args.batch_sizes, int),
        "precisions": _csv(args.precisions),
        "min_duration_s": args.min_duration,
        "robustness": args.robustness,
    }
    entry = submit(stores, args.model, revision=args.revision, config=config, submitted_by=args.by or _user())
    print(f"queued {entry['id']} ({entry['model']} @ {entry['revision'] or '-'}) status {entry['status']}")
    return 0


def cmd_list(args, stores) -> int:
    from eval_queue.entries import list_entries

    entries = list_entries(stores.queue, args.status.upper() if args.status else None)
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        err = (e.get("error") or {}).get("kind") or ""
        rev = (e.get("revision") or "-")[:12]
        print(
            f"{e['id']}  {e.get('status', '?'):<14} {e.get('model')} @ {rev}  by {e.get('submitted_by')}  {err}"
        )
    for prob in stores.queue.problems.values():
        print(f"warning: skipped {prob.path}: {prob.reason}", file=sys.stderr)
    return 0


def cmd_show(args, stores) -> int:
    from eval_queue.entries import get_entry

    print(json.dumps(get_entry(stores.queue, args.id), indent=2))
    return 0


def _authorize(args) -> str:
    from eval_queue.auth import require_maintainer

    token = args.token if args.token is not None else os.environ.get("LEADERBOARD_TOKEN", "")
    require_maintainer(token=token)
    return args.by or _user()


def cmd_approve(args, stores) -> int:
    from eval_queue.entries import approve

    by = _authorize(args)
    e = approve(stores.queue, args.id, by=by)
    print(f"{e['id']} {e['status']} by {by}")
    return 0


def cmd_reject(args, stores) -> int:
    from eval_queue.entries import reject

    by = _authorize(args)
    e = reject(stores.queue, args.id, by=by, reason=args.reason)
    print(f"{e['id']} {e['status']} by {by}: {args.reason}")
    return 0


def cmd_work(args, stores) -> int:
    from eval_queue.worker import Worker, WorkerSettings

    if args.max_jobs is not None and args.max_jobs < 1:
        raise CliError("--max-jobs must be at least 1")
    settings = WorkerSettings.from_env(
        timeout_s=args.timeout, lease_s=args.lease, max_attempts=args.max_attempts
    )
    if args.devices:
        settings.devices = tuple(d.strip() for d in args.devices.split(",") if d.strip())
    if args.memory_mb is not None:
        settings.memory_mb = args.memory_mb or None
    worker = Worker(stores, settings)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop_event.set())
    print(f"worker {settings.worker_id} started", file=sys.stderr, flush=True)
    outcomes = worker.work(once=args.once, max_jobs=args.max_jobs, poll_s=args.poll)
    for o in outcomes:
        detail = o.result_key or f"{o.error_kind}: {o.message}"
        print(f"{o.entry_id} {o.status} {detail}", flush=True)
    return 0


def cmd_recover(args, stores) -> int:
    from eval_queue.entries import recover_expired
    from eval_queue.worker import WorkerSettings

    for e in recover_expired(stores.queue, WorkerSettings.from_env().max_attempts):
        print(f"{e['id']} {e['status']} attempts {e.get('attempts')}")
    return 0


COMMANDS = {
    "submit": cmd_submit,
    "list": cmd_list,
    "show": cmd_show,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "work": cmd_work,
    "recover": cmd_recover,
}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("LEADERBOARD_LOG_LEVEL", "WARNING"), format="%(name)s %(levelname)s %(message)s"
    )
    try:
        args = build_parser().parse_args(argv)
        from store import get_stores

        return COMMANDS[args.command](args, get_stores())
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line (LEADERBOARD_LOG_LEVEL=DEBUG for more)
        logging.getLogger(__name__).debug("command failed", exc_info=True)
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_ERROR
