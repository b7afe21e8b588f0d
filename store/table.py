"""The consolidated results table: every JSON record under ``records/`` as one Parquet file.

The leaderboard loads this one file instead of thousands of records. The store knows nothing about the
record schema, so flattening is generic: nested objects become dotted columns (``model.id``), lists (and
empty objects) become JSON strings, and ``_path`` says which file a row came from.

Only records the caller's ``validate`` accepts (``harness.record.check_record_dict``; the store itself
knows no record schema) become rows: a corrupt or invalid record is reported in ``store.problems`` and
left out, so one bad file never reaches the board.

Staleness: the Parquet's metadata keeps the set of record paths it was built from (corrupt and invalid
ones included, with their reasons). Records are never rewritten, so the table is current exactly when that
set equals today's listing (plus: no rejected record has since become readable and valid).
"""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store.base import MAX_JSON_BYTES, CorruptFileError, DatasetStore, StoreError, Validator
from store.layout import RECORDS_DIR, RESULTS_TABLE

log = logging.getLogger(__name__)

RECORDS_PREFIX = f"{RECORDS_DIR}/"
TABLE_PATH = RESULTS_TABLE
META_KEY = b"leaderboard.table"
TABLE_VERSION = 2  # 2: rows are validated records (a version-1 table is rebuilt, silently)
PATH_COLUMN = "_path"


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1]}`` -> ``{"a.b": 1, "c": "[1]"}``; empty objects -> ``"{}"``."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict) and obj:
            for key, value in obj.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(obj, list | dict):
            flat[prefix] = json.dumps(obj, sort_keys=True, ensure_ascii=False)
        else:
            flat[prefix] = obj

    walk("", record)
    return flat


