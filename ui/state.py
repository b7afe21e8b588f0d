"""What every tab shares: the stores, the cached leaderboard frames and the folder exports go to.

One :class:`AppState` per process, created on first use from the settings; tests install their own with
:func:`install`. Handlers look it up at call time (never at import), so a test's state is the one used.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import settings
from leaderboard.cache import LeaderboardCache, Snapshot
from store import Stores, get_stores

__all__ = ["AppState", "current", "install", "refresh_seconds", "seeding_wanted"]

# A Hub check is an API call; locally it is a stat(): look less often on the Hub.
CHECK_EVERY_S = {"local": 2.0, "hub": 30.0}
HUB_SLOWDOWN = 6


@dataclass
class AppState:
    """The stores, the leaderboard cache over the results store (it reads the table with every record
    schema-checked, a bad one skipped and reported), and the export folder."""

    stores: Stores
    cache: LeaderboardCache
    export_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="leaderboard-export-")))

    @classmethod
    def open(cls, stores: Stores) -> AppState:
        every = CHECK_EVERY_S.get(stores.backend, CHECK_EVERY_S["hub"])
        return cls(stores, LeaderboardCache(stores.results, check_every_s=every))

    def snapshot(self) -> Snapshot:
        return self.cache.get()

    def problems(self) -> list[str]:
        """Every file skipped while reading results or the queue, with its reason (for maintainers)."""
        queue = self.stores.queue
        found = list(self.snapshot().problems)
        found += [f"{queue.name}/{p.path}: {p.reason}" for p in queue.problems.values()]
        return found


_CURRENT: AppState | None = None
_OPENING = threading.Lock()  # two first requests at once must share one state (one cache, one reader)


def current() -> AppState:
    """The process's state, opened from the settings on first use."""
    global _CURRENT
    with _OPENING:
        if _CURRENT is None:
            _CURRENT = AppState.open(get_stores())
        return _CURRENT


def install(state: AppState | None) -> AppState | None:
    """Make ``state`` the current one (``None``: reopen from settings next time); returns the previous."""
    global _CURRENT
    previous, _CURRENT = _CURRENT, state
    return previous


def refresh_seconds(configured: float | None, local_default: float) -> float:
    """Timer period: the configured setting, else the default (x6 on the Hub, where every check is an
    API call)."""
    if configured is not None:
        return float(configured)
    return local_default if current().stores.backend == "local" else local_default * HUB_SLOWDOWN


def seeding_wanted(stores: Stores) -> bool:
    """``LEADERBOARD_SEED`` if set; by default only a local board seeds a reference suite (a Hub board is
    curated). Start-up acts on it and the empty board's message says it."""
    seed = settings.get("LEADERBOARD_SEED")
    return stores.backend == "local" if seed is None else bool(seed)
