"""Server-side filtering, sorting and the Pareto front: pure functions of (DataFrame, FilterState).

Missing numbers are never silently dropped by a range filter: a row without params or latency stays
in the view (shown as missing). Bad user input (an invalid regex) raises :class:`FilterError` with a
one-line message for the UI instead of crashing.

Nothing a request carries can take unbounded time: regex search runs on RE2 (linear time; lookaround
and backreferences are refused), the search text is at most :data:`MAX_SEARCH_CHARS`, and URL/form
lists and strings are capped (:data:`MAX_LIST_ITEMS`, :data:`MAX_ITEM_CHARS`, :data:`MAX_QUERY_CHARS`).
Which fields are searched and filtered comes from :mod:`leaderboard.columns`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pandas as pd
import re2

from leaderboard.columns import (
    BY_NAME,
    CATEGORY_FILTER_FIELDS,
    CATEGORY_URL_KEYS,
    COLUMNS,
    DEFAULT_TASK,
    DEFAULT_VISIBLE,
    RANGE_FILTERS,
    SEARCH_FIELDS,
    SORTABLE,
    TASK_TITLES,
    primary_metric,
)

MAX_SEARCH_CHARS = 200  # search text (plain or regex)
MAX_LIST_ITEMS = 64  # values of one multi-select (categories, columns)
MAX_ITEM_CHARS = 200  # one value of a multi-select or the sort column
MAX_QUERY_CHARS = 8192  # a whole URL query string


def normalize_columns(names) -> tuple[str, ...]:
    """Known, non-pinned column names in registry order (pinned ones are always shown anyway)."""
    wanted = set(names or ())
    return tuple(c.name for c in COLUMNS if c.name in wanted and not c.pinned)


DEFAULT_COLUMNS = normalize_columns(DEFAULT_VISIBLE)


class FilterError(ValueError):
    """The filter cannot be applied as given; the message says why (shown to the user)."""


@dataclass(frozen=True)
class FilterState:
    """Everything that defines a view; serialisable to and from a URL query string.

    A view is of one task (its rows, metric columns, rank and Pareto front); the rest narrows it."""

    search: str = ""
    regex: bool = False
    task: str = DEFAULT_TASK
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

# URL parameter names (short, stable) <-> FilterState fields; filter keys come from the column registry.
URL_KEYS: dict[str, str] = {
    "search": "q",
    "regex": "re",
    "task": "task",
    **CATEGORY_URL_KEYS,
    **{
        attr: key
        for r in RANGE_FILTERS.values()
        for attr, key in ((r.min_attr, r.min_key), (r.max_attr, r.max_key))
    },
    "sort_by": "sort",
    "descending": "desc",
    "pareto": "pareto",
    "columns": "cols",
}
_RANGE_ATTRS = frozenset(a for r in RANGE_FILTERS.values() for a in (r.min_attr, r.max_attr))


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


def decode_state(query: str | Mapping[str, object]) -> FilterState:
    """Inverse of :func:`encode_state`; unknown keys and malformed values fall back to the defaults.

    Bounded: the query is cut at :data:`MAX_QUERY_CHARS`, lists keep their first :data:`MAX_LIST_ITEMS`
    values and drop values longer than :data:`MAX_ITEM_CHARS`. An over-long search text is kept (cut to
    the query cap) so that filtering refuses it with a message rather than silently showing everything.
    """
    if isinstance(query, str):
        params: Mapping[str, object] = dict(
            parse_qsl(query[:MAX_QUERY_CHARS].lstrip("?"), keep_blank_values=True)
        )
    else:
        params = query if isinstance(query, Mapping) else {}
    kw: dict[str, Any] = {}
    for f in fields(FilterState):
        value = params.get(URL_KEYS[f.name])
        if not isinstance(value, str):
            continue
        raw = value[:MAX_QUERY_CHARS]
        default = getattr(DEFAULT_STATE, f.name)
        if isinstance(default, bool):
            kw[f.name] = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, tuple):
            items = bounded_items(raw.split(","))
            kw[f.name] = normalize_columns(items) if f.name == "columns" else items
        elif f.name in _RANGE_ATTRS:
            try:
                val = float(raw[:64])
            except ValueError:
                continue
            if np.isfinite(val):
                kw[f.name] = val
        elif f.name == "sort_by":
            if raw in SORTABLE:
                kw[f.name] = raw
        elif f.name == "task":
            if raw in TASK_TITLES:
                kw[f.name] = raw
        else:
            kw[f.name] = raw
    return replace(DEFAULT_STATE, **kw)


def bounded_items(values: object) -> tuple[str, ...]:
    """Distinct non-empty strings of at most MAX_ITEM_CHARS, first MAX_LIST_ITEMS of them (others dropped)."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        return ()
    ok = (v for v in values[: MAX_LIST_ITEMS * 4] if isinstance(v, str) and 0 < len(v) <= MAX_ITEM_CHARS)
    return tuple(dict.fromkeys(ok))[:MAX_LIST_ITEMS]


