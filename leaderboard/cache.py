"""Keep the loaded leaderboard frames in memory; reload only when the results table changed.

The change check is cheap (file stat for a local dataset, a content hash otherwise, at most every
``check_every_s`` seconds), so every filter change works on the cached frames.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from leaderboard.load import frames_from_table

TABLE_PATH = "results.parquet"


@dataclass
class Snapshot:
    wide: pd.DataFrame
    long: pd.DataFrame
    signature: Any
    loaded_at: float
    load_s: float
    problems: list[str] = field(default_factory=list)


def table_signature(store: Any) -> Any:
    """Something that changes whenever the results change: the dataset's head commit on the Hub;
    locally the table file's stat plus the number of record files (a record the table lacks yet)."""
    head = getattr(store, "head", None)
    if callable(head):
        return ("head", head())
    root = getattr(store, "root", None)
    n_records = len(store.list_files("records"))
    if root is not None:
        try:
            st = (Path(root) / TABLE_PATH).stat()
            return (st.st_mtime_ns, st.st_size, n_records)
        except FileNotFoundError:
            return (None, n_records)
    data = store.read_bytes(TABLE_PATH)
    return (hashlib.sha1(data).hexdigest() if data is not None else None, n_records)


class LeaderboardCache:
    """Thread-safe holder of the current :class:`Snapshot` of one results store."""

    def __init__(
        self,
        store: Any,
        read_table: Callable[[Any], pd.DataFrame],
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
            sig = table_signature(self.store)
            if self._snap is not None and not force and sig == self._snap.signature:
                return self._snap
            t0 = time.perf_counter()
            problems: list[str] = []
            try:
                table = self.read_table(self.store)
            except Exception as exc:  # noqa: BLE001 - a broken table must not take the UI down
                problems.append(f"{TABLE_PATH}: cannot be read ({type(exc).__name__}: {exc})")
                table = pd.DataFrame()
            wide, long = frames_from_table(table)
            problems += [f"{p.path}: {p.reason}" for p in getattr(self.store, "problems", {}).values()]
            self._snap = Snapshot(wide, long, sig, time.time(), time.perf_counter() - t0, problems)
            return self._snap
