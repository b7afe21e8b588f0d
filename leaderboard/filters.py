"""Server-side filtering, sorting and the Pareto front: pure functions of (DataFrame, FilterState).

Missing numbers are never silently dropped by a range filter: a row without params or latency stays
in the view (shown as missing). Bad user input (an invalid regex) raises :class:`FilterError` with a
one-line message for the UI instead of crashing.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, fields, replace
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pandas as pd

from leaderboard.columns import BY_NAME, COLUMNS, DEFAULT_VISIBLE

SEARCH_COLUMNS = ("model", "architecture", "family", "source", "backend", "hardware_profile", "revision")
CATEGORY_FILTERS = ("task", "family", "backend", "device", "precision", "hardware_profile")


def normalize_columns(names) -> tuple[str, ...]:
    """Known, non-pinned column names in registry order (pinned ones are always shown anyway)."""
    wanted = set(names or ())
    return tuple(c.name for c in COLUMNS if c.name in wanted and not c.pinned)


DEFAULT_COLUMNS = normalize_columns(DEFAULT_VISIBLE)


class FilterError(ValueError):
    """The filter cannot be applied as given; the message says why (shown to the user)."""


@dataclass(frozen=True)
class FilterState:
    """Everything that defines a view; serialisable to and from a URL query string."""

    search: str = ""
    regex: bool = False
    task: tuple[str, ...] = ()
    family: tuple[str, ...] = ()
    backend: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    precision: tuple[str, ...] = ()
    hardware_profile: tuple[str, ...] = ()
    params_min: float | None = None
    params_max: float | None = None
    latency_min: float | None = None
    latency_max: float | None = None
    sort_by: str = "rank"
    descending: bool = False
    pareto: bool = False
    columns: tuple[str, ...] = DEFAULT_COLUMNS


DEFAULT_STATE = FilterState()

# URL parameter names (short, stable) <-> FilterState fields
URL_KEYS = {
    "search": "q",
    "regex": "re",
    "task": "task",
    "family": "family",
    "backend": "backend",
    "device": "device",
    "precision": "precision",
    "hardware_profile": "hw",
    "params_min": "pmin",
    "params_max": "pmax",
    "latency_min": "lmin",
    "latency_max": "lmax",
    "sort_by": "sort",
    "descending": "desc",
    "pareto": "pareto",
    "columns": "cols",
}


# --- URL state -----------------------------------------------------------------------------------------
def encode_state(state: FilterState) -> str:
    """Query string of the fields that differ from the defaults (``""`` for the default view)."""
    pairs: list[tuple[str, str]] = []
    for f in fields(FilterState):
        value = getattr(state, f.name)
        if value == getattr(DEFAULT_STATE, f.name):
            continue
        key = URL_KEYS[f.name]
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, tuple):
            pairs.append((key, ",".join(value)))
        elif isinstance(value, float):
            pairs.append((key, f"{value:g}"))
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


def decode_state(query: str | dict[str, str]) -> FilterState:
    """Inverse of :func:`encode_state`; unknown keys and malformed values fall back to the defaults."""
    params = dict(parse_qsl(query.lstrip("?"), keep_blank_values=True)) if isinstance(query, str) else query
    kw: dict[str, object] = {}
    for f in fields(FilterState):
        raw = params.get(URL_KEYS[f.name])
        if raw is None:
            continue
        default = getattr(DEFAULT_STATE, f.name)
        if isinstance(default, bool):
            kw[f.name] = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, tuple):
            items = tuple(dict.fromkeys(x for x in raw.split(",") if x))
            if f.name == "columns":
                items = normalize_columns(items)
            kw[f.name] = items
        elif f.name in ("params_min", "params_max", "latency_min", "latency_max"):
            try:
                val = float(raw)
            except ValueError:
                continue
            if np.isfinite(val):
                kw[f.name] = val
        elif f.name == "sort_by":
            if raw in BY_NAME:
                kw[f.name] = raw
        else:
            kw[f.name] = raw
    return replace(DEFAULT_STATE, **kw)


# --- filtering -----------------------------------------------------------------------------------------
def search_mask(df: pd.DataFrame, text: str, regex: bool = False) -> pd.Series:
    """Rows where any searchable column contains ``text`` (case-insensitive; a regex if ``regex``)."""
    text = (text or "").strip()
    if not text:
        return pd.Series(True, index=df.index)
    if regex:
        try:
            re.compile(text)
        except re.error as exc:
            raise FilterError(f"invalid regular expression {text!r}: {exc}") from None
    mask = pd.Series(False, index=df.index)
    with warnings.catch_warnings():  # "pattern has match groups" is irrelevant for a yes/no match
        warnings.simplefilter("ignore", UserWarning)
        for col in SEARCH_COLUMNS:
            if col in df:
                hit = df[col].astype("string").str.contains(text, case=False, regex=regex, na=False)
                mask |= hit.astype(bool)
    return mask


def range_mask(values: pd.Series, lo: float | None, hi: float | None) -> pd.Series:
    """Inside [lo, hi]; rows with a missing value are KEPT (they are shown as missing, not hidden)."""
    mask = pd.Series(True, index=values.index)
    if lo is not None:
        mask &= ~(values < lo)
    if hi is not None:
        mask &= ~(values > hi)
    return mask


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points not dominated when lower ``x`` and higher ``y`` are better; NaN points are never on it.

    A point is dominated if another has x <= and y >= with at least one strict. Ties (same x and y) are
    all kept. O(n log n): sort by x asc (y desc), sweep keeping the running best y.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.zeros(len(x), dtype=bool)
    ok = np.flatnonzero(~(np.isnan(x) | np.isnan(y)))
    if not len(ok):
        return out
    order = ok[np.lexsort((-y[ok], x[ok]))]
    best_y = -np.inf
    i = 0
    while i < len(order):  # process groups of equal x together
        j = i
        while j < len(order) and x[order[j]] == x[order[i]]:
            j += 1
        group = order[i:j]
        gmax = y[group].max()
        if gmax > best_y:
            winners = group[y[group] == gmax]
            out[winners] = True
            best_y = gmax
        i = j
    return out


def pareto_axes(df: pd.DataFrame) -> tuple[str, str]:
    """(x, y) the front is drawn on: latency vs top-1 when any row has accuracy, else vs throughput."""
    if "top1" in df and df["top1"].notna().any():
        return "latency_p50_ms", "top1"
    return "latency_p50_ms", "throughput_ips"


def pareto_front(df: pd.DataFrame, x: str, y: str, group: str = "hardware_profile") -> pd.Series:
    """Boolean Series: on the (x lower, y higher) Pareto front within each hardware profile."""
    mask = pd.Series(False, index=df.index)
    if df.empty:
        return mask
    for _, part in df.groupby(group, dropna=False, sort=False):
        m = pareto_mask(part[x].to_numpy(dtype=float), part[y].to_numpy(dtype=float))
        mask.loc[part.index] = m
    return mask


def sort_frame(df: pd.DataFrame, by: str, descending: bool = False) -> pd.DataFrame:
    """Sort by any column, missing values last in both directions; stable on ties."""
    if by not in df:
        raise FilterError(f"cannot sort by unknown column {by!r}")
    key = df[by]
    if key.dtype == object or str(key.dtype).startswith("string"):
        key = key.astype("string").str.lower()
    order = key.sort_values(ascending=not descending, na_position="last", kind="stable").index
    return df.loc[order]


@dataclass
class View:
    """A filtered, sorted view plus the note explaining what was hidden and why."""

    frame: pd.DataFrame
    total: int
    note: str = ""


def apply_filters(df: pd.DataFrame, state: FilterState) -> View:
    """Filter + sort ``df`` (the wide leaderboard frame) by ``state``; raises FilterError on bad input."""
    total = len(df)
    if df.empty:
        return View(df, total, "")
    mask = search_mask(df, state.search, state.regex)
    for name in CATEGORY_FILTERS:
        picked = getattr(state, name)
        if picked and name in df:
            mask &= df[name].isin(picked)
    if "params_m" in df:
        mask &= range_mask(df["params_m"], state.params_min, state.params_max)
    if "latency_p50_ms" in df:
        mask &= range_mask(df["latency_p50_ms"], state.latency_min, state.latency_max)
    out = df[mask]
    notes = []
    missing = _missing_in_ranges(out, state)
    if missing:
        notes.append(missing)
    if state.pareto and not out.empty:
        x, y = pareto_axes(out)
        front = pareto_front(out, x, y)
        hidden = int((out[x].isna() | out[y].isna()).sum())
        out = out[front]
        label = "top-1" if y == "top1" else "throughput"
        notes.append(f"Pareto only: best {label} for its p50 latency per hardware profile")
        if hidden:
            notes.append(f"{hidden} row(s) without {label} or latency cannot be on the front")
    out = sort_frame(out, state.sort_by, state.descending)
    return View(out, total, "; ".join(notes))


def _missing_in_ranges(df: pd.DataFrame, state: FilterState) -> str:
    parts = []
    if (state.params_min is not None or state.params_max is not None) and "params_m" in df:
        n = int(df["params_m"].isna().sum())
        if n:
            parts.append(f"{n} row(s) without params kept")
    if (state.latency_min is not None or state.latency_max is not None) and "latency_p50_ms" in df:
        n = int(df["latency_p50_ms"].isna().sum())
        if n:
            parts.append(f"{n} row(s) without latency kept")
    return ", ".join(parts)


def choices(df: pd.DataFrame, column: str) -> list[str]:
    """Sorted distinct non-missing values of a category column (for the filter dropdowns)."""
    if df.empty or column not in df:
        return []
    return sorted(str(v) for v in df[column].dropna().unique())
