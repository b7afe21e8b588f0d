"""The Leaderboard's filter inputs: one Gradio component per :class:`FilterState` field, keyed by the
field's name, so handlers receive ``{field: value}`` and build the state by name, never by position.

The category dropdowns and range boxes come from the column registry (``filter="category"``/``"range"``):
a new filter is one registry entry; build() refuses to start if a FilterState field has no control.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import gradio as gr
import pandas as pd

from leaderboard import columns as C
from leaderboard.filters import DEFAULT_STATE, FilterState, choices, normalize_columns

__all__ = [
    "CATEGORY_FIELDS",
    "FilterControls",
    "RANGE_FIELDS",
    "state_from_values",
    "values_from_state",
]

CATEGORY_FIELDS: tuple[str, ...] = C.CATEGORY_FILTER_FIELDS
# FilterState attribute -> label of its number box, from the registry's range filters
RANGE_FIELDS: dict[str, str] = {
    attr: f"{r.label} {sign}"
    for r in C.RANGE_FILTERS.values()
    for attr, sign in ((r.min_attr, "≥"), (r.max_attr, "≤"))
}


def _finite_or_none(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def state_from_values(values: Mapping[str, Any]) -> FilterState:
    """A FilterState from ``{field: control value}``; a missing or malformed value takes the default."""
    kw: dict[str, Any] = {}
    for f in fields(FilterState):
        if f.name not in values:
            continue
        raw, default = values[f.name], getattr(DEFAULT_STATE, f.name)
        if f.name == "columns":
            kw[f.name] = normalize_columns(raw if isinstance(raw, (list, tuple)) else ())
        elif isinstance(default, bool):
            kw[f.name] = bool(raw) if isinstance(raw, (bool, int)) else default
        elif isinstance(default, tuple):
            items = raw if isinstance(raw, (list, tuple)) else ()
            kw[f.name] = tuple(dict.fromkeys(x for x in items if isinstance(x, str)))
        elif default is None:
            kw[f.name] = _finite_or_none(raw)
        elif f.name == "sort_by":
            kw[f.name] = raw if isinstance(raw, str) and raw in C.SORTABLE else default
        elif f.name == "task":
            kw[f.name] = raw if isinstance(raw, str) and raw in C.TASK_TITLES else default
        else:
            kw[f.name] = raw if isinstance(raw, str) else default
    return FilterState(**kw)


def values_from_state(fs: FilterState) -> dict[str, Any]:
    """What each control shows for ``fs`` (lists for multiselects)."""
    return {f.name: list(v) if isinstance(v := getattr(fs, f.name), tuple) else v for f in fields(fs)}


@dataclass
class FilterControls:
    """The components, by FilterState field name. Build inside a Blocks context."""

    by_field: dict[str, Any]  # FilterState field -> its Gradio component (event methods vary by class)
    reset: Any = None  # the "Reset view" button (None only in a layout without one)

    @classmethod
    def build(cls, wide: pd.DataFrame | None = None) -> FilterControls:
        """The controls, category choices taken from ``wide``. Values outside the choices are accepted
        (a shared URL or an API call may name a backend that arrived after start-up): they filter
        like any other value.

        Table first: the task selector and one compact row (search, Regex, Pareto, Reset view) stay open;
        everything else (category and range filters, sort, the column picker) folds into one accordion."""
        wide = pd.DataFrame() if wide is None else wide
        c: dict[str, Any] = {}
        c["task"] = gr.Radio(
            choices=C.TASK_CHOICES,
            value=DEFAULT_STATE.task,
            show_label=False,
            container=False,
            elem_id="lb-task",
            elem_classes="lb-task",
        )
        with gr.Row(equal_height=True, elem_id="lb-bar"):
            c["search"] = gr.Textbox(
                show_label=False,
                placeholder="Search model, architecture, family, backend…",
                scale=6,
                min_width=160,
                elem_id="lb-search",
                container=False,
            )
            c["regex"] = gr.Checkbox(
                label="Regex", scale=0, min_width=80, elem_id="lb-regex", container=False
            )
            c["pareto"] = gr.Checkbox(
                label="Pareto only", scale=0, min_width=110, elem_id="lb-pareto", container=False
            )
            reset = gr.Button("Reset view", size="sm", scale=0, min_width=100, elem_id="lb-reset")
        with gr.Accordion("Filters, sort and columns", open=False, elem_id="lb-more"):
            with gr.Row():
                for name in CATEGORY_FIELDS:
                    c[name] = gr.Dropdown(
                        label=C.column(name).label,
                        multiselect=True,
                        choices=choices(wide, name),
                        allow_custom_value=True,
                        elem_id=f"lb-{name}",
                        min_width=140,
                    )
            with gr.Row():
                for name, label in RANGE_FIELDS.items():
                    c[name] = gr.Number(label=label, value=None, elem_id=f"lb-{name}", min_width=120)
                c["sort_by"] = gr.Dropdown(
                    label="Sort by",
                    choices=C.SORT_CHOICES,
                    value=DEFAULT_STATE.sort_by,
                    elem_id="lb-sort",
                    min_width=160,
                )
                c["descending"] = gr.Checkbox(label="Descending", min_width=110, elem_id="lb-desc")
            c["columns"] = gr.Dropdown(
                label="Columns (Model is always shown)",
                choices=C.COLUMN_CHOICES,
                value=list(DEFAULT_STATE.columns),
                multiselect=True,
                elem_id="lb-columns",
            )
        missing = {f.name for f in fields(FilterState)} - set(c)
        if missing:  # a FilterState field this layout does not place: fail at start-up, not silently
            raise TypeError(f"no control for filter field(s) {sorted(missing)}")
        return cls(c, reset)

    def triggers(self) -> list:
        """Every user edit of a control except the search box, whose typing, pasting and clearing all
        arrive through :meth:`search_triggers` (debounced)."""
        return [comp.input for name, comp in self.by_field.items() if name != "search"]

    def search_triggers(self) -> list:
        """The search text changed in any way (typed, pasted, cut, cleared) or Enter was pressed.

        Gradio 6 fires ``.input`` only for typed characters, so ``.change`` is the one that sees a paste
        or Backspace-to-empty; it also fires when the server sets the box (a shared URL, Reset view),
        which refilters to the same view."""
        return [self.by_field["search"].change, self.by_field["search"].submit]

    def category_updates(self, wide: pd.DataFrame, fs: FilterState) -> dict:
        """Choices of the category dropdowns from the data; values already picked stay choosable."""
        with warnings.catch_warnings():  # Gradio warns for any list value of a multiselect; ours are valid
            warnings.simplefilter("ignore", UserWarning)
            return {
                self.by_field[n]: gr.Dropdown(choices=sorted(set(choices(wide, n)) | set(getattr(fs, n))))
                for n in CATEGORY_FIELDS
            }

    def fill(self, wide: pd.DataFrame, fs: FilterState) -> dict:
        """Every control set to ``fs`` (the view read from a shared URL), with current choices."""
        out: dict = {self.by_field[n]: v for n, v in values_from_state(fs).items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for n in CATEGORY_FIELDS:
                options = sorted(set(choices(wide, n)) | set(getattr(fs, n)))
                out[self.by_field[n]] = gr.Dropdown(choices=options, value=list(getattr(fs, n)))
        return out