def check_state(state: FilterState) -> None:
    """Refuse a state no URL decode would produce (a hostile form post): over-long lists or values."""
    if len(state.search or "") > MAX_SEARCH_CHARS:
        raise FilterError(f"search text is {len(state.search):,} characters; at most {MAX_SEARCH_CHARS}")
    if state.task not in TASK_TITLES:
        raise FilterError(f"unknown task {str(state.task)[:40]!r}; use one of {', '.join(TASK_TITLES)}")
    for name in (*CATEGORY_FILTER_FIELDS, "columns"):
        values = getattr(state, name)
        if len(values) > MAX_LIST_ITEMS or any(
            not isinstance(v, str) or len(v) > MAX_ITEM_CHARS for v in values
        ):
            raise FilterError(
                f"too many or too long {name} values (at most {MAX_LIST_ITEMS} of {MAX_ITEM_CHARS} chars)"
            )


# --- filtering -----------------------------------------------------------------------------------------
def _re2_options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False  # a bad pattern is the user's FilterError, not a line on the server's stderr
    opts.case_sensitive = False
    opts.max_mem = 8 << 20  # bounds the compiled program (huge counted repetitions fail to compile)
    return opts


def matcher(text: str, regex: bool = False) -> Callable[[str], bool]:
    """A yes/no test of one value: case-insensitive substring, or an RE2 search (linear time) if ``regex``.

    Raises FilterError for text over MAX_SEARCH_CHARS and for patterns RE2 cannot run (syntax errors,
    lookaround, backreferences). ``regex=False`` never compiles anything.
    """
    if len(text) > MAX_SEARCH_CHARS:
        raise FilterError(f"search text is {len(text):,} characters; at most {MAX_SEARCH_CHARS}")
    if not regex:
        needle = text.casefold()
        return lambda value: needle in value.casefold()
    try:
        pattern = re2.compile(text, _re2_options())
    except (re2.error, UnicodeError) as exc:
        why = (
            exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        )
        hint = (
            " (lookaround and backreferences are not supported: search runs in linear time)"
            if "perl operator" in why or "escape sequence" in why
            else ""
        )
        raise FilterError(f"invalid regular expression {text!r}: {why}{hint}") from None

    def search(value: str) -> bool:
        try:
            return pattern.search(value) is not None
        except UnicodeError:  # a lone surrogate in a record's text cannot be UTF-8 encoded: no match
            return False

    return search


def search_mask(df: pd.DataFrame, text: str, regex: bool = False) -> pd.Series:
    """Rows where any searchable column contains ``text`` (case-insensitive; an RE2 regex if ``regex``).

    Each distinct value is tested once, so the cost is linear in the size of the searchable text.
    """
    return pd.Series(FrameIndex(df).search(text, regex), index=df.index)


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
    all kept. O(n log n) and vectorised (200k rows in milliseconds): sort by x asc (y desc); within each
    run of equal x the first point holds the group's best y, and a group is on the front when that y
    beats every earlier group's.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.zeros(len(x), dtype=bool)
    ok = np.flatnonzero(~(np.isnan(x) | np.isnan(y)))
    if not len(ok):
        return out
    order = ok[np.lexsort((-y[ok], x[ok]))]
    xs, ys = x[order], y[order]
    starts = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(starts) - 1
    best = ys[starts]  # each group's best y (its first point)
    before = np.r_[-np.inf, np.maximum.accumulate(best)[:-1]]  # best y of all earlier groups
    on_front = (ys == best[group]) & (best[group] > before[group])
    out[order[on_front]] = True
    return out


