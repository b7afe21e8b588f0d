"""Keep the loaded leaderboard frames in memory; reload only when the results table changed.

The change check is cheap (file stat for a local dataset, a content hash otherwise, at most every
``check_every_s`` seconds), so every filter change works on the cached frames.

A failed reload (the Hub answering 5xx, a corrupt table that cannot be rebuilt, a full disk) never
empties the board: the last good frames stay, with a problem note saying since when and why, and the
next check tries again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from harness.record import check_record_dict
from leaderboard.filters import FilterState, FrameIndex, View
from leaderboard.load import frames_from_table
from store.layout import RECORDS_DIR, RESULTS_TABLE
from store.table import read_results_table

log = logging.getLogger(__name__)

TABLE_PATH = RESULTS_TABLE


@dataclass
class Snapshot:
    wide: pd.DataFrame
    long: pd.DataFrame
    signature: Any
    loaded_at: float
    load_s: float
    problems: list[str] = field(default_factory=list)
    stale_since: float | None = None  # set while reloads fail and these frames are the last good ones
    index: FrameIndex = field(init=False, repr=False)  # sort orders and views of ``wide``, built lazily

    def __post_init__(self) -> None:
        self.index = FrameIndex(self.wide)

    def view(self, state: FilterState) -> View:
        """The filtered, sorted rows of ``state`` (memoised for this snapshot); FilterError as filters."""
        return self.index.view(state)


RECENT_S = 2.0  # a records folder changed this recently is also counted (coarse file-system clocks)


def table_signature(store: Any) -> Any:
    """Something that changes whenever the results change: the dataset's head commit on the Hub;
    locally the table file's stat plus the records folder's modification time (records are created by
    a rename into it, which updates it), so a check costs two stat() calls, not a listing of 100k
    files; a folder modified in the last :data:`RECENT_S` seconds is counted as well."""
    head = getattr(store, "head", None)
    if callable(head):
        return ("head", head())
    root = getattr(store, "root", None)
    if root is not None:
        return (_stat_of(Path(root) / TABLE_PATH), _records_mark(Path(root) / RECORDS_DIR))
    n_records = len(store.list_files(RECORDS_DIR))
    data = store.read_bytes(TABLE_PATH)
    return (hashlib.sha1(data).hexdigest() if data is not None else None, n_records)


def _stat_of(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True, eq=False)
class FolderMark:
    """The records folder's state: its mtime and inode, plus its entry count while it changed within
    :data:`RECENT_S` (a file-system clock ticks in milliseconds: a record created in the same tick as a
    check leaves the mtime as it was, the count does not). Marks are equal when mtime and inode are
    and, where both have one, the counts."""

    mtime_ns: int
    ino: int
    count: int | None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FolderMark) or (self.mtime_ns, self.ino) != (other.mtime_ns, other.ino):
            return False
        return self.count is None or other.count is None or self.count == other.count

    __hash__ = None  # type: ignore[assignment]


def _records_mark(folder: Path) -> FolderMark | None:
    try:
        st = folder.stat()
        recent = time.time() - st.st_mtime_ns / 1e9 < RECENT_S
        return FolderMark(st.st_mtime_ns, st.st_ino, len(os.listdir(folder)) if recent else None)
    except OSError:
        return None


def _after_read(before: Any, after: Any) -> Any:
    """The signature to keep after a read: the read may have rebuilt a stale table file (its stat
    changes) while no record arrived (the records folder's mark is unchanged); keeping the pre-read
    signature would reload the same data once more on the next check (a minute at 100k records)."""
    local = isinstance(before, tuple) and isinstance(after, tuple) and len(before) == len(after) == 2
    if local and before[0] != after[0] and before[1] is not None and before[1] == after[1]:
        return after
    return before


def read_checked_table(store: Any) -> pd.DataFrame:
    """The results table with every record schema-checked (a bad record is reported and left out)."""
    return read_results_table(store, validate=check_record_dict)


def _store_problems(store: Any) -> list[str]:
    """The store's reported problems; copied in one step, as the worker thread may be adding some."""
    return [f"{p.path}: {p.reason}" for p in list(getattr(store, "problems", {}).values())]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


class LeaderboardCache:
    """Thread-safe holder of the current :class:`Snapshot` of one results store."""

    def __init__(
        self,
        store: Any,
        read_table: Callable[[Any], pd.DataFrame] = read_checked_table,
        check_every_s: float = 2.0,
    ):
        self.store = store
        self.read_table = read_table
        self.check_every_s = check_every_s
        self._snap: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self, force: bool = False) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snap is not None and not force and now - self._checked < self.check_every_s:
                return self._snap
            self._checked = now
            t0 = time.perf_counter()
            try:
                sig = table_signature(self.store)
                if self._snap is not None and not force and sig == self._snap.signature:
                    return self._snap
                wide, long = frames_from_table(self.read_table(self.store))
                sig = _after_read(sig, table_signature(self.store))
            except Exception as exc:  # noqa: BLE001 - a broken table or Hub must not take the UI down
                self._snap = self._keep_last_good(exc, time.perf_counter() - t0)
                return self._snap
            problems = _store_problems(self.store)
            self._snap = Snapshot(wide, long, sig, time.time(), time.perf_counter() - t0, problems)
            return self._snap

    def _keep_last_good(self, exc: BaseException, load_s: float) -> Snapshot:
        """The previous frames with a note (their signature kept, so the next check retries); an empty
        board with the note when nothing was ever loaded."""
        log.warning("results table: reload failed, keeping the last good one: %s", _reason(exc))
        store_problems = _store_problems(self.store)
        last = self._snap
        if last is None:
            note = f"{TABLE_PATH}: cannot be read ({_reason(exc)})"
            wide, long = frames_from_table(pd.DataFrame())
            return Snapshot(wide, long, None, time.time(), load_s, [note, *store_problems])
        since = last.stale_since or time.time()
        shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last.loaded_at))
        note = f"{TABLE_PATH}: reload failed ({_reason(exc)}); showing the table loaded at {shown}"
        return replace(last, problems=[note, *store_problems], stale_since=since)
