"""``python -m leaderboard report``: the current results as a Markdown report plus CSV/Parquet exports.

Reads the results store the app reads (``$LEADERBOARD_DATA_DIR`` or the Hub via ``RESULTS_REPO``), or
result record files given with ``--records`` (e.g. the output of ``python -m harness`` in a CI job).
``--filter`` takes the same keys as the app's shareable URL (``task=detection``, ``q=resnet``,
``backend=onnxruntime``, ``hw=...``, ``lmax=50``, ``pareto=1``...), so a view shared from the browser can be
published as is. Without ``task=`` the report has a section per task (each ranked by its own metric).

Every record read (from the store or ``--records``) passes ``harness.record.check_record_dict``; a file
that fails it, or is not a plain readable file (FIFO, symlink, too large, too deep), is skipped with one
``warning: skipped PATH: reason`` line on stderr and never stops the rest.

Exit status: 0 written; 2 bad input (one line ``error: ...`` on stderr).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pandas as pd

from harness.record import check_record_dict
from leaderboard import present, report
from leaderboard.columns import TASK_TITLES
from leaderboard.filters import URL_KEYS, FilterError, FilterState, apply_filters, decode_state
from leaderboard.load import build_frames, frames_from_table

EXIT_OK, EXIT_BAD_INPUT = 0, 2
_NUMERIC_KEYS = {URL_KEYS[n] for n in ("params_min", "params_max", "latency_min", "latency_max")}
_SINGLE_KEYS = {"q", "re", "sort", "desc", "pareto", "task"}  # a repeat replaces, never widens


class ReportError(Exception):
    """Bad input for the report; the message says what to fix."""


def parse_filters(items: list[str]) -> tuple[FilterState, str]:
    """``["backend=onnxruntime", "q=resnet&lmax=50"]`` -> (FilterState, normalised query); strict:
    unknown keys and non-numeric ranges are errors (the app's URL decoder is lenient on purpose)."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        parsed = parse_qsl(item.lstrip("?"), keep_blank_values=True)
        if not parsed:
            raise ReportError(f"--filter {item!r}: expected KEY=VALUE, e.g. backend=onnxruntime")
        pairs += parsed
    known = set(URL_KEYS.values())
    merged: dict[str, str] = {}
    for key, value in pairs:
        if key not in known:
            raise ReportError(f"--filter: unknown key {key!r}; use one of {', '.join(sorted(known))}")
        if key in _NUMERIC_KEYS:
            try:
                float(value)
            except ValueError:
                raise ReportError(f"--filter {key}={value!r}: expected a number") from None
        if key == "task" and value not in TASK_TITLES:
            raise ReportError(f"--filter task={value!r}: unknown task; use one of {', '.join(TASK_TITLES)}")
        if key in merged and key not in _NUMERIC_KEYS and key not in _SINGLE_KEYS:
            merged[key] = f"{merged[key]},{value}"  # backend=a --filter backend=b -> either
        else:
            merged[key] = value
    state = decode_state(merged)
    if "sort" in merged and state.sort_by != merged["sort"]:
        raise ReportError(f"--filter sort={merged['sort']!r}: unknown column")
    note = "&".join(f"{k}={v}" for k, v in merged.items())
    return state, note


def load_records(paths: list[str]) -> tuple[list[dict], list[str]]:
    """Valid result records from files and folders (``*.json`` inside, recursively), and one line per file
    skipped (``PATH: reason``). Files are read the way the store reads its own: never opened unless regular,
    bounded in size and nesting, checked against the record schema."""
    from store.base import CorruptFileError
    from store.local import LocalDatasetStore

    records: list[dict] = []
    problems: list[str] = []
    seen = 0
    for raw in paths:
        p = Path(raw)
        try:
            is_dir, is_file = p.is_dir(), p.exists() and not p.is_dir()
        except OSError:  # a symlink loop, a name too long
            is_dir = is_file = False
        if not (is_dir or is_file):
            raise ReportError(f"--records {raw}: no such file or folder")
        folder = LocalDatasetStore(p if is_dir else p.resolve().parent, name="records")
        if is_dir:
            found = [rec for _, rec in folder.iter_json("", validate=check_record_dict)]
            seen += len(found) + len(folder.problems)
        else:
            seen += 1
            try:
                data = folder.read_bytes(p.resolve().name)
            except CorruptFileError as exc:
                folder.report_problem(exc.path, exc.reason)
                data = None
            rec = folder.accept_json(p.resolve().name, data, check_record_dict)
            found = [rec] if rec is not None else []
        records += found
        problems += [f"{folder.root / prob.path}: {prob.reason}" for prob in folder.problems.values()]
    if not seen:
        raise ReportError(f"--records {' '.join(paths)}: no .json result records found")
    if not records:
        raise ReportError(
            f"--records: no readable result record ({problems[0] if problems else 'none found'})"
        )
    return records, problems


def _from_store() -> tuple[pd.DataFrame, dict, str]:
    from store import StoreError, get_stores, table

    try:
        stores = get_stores()
        results = stores.results
        flat = table.read_results_table(results, validate=check_record_dict)
    except StoreError as exc:
        raise ReportError(f"cannot read the results store: {exc}") from None
    for problem in getattr(results, "problems", {}).values():
        print(f"warning: skipped {problem.path}: {problem.reason}", file=sys.stderr)
    wide, _ = frames_from_table(flat)
    where = getattr(results, "repo_id", None) or str(getattr(results, "root", "results store"))
    return wide, report.environments_from_table(flat), f"{stores.backend} results store {where}"


def task_views(wide: pd.DataFrame, state: FilterState, all_tasks: bool) -> pd.DataFrame:
    """The view of ``state``'s task, or (``all_tasks``) the same filters applied to every task in turn,
    each ranked and Pareto-filtered by its own metric."""
    if not all_tasks:
        return apply_filters(wide, state).frame
    return pd.concat([apply_filters(wide, replace(state, task=t)).frame for t in TASK_TITLES])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="write the results as Markdown (and CSV/Parquet)")
    rep.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="filter like the app's URL: task=classification|detection|segmentation|pose (default: a section "
        "per task) q=TEXT re=1 family= backend= device= precision= hw= "
        "pmin= pmax= (M params) lmin= lmax= (p50 ms) pareto=1 sort=COLUMN desc=1; repeatable",
    )
    rep.add_argument("--records", nargs="+", metavar="PATH", help="record files/folders instead of the store")
    rep.add_argument("--output", "-o", metavar="RESULTS.md", help="Markdown file (default: stdout)")
    rep.add_argument("--csv", metavar="FILE.csv", help="also export the rows as CSV")
    rep.add_argument("--parquet", metavar="FILE.parquet", help="also export the rows as Parquet")
    rep.add_argument("--title", default="Vision model benchmark results")
    return parser


