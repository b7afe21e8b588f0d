"""The hardware catalogue: which machines the board evaluates on, and what an hour of each costs.

With ``LEADERBOARD_DISPATCH=jobs`` the catalogue is Hugging Face Jobs' hardware list
(``HfApi.list_jobs_hardware``) filtered by ``LEADERBOARD_JOB_FLAVORS``, cached for :data:`CACHE_S` (a Hub
hiccup keeps the last good list). Otherwise it is the one local machine, priced by
``LEADERBOARD_LOCAL_COST_PER_HOUR`` (unknown cost when unset).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import settings
from eval_queue.entry import LOCAL_FLAVOR, QueueError

CACHE_S = 600.0
_PER_HOUR = {"second": 3600.0, "minute": 60.0, "hour": 1.0}


@dataclass(frozen=True)
class Flavor:
    name: str
    label: str  # "CPU Basic · 2 vCPU · 16 GB" as a person reads it
    accelerator: str | None  # "T4", "2x A10G", None for CPU
    usd_per_hour: float | None

    @property
    def is_cpu(self) -> bool:
        return self.accelerator is None


def jobs_enabled() -> bool:
    """Whether approved entries go to Hugging Face Jobs (``LEADERBOARD_DISPATCH=jobs``)."""
    mode = (settings.get("LEADERBOARD_DISPATCH") or "worker").strip().lower()
    if mode not in ("worker", "jobs"):
        raise settings.SettingError(f"LEADERBOARD_DISPATCH must be worker or jobs, got {mode[:40]!r}")
    return mode == "jobs"


def local_flavor() -> Flavor:
    return Flavor(LOCAL_FLAVOR, "this machine", None, settings.get("LEADERBOARD_LOCAL_COST_PER_HOUR"))


def flavor_from_hardware(hw: Any) -> Flavor | None:
    """A catalogue entry from one ``JobHardwareInfo``; None if its cost unit is unknown."""
    per_hour = _PER_HOUR.get(str(getattr(hw, "unit_label", "")).lower())
    cost = getattr(hw, "unit_cost_usd", None)
    if per_hour is None or isinstance(cost, bool) or not isinstance(cost, int | float) or not cost >= 0:
        return None
    acc = getattr(hw, "accelerator", None)
    accelerator = None
    if acc is not None:
        qty = str(getattr(acc, "quantity", "1") or "1")
        accelerator = f"{'' if qty == '1' else qty + 'x '}{getattr(acc, 'model', 'GPU')}"
    label = " · ".join(str(x) for x in (getattr(hw, "pretty_name", hw.name), hw.cpu, hw.ram) if x)
    return Flavor(str(hw.name), label, accelerator, round(float(cost) * per_hour, 6))


class Catalogue:
    """The offered flavors, refreshed at most every ``cache_s`` seconds (thread-safe)."""

    def __init__(self, cache_s: float = CACHE_S, api: Any = None):
        self.cache_s = cache_s
        self._api = api
        self._lock = threading.Lock()
        self._flavors: tuple[Flavor, ...] = ()
        self._at = 0.0
        self.problem: str | None = None  # the last refresh's error, shown to people

    def _fetch(self) -> tuple[Flavor, ...]:
        from huggingface_hub import HfApi

        api = self._api or HfApi(endpoint=settings.get("HF_ENDPOINT"), token=settings.get("HF_TOKEN"))
        wanted = tuple(settings.get("LEADERBOARD_JOB_FLAVORS") or ())
        found = {f.name: f for f in map(flavor_from_hardware, api.list_jobs_hardware()) if f is not None}
        return tuple(found[name] for name in wanted if name in found)

    def flavors(self, refresh: bool = False) -> tuple[Flavor, ...]:
        if not jobs_enabled():
            return (local_flavor(),)
        with self._lock:
            if refresh or not self._flavors or time.monotonic() - self._at > self.cache_s:
                try:
                    self._flavors, self._at, self.problem = self._fetch(), time.monotonic(), None
                except Exception as exc:  # noqa: BLE001 - keep the last good list; say why
                    self.problem = f"cannot list Jobs hardware: {' '.join(str(exc).split())[:200]}"
                    if not self._flavors:
                        raise QueueError(self.problem) from None
            return self._flavors

    def get(self, name: str) -> Flavor:
        for f in self.flavors():
            if f.name == name:
                return f
        offered = ", ".join(f.name for f in self.flavors()) or "none"
        raise QueueError(f"flavor {name[:60]!r} is not offered here (offered: {offered})")

    def default(self) -> Flavor:
        """The cheapest CPU flavor (else the cheapest one): what a submission gets when it names none."""
        flavors = self.flavors()
        if not flavors:
            raise QueueError("no Jobs flavor is offered (LEADERBOARD_JOB_FLAVORS matches none)")
        cpu = [f for f in flavors if f.is_cpu] or list(flavors)
        return min(cpu, key=lambda f: (f.usd_per_hour is None, f.usd_per_hour or 0.0))

    def pick(self, names: Any) -> tuple[Flavor, ...]:
        """The flavors a submission asked for (None/empty: the default), de-duplicated, in catalogue order."""
        if names is None or names == "" or names == [] or names == ():
            return (self.default(),)
        if isinstance(names, str):
            from harness.config import split_csv

            names = split_csv(names)
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise QueueError("flavors must be a list of names")
        wanted = {self.get(n.strip()).name for n in names}
        return tuple(f for f in self.flavors() if f.name in wanted)


_CATALOGUE = Catalogue()


def catalogue() -> Catalogue:
    """The process-wide catalogue (one Hub call per :data:`CACHE_S`)."""
    return _CATALOGUE