def pareto_axes(df: pd.DataFrame, task: str = DEFAULT_TASK) -> tuple[str, str]:
    """(x, y) the front is drawn on: latency vs the task's primary metric (top-1, box mAP, mIoU,
    keypoint AP) when any row has it, else vs throughput."""
    metric = primary_metric(task)
    if metric in df and df[metric].notna().any():
        return "latency_p50_ms", metric
    return "latency_p50_ms", "throughput_ips"


def _axes(df: pd.DataFrame, rows: np.ndarray, task: str) -> tuple[str, str]:
    """:func:`pareto_axes` of the rows at ``rows`` (without taking them out of the frame)."""
    metric = primary_metric(task)
    if metric in df and bool(df[metric].notna().to_numpy()[rows].any()):
        return "latency_p50_ms", metric
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


def _sort_key(values: pd.Series) -> pd.Series:
    """Text sorts case-insensitively; everything else by value."""
    if values.dtype == object or str(values.dtype).startswith("string"):
        return values.astype("string").str.lower()
    return values


def sort_frame(df: pd.DataFrame, by: str, descending: bool = False) -> pd.DataFrame:
    """Sort by any column, missing values last in both directions; stable on ties."""
    if by not in df:
        raise FilterError(f"cannot sort by unknown column {by!r}")
    order = _sort_key(df[by]).sort_values(ascending=not descending, na_position="last", kind="stable").index
    return df.loc[order]


@dataclass
class View:
    """A filtered, sorted view: positions into the whole frame (never a copy of it) plus the note
    explaining what was hidden and why. ``frame`` materialises the rows only when a caller needs all of
    them (exports, the API); the table takes one page (:meth:`page`)."""

    source: pd.DataFrame
    rows: np.ndarray  # positions in ``source``, in view order
    total: int
    note: str = ""

    @property
    def size(self) -> int:
        return len(self.rows)

    @cached_property
    def frame(self) -> pd.DataFrame:
        return self.source.iloc[self.rows]

    def page(self, start: int, stop: int) -> pd.DataFrame:
        return self.source.iloc[self.rows[start:stop]]

    def take(self, names: Iterable[str]) -> pd.DataFrame:
        """Every row of the view with only the named columns (a chart needs a few of forty)."""
        cols = [self.source.columns.get_loc(n) for n in dict.fromkeys(names) if n in self.source]
        return self.source.iloc[self.rows, cols]