def report_main(args: argparse.Namespace) -> int:
    state, note = parse_filters(args.filter)
    for flag, value, suffix in (("--csv", args.csv, ".csv"), ("--parquet", args.parquet, ".parquet")):
        if value and not value.endswith(suffix):
            raise ReportError(f"{flag} {value}: the file name must end in {suffix}")
    if args.records:
        records, problems = load_records(args.records)
        for problem in problems:
            print(f"warning: skipped {problem}", file=sys.stderr)
        wide, _ = build_frames(records)
        envs = report.environments_from_records(records)
        source = f"{len(records)} record file(s)"
    else:
        wide, envs, source = _from_store()
    one_task = any(k == "task" for item in args.filter for k, _ in parse_qsl(item.lstrip("?")))
    try:
        view = task_views(wide, state, all_tasks=not one_task)
    except FilterError as exc:
        raise ReportError(str(exc)) from None
    text = report.render_report(
        view,
        envs,
        title=args.title,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        source=source,
        filter_note=note,
    )
    if args.output:
        _write(Path(args.output), lambda p: p.write_text(text))
        print(f"wrote {args.output} ({len(view)} rows)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    exported = present.export_frame(view, state.task if one_task else None)
    if args.csv:
        _write(Path(args.csv), lambda p: exported.to_csv(p, index=False))
    if args.parquet:
        _write(Path(args.parquet), lambda p: exported.to_parquet(p, index=False))
    return EXIT_OK


def _write(path: Path, writer) -> None:
    """Write via a temp file beside ``path`` so a failed export never leaves half a file."""
    if path.parent and not path.parent.is_dir():
        raise ReportError(f"{path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        writer(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"{path}: cannot write ({exc.strerror or exc})") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("store").setLevel(logging.ERROR)  # skipped files: this CLI prints one line each
    try:
        return report_main(args)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