def _column(values: list[Any]) -> pa.Array:
    """One Arrow column; a column mixing incompatible types is stored as JSON text, never an error."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} or len(kinds) <= 1:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string())


def build_table(rows: list[dict[str, Any]], source_paths: list[str], corrupt: dict[str, str]) -> pa.Table:
    """Rows (already flat, each with ``_path``) -> an Arrow table carrying its provenance metadata."""
    names: dict[str, None] = {PATH_COLUMN: None}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {name: _column([row.get(name) for row in rows]) for name in names}
    if not rows:
        columns = {PATH_COLUMN: pa.array([], pa.string())}
    meta = {
        "version": TABLE_VERSION,
        "built_at": time.time(),
        "source_paths": sorted(source_paths),
        "corrupt": corrupt,
    }
    return pa.table(columns).replace_schema_metadata({META_KEY: json.dumps(meta).encode()})


def _json_paths(store: DatasetStore, prefix: str) -> set[str]:
    return {p for p in store.list_files(prefix) if p.endswith(".json")}


def _row(path: str, record: dict[str, Any]) -> dict[str, Any]:
    row = flatten(record)
    row.pop(PATH_COLUMN, None)
    return {PATH_COLUMN: path, **row}


def _read_valid(store: DatasetStore, path: str, validate: Validator) -> tuple[dict | None, str | None]:
    """(record, None) if ``path`` is readable and valid, (None, reason) if not (reported), (None, None)
    if it is gone."""
    try:
        data = store.read_bytes(path, MAX_JSON_BYTES)
    except CorruptFileError as exc:
        store.report_problem(path, exc.reason)
        return None, exc.reason
    record = store.accept_json(path, data, validate)
    if record is None and data is not None:
        problem = store.problems.get(path)  # another thread may have cleared it since
        return None, problem.reason if problem else "invalid record"
    return record, None


def collect_table(
    results_store: DatasetStore,
    prefix: str = RECORDS_PREFIX,
    previous: tuple[pa.Table, dict] | None = None,
    *,
    validate: Validator,
) -> pa.Table:
    """Every valid record under ``prefix`` as an Arrow table (corrupt/invalid ones reported, skipped).

    With ``previous`` (a stored table and its metadata), rows of records it already holds are reused and
    only new (or formerly corrupt) records are read: records are never rewritten, so this is exact.
    """
    listed = _json_paths(results_store, prefix)
    rows: list[dict[str, Any]] = []
    ok: set[str] = set()
    corrupt: dict[str, str] = {}
    if previous is not None:
        old_table, meta = previous
        was_corrupt = set(meta.get("corrupt") or {})
        for row in old_table.to_pylist():
            path = row.get(PATH_COLUMN)
            if path in listed and path not in was_corrupt and path not in ok:
                rows.append(row)
                ok.add(path)
    todo = sorted(listed - ok)
    if previous is None or len(todo) > max(64, len(listed) // 2):  # mostly new: one (parallel) walk
        rows, ok = [], set()
        for path, obj in results_store.iter_json(prefix, validate=validate):
            rows.append(_row(path, obj))
            ok.add(path)
        problems = list(results_store.problems.items())  # one-step copy: other threads report too
        corrupt = {p: pr.reason for p, pr in problems if p in listed and p not in ok}
    else:
        for path in todo:
            record, reason = _read_valid(results_store, path, validate)
            if reason is not None:
                corrupt[path] = reason
            elif record is not None:
                rows.append(_row(path, record))
                ok.add(path)
    return build_table(rows, sorted(ok | set(corrupt)), corrupt)


def _write(results_store: DatasetStore, table: pa.Table, out: str) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    results_store.write_bytes(out, buf.getvalue(), message=f"Rebuild {out} ({table.num_rows} records)")


def rebuild_results_table(
    results_store: DatasetStore,
    *,
    validate: Validator,
    prefix: str = RECORDS_PREFIX,
    out: str = TABLE_PATH,
    incremental: bool = False,
) -> pd.DataFrame:
    """Read the records under ``prefix`` (corrupt ones, and those ``validate`` rejects, reported in
    ``.problems`` and skipped), write the flattened table to ``out`` atomically through the store, and
    return it as a DataFrame. Raises :class:`StoreError` (e.g. ``StoreWriteError``) if it cannot be
    written; the stored table is then unchanged.

    ``incremental=True`` reuses the rows of the stored table for records it already holds (cheap on the
    Hub after one new result); the default reads every record again.
    """
    previous = _load(results_store, out) if incremental else None
    table = collect_table(results_store, prefix, previous, validate=validate)
    _write(results_store, table, out)
    return _to_frame(table)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    return table.replace_schema_metadata(None).to_pandas()


def _load(results_store: DatasetStore, out: str) -> tuple[pa.Table, dict] | None:
    """The stored table and its metadata, or None (missing or unreadable: reported, caller rebuilds)."""
    raw = results_store.read_bytes(out)
    if raw is None:
        return None
    try:
        table = pq.read_table(pa.BufferReader(raw))
        meta = json.loads((table.schema.metadata or {})[META_KEY])
        if not isinstance(meta, dict) or not isinstance(meta.get("version"), int):
            raise ValueError("no table version in its metadata")
        if meta["version"] != TABLE_VERSION:
            return None  # written by another version of this code: rebuild, nothing is wrong
        if not isinstance(meta.get("source_paths"), list) or not isinstance(meta.get("corrupt") or {}, dict):
            raise ValueError("malformed table metadata")
    except Exception as exc:  # any damage to the file means: rebuild it
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        results_store.report_problem(out, f"unreadable results table, rebuilding ({reason})")
        return None
    results_store.problems.pop(out, None)
    return table, meta


def _is_current(results_store: DatasetStore, meta: dict, prefix: str, validate: Validator) -> bool:
    if set(meta["source_paths"]) != _json_paths(results_store, prefix):
        return False
    for path in meta.get("corrupt") or {}:
        record, _ = _read_valid(results_store, path, validate)  # reports it again if still bad
        if record is not None:
            return False  # a rejected record became readable and valid
    return True


def read_results_table(
    results_store: DatasetStore,
    *,
    validate: Validator,
    prefix: str = RECORDS_PREFIX,
    out: str = TABLE_PATH,
) -> pd.DataFrame:
    """The consolidated table as a DataFrame; rebuilt first when missing, unreadable or stale (reusing
    the rows of a stale table, so one new result costs one record read). Records ``validate`` rejects
    are reported and left out.

    If the rebuilt table cannot be written back (e.g. a read-only token), the fresh rows are still
    returned and the write failure is logged.
    """
    loaded = _load(results_store, out)
    if loaded is not None and _is_current(results_store, loaded[1], prefix, validate):
        return _to_frame(loaded[0])
    table = collect_table(results_store, prefix, loaded, validate=validate)
    try:
        _write(results_store, table, out)
    except StoreError as exc:
        log.warning(
            "could not write %s/%s: %s; serving the rebuilt rows unsaved", results_store.name, out, exc
        )
    return _to_frame(table)
