"""``python -m eval_queue``: list, show, approve, reject, cancel, work, recover, dispatch, flavors.

Submitting lives in ``python -m submissions`` (submissions depend on the queue, never the reverse).
Reads the stores from the settings (``LEADERBOARD_DATA_DIR``, or ``RESULTS_REPO``/``QUEUE_REPO``/
``HF_TOKEN`` for the Hub). Errors are one line on stderr with exit status 2. Maintainer commands need the
admin token (``LEADERBOARD_TOKEN`` or ``--token``) equal to the board's ``LEADERBOARD_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
from typing import Any, NoReturn

import settings

EXIT_ERROR = 2
SUBMIT_MOVED = "submitting moved: use `python -m submissions MODEL [--by NAME] [...]`"


class CliError(Exception):
    """A command-line mistake; ``main`` prints it as one line and exits with EXIT_ERROR."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that raises :class:`CliError` instead of printing usage (also used by ``submissions``)."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m eval_queue", description="Evaluation queue of the vision model leaderboard."
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    ls = sub.add_parser("list", help="list queue entries (and the files that were skipped, with why)")
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
    w.add_argument(
        "--job", metavar="ENTRY", help="run exactly one job of this entry (inside a Hugging Face Job)"
    )
    w.add_argument("--flavor", help="with --job: the job's flavor")
    w.add_argument("--attempt", type=int, help="with --job: the dispatch attempt this Job was started for")

    c = sub.add_parser("cancel", help="stop an approved or running entry, cancelling its Jobs (maintainers)")
    c.add_argument("id")
    c.add_argument("--reason", required=True, help="shown to the submitter")
    c.add_argument("--by", help="maintainer name recorded in the event (default: $USER)")
    c.add_argument("--token", help="admin token (default: $LEADERBOARD_TOKEN)")

    sub.add_parser(
        "dispatch", help="one pass of the Hugging Face Jobs dispatcher (LEADERBOARD_DISPATCH=jobs)"
    )
    sub.add_parser("flavors", help="the hardware flavors this board offers, with their cost per hour")

    sub.add_parser("recover", help="re-queue RUNNING jobs whose worker stopped renewing its lease")
    return p


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _problems(stores: Any) -> None:
    for prob in list(stores.queue.problems.values()):  # a copy: a store may be shared with threads
        print(f"warning: skipped {prob.path}: {prob.reason}", file=sys.stderr)


def cmd_list(args, stores) -> int:
    from eval_queue.entries import list_entries

    entries = list_entries(stores.queue, args.status.upper() if args.status else None)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
    else:
        for e in entries:
            err = e.error.kind if e.error else ""
            rev = (e.revision or "-")[:12]
            jobs = "  jobs: " + ", ".join(f"{j.flavor} {j.status}" for j in e.jobs) if e.jobs else ""
            print(f"{e.id}  {e.status:<14} {e.model} @ {rev}  by {e.submitted_by}  {err}{jobs}".rstrip())
    _problems(stores)
    return 0


def cmd_show(args, stores) -> int:
    from eval_queue.entries import get_entry

    print(json.dumps(get_entry(stores.queue, args.id).to_dict(), indent=2))
    return 0


def _authorize(args) -> str:
    from eval_queue.auth import require_maintainer

    token = args.token if args.token is not None else settings.get("LEADERBOARD_TOKEN") or ""
    require_maintainer(token=token)
    return args.by or _user()


def cmd_approve(args, stores) -> int:
    from eval_queue.entries import approve

    by = _authorize(args)
    e = approve(stores.queue, args.id, by=by)
    print(f"{e.id} {e.status} by {by}")
    return 0


def cmd_reject(args, stores) -> int:
    from eval_queue.entries import reject

    by = _authorize(args)
    e = reject(stores.queue, args.id, by=by, reason=args.reason)
    print(f"{e.id} {e.status} by {by}: {args.reason}")
    return 0


def cmd_work(args, stores) -> int:
    from eval_queue.worker import Worker, WorkerSettings
    from harness.config import split_csv

    if args.max_jobs is not None and args.max_jobs < 1:
        raise CliError("--max-jobs must be at least 1")
    ws = WorkerSettings.from_env(timeout_s=args.timeout, lease_s=args.lease, max_attempts=args.max_attempts)
    if args.devices:
        ws.devices = split_csv(args.devices)
    if args.memory_mb is not None:
        ws.memory_mb = args.memory_mb or None
    worker = Worker(stores, ws)
    if args.job is not None or args.flavor is not None or args.attempt is not None:
        if args.job is None or args.flavor is None or args.attempt is None:
            raise CliError("--job, --flavor and --attempt go together")
        print(f"evaluating job {args.flavor} of {args.job} (attempt {args.attempt})", flush=True)
        o = worker.run_job(args.job, args.flavor, args.attempt)
        print(
            f"{o.entry_id} {args.flavor} {o.status} {o.result_key or o.error_kind or ''} {o.message}".rstrip()
        )
        return 0 if o.status in ("FINISHED", "STALE") else 1
    signal.signal(signal.SIGTERM, lambda *_: worker.stop_event.set())
    print(f"worker {ws.worker_id} started", file=sys.stderr, flush=True)
    outcomes = worker.work(once=args.once, max_jobs=args.max_jobs, poll_s=args.poll)
    for o in outcomes:
        detail = o.result_key or f"{o.error_kind}: {o.message}"
        print(f"{o.entry_id} {o.status} {detail}", flush=True)
    _problems(stores)
    return 0


def cmd_cancel(args, stores) -> int:
    from eval_queue.entries import cancel

    by = _authorize(args)
    e = cancel(stores.queue, args.id, by=by, reason=args.reason)
    print(f"{e.id} {e.status} by {by}: {args.reason} (its running Jobs are cancelled by the dispatcher)")
    return 0


def cmd_dispatch(args, stores) -> int:
    from eval_queue.dispatch import Dispatcher

    r = Dispatcher(stores).run_pass()
    for what, names in (("started", r.started), ("retried", r.retried), ("failed", r.failed)):
        for name in names:
            print(f"{name} {what}")
    for name in r.canceled:
        print(f"{name} canceled")
    for name, why in r.waiting.items():
        print(f"{name} {why}")
    _problems(stores)
    return 0


def cmd_flavors(args, stores) -> int:
    from eval_queue.flavors import catalogue

    for f in catalogue().flavors(refresh=True):
        cost = "cost unknown" if f.usd_per_hour is None else f"${f.usd_per_hour:.3f}/h"
        print(f"{f.name:<16} {cost:<14} {f.accelerator or 'CPU':<10} {f.label}")
    return 0


def cmd_recover(args, stores) -> int:
    from eval_queue.entries import recover_expired
    from eval_queue.worker import WorkerSettings

    for e in recover_expired(stores.queue, WorkerSettings.from_env().max_attempts):
        print(f"{e.id} {e.status} attempts {e.attempts}")
    _problems(stores)
    return 0


COMMANDS = {
    "list": cmd_list,
    "show": cmd_show,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "work": cmd_work,
    "recover": cmd_recover,
    "cancel": cmd_cancel,
    "dispatch": cmd_dispatch,
    "flavors": cmd_flavors,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["submit"]:
        print(f"error: {SUBMIT_MOVED}", file=sys.stderr)
        return EXIT_ERROR
    try:
        logging.basicConfig(
            level=settings.get("LEADERBOARD_LOG_LEVEL").upper(), format="%(name)s %(levelname)s %(message)s"
        )
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