class FrameIndex:
    """What every filter, sort and page of one table reuses, computed once per table snapshot
    (``leaderboard.cache.Snapshot.index``): stable sort orders per column, the search columns factorised
    (each distinct value tested once), category choices, and the last views asked for (a page change or
    the chart after the table reuses the filter). A filter then costs a few vectorised passes over arrays
    and never copies the frame. Safe to share between threads: entries are computed idempotently."""

    MAX_MEMO = 48  # views and other per-snapshot results kept (least recently used dropped)

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self._orders: dict[tuple[str, bool], np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._memo: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def order(self, by: str, descending: bool = False) -> np.ndarray:
        """Positions of every row sorted by ``by`` (missing last both ways, stable on ties)."""
        got = self._orders.get((by, descending))
        if got is None:
            if by not in self.df:
                raise FilterError(f"cannot sort by unknown column {by!r}")
            key = _sort_key(self.df[by].reset_index(drop=True))
            got = key.sort_values(
                ascending=not descending, na_position="last", kind="stable"
            ).index.to_numpy()
            self._orders[(by, descending)] = got
        return got

    def codes(self, column: str) -> tuple[np.ndarray, list[str]]:
        """(code of each row, distinct values as text); code -1 = missing."""
        got = self._codes.get(column)
        if got is None:
            codes, uniques = pd.factorize(self.df[column], use_na_sentinel=True)
            got = (np.asarray(codes), [str(u) for u in uniques])
            self._codes[column] = got
        return got

    def search(self, text: str, regex: bool = False) -> np.ndarray:
        """Boolean per row: any searchable column matches (see :func:`matcher`)."""
        text = (text or "").strip()
        if not text:
            return np.ones(len(self.df), dtype=bool)
        match = matcher(text, regex)
        mask = np.zeros(len(self.df), dtype=bool)
        for col in SEARCH_FIELDS:
            if col in self.df:
                codes, uniques = self.codes(col)
                hits = np.fromiter((match(u) for u in uniques), dtype=bool, count=len(uniques))
                if hits.any():
                    mask |= np.append(hits, False)[codes]  # code -1 (missing) takes the False at the end
        return mask

    def choices(self, column: str) -> list[str]:
        """Sorted distinct values of a category column (the filter dropdowns)."""
        return self.cached(("choices", column), lambda: choices(self.df, column))

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key while it stays among the :data:`MAX_MEMO` most recent."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > self.MAX_MEMO:
                self._memo.popitem(last=False)
        return value

    def view(self, state: FilterState) -> View:
        """The view of ``state`` (memoised; the picked columns do not change the rows)."""
        check_state(state)
        return self.cached(("view", replace(state, columns=())), lambda: self._filter(state))

    def _filter(self, state: FilterState) -> View:
        df = self.df
        total = len(df)
        if df.empty:
            return View(df, np.arange(0), total, "")
        mask = self.search(state.search, state.regex)
        if "task" in df:
            mask &= (df["task"] == state.task).to_numpy(dtype=bool)
        for name in CATEGORY_FILTER_FIELDS:
            picked = getattr(state, name)
            if picked and name in df:
                mask &= df[name].isin(picked).to_numpy(dtype=bool)
        for name, rf in RANGE_FILTERS.items():
            if name in df:
                inside = range_mask(df[name], getattr(state, rf.min_attr), getattr(state, rf.max_attr))
                mask &= inside.fillna(True).to_numpy(dtype=bool)
        rows = np.flatnonzero(mask)
        notes = []
        missing = _missing_in_ranges(df, rows, state)
        if missing:
            notes.append(missing)
        if state.pareto and len(rows):
            rows, note = self._pareto(rows, state.task)
            notes.append(note)
        order = self.order(state.sort_by, state.descending)
        keep = np.zeros(total, dtype=bool)
        keep[rows] = True
        return View(df, order[keep[order]], total, "; ".join(notes))

    def _pareto(self, rows: np.ndarray, task: str) -> tuple[np.ndarray, str]:
        """The rows on the front of their hardware profile, and the note saying so."""
        df = self.df
        x, y = _axes(df, rows, task)
        xs = df[x].to_numpy(dtype=float, na_value=np.nan)[rows]
        ys = df[y].to_numpy(dtype=float, na_value=np.nan)[rows]
        groups = self.codes("hardware_profile")[0][rows]
        front = np.zeros(len(rows), dtype=bool)
        for g in np.unique(groups):
            sel = groups == g
            front[sel] = pareto_mask(xs[sel], ys[sel])
        hidden = int((np.isnan(xs) | np.isnan(ys)).sum())
        label = "throughput" if y == "throughput_ips" else BY_NAME[y].label.removesuffix(" %")
        note = f"Pareto only: best {label} for its p50 latency per hardware profile"
        if hidden:
            note += f"; {hidden} row(s) without {label} or latency cannot be on the front"
        return rows[front], note


def apply_filters(df: pd.DataFrame, state: FilterState, index: FrameIndex | None = None) -> View:
    """Filter + sort ``df`` (the wide leaderboard frame) by ``state``; raises FilterError on bad input.
    Pass the snapshot's ``index`` (built over the same ``df``) to reuse its sort orders and views."""
    return (index if index is not None else FrameIndex(df)).view(state)


def _missing_in_ranges(df: pd.DataFrame, rows: np.ndarray, state: FilterState) -> str:
    parts = []
    for name, rf in RANGE_FILTERS.items():
        bounded = getattr(state, rf.min_attr) is not None or getattr(state, rf.max_attr) is not None
        if bounded and name in df and (n := int(df[name].isna().to_numpy()[rows].sum())):
            parts.append(f"{n} row(s) without {rf.word} kept")
    return ", ".join(parts)


def choices(df: pd.DataFrame, column: str) -> list[str]:
    """Sorted distinct non-missing values of a category column (for the filter dropdowns)."""
    if df.empty or column not in df:
        return []
    return sorted(str(v) for v in df[column].dropna().unique())


@dataclass(frozen=True)
class Culprit:
    """One active filter and how many rows the view would have without it (everything else kept)."""

    field: str  # FilterState field ("search", "backend", "latency", ...)
    label: str  # plain text for people: 'search "abc"', "Backend = onnxruntime", "p50 ms (bs1) ≤ 3"
    rows: int


def _active_filters(state: FilterState) -> list[tuple[str, str, FilterState]]:
    """(field, label, state without that filter) for every filter that narrows ``state``'s view."""
    out: list[tuple[str, str, FilterState]] = []
    if (state.search or "").strip():
        kind = "regex" if state.regex else "search"
        out.append(("search", f'{kind} "{state.search.strip()}"', replace(state, search="", regex=False)))
    for name in CATEGORY_FILTER_FIELDS:
        picked = getattr(state, name)
        if picked:
            label = next((c.label for c in COLUMNS if c.name == name), name)
            cleared: dict[str, Any] = {name: ()}
            out.append((name, f"{label} = {', '.join(picked)}", replace(state, **cleared)))
    for name, rf in RANGE_FILTERS.items():
        lo, hi = getattr(state, rf.min_attr), getattr(state, rf.max_attr)
        if lo is None and hi is None:
            continue
        bounds = [f"≥ {lo:g}" if lo is not None else "", f"≤ {hi:g}" if hi is not None else ""]
        label = f"{rf.label} {' and '.join(b for b in bounds if b)}"
        unbounded: dict[str, Any] = {rf.min_attr: None, rf.max_attr: None}
        out.append((name, label, replace(state, **unbounded)))
    return out


def empty_view_culprits(
    df: pd.DataFrame, state: FilterState, index: FrameIndex | None = None
) -> list[Culprit]:
    """For a view with no rows: each single filter whose removal alone brings rows back, most rows first.

    Empty when the board itself is empty, when the view is not empty, or when no single filter is to
    blame (two or more together remove everything). Costs one filter pass per active filter, and runs
    only for an empty view.
    """
    index = index if index is not None else FrameIndex(df)
    if df.empty or index.view(state).size:
        return []
    found = []
    for field_name, label, without in _active_filters(state):
        n = index.view(without).size
        if n:
            found.append(Culprit(field_name, label, n))
    return sorted(found, key=lambda c: -c.rows)


def describe_empty_view(df: pd.DataFrame, state: FilterState, index: FrameIndex | None = None) -> str:
    """One plain-text sentence for an empty view: which filter removed the rows and what undoing it gives."""
    if not df.empty and "task" in df and not (df["task"] == state.task).any():
        return f"No {TASK_TITLES.get(state.task, state.task).lower()} results yet."
    culprits = empty_view_culprits(df, state, index)
    if not culprits:
        if not _active_filters(state):
            return "No rows match this view."
        return "No rows match these filters together; remove some of them or reset the view."
    parts = [f"{c.label} (without it: {c.rows:,} row{'s' if c.rows != 1 else ''})" for c in culprits[:4]]
    return "No rows match. Removed by " + "; ".join(parts) + "."
