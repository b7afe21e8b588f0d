"""The Compare tab: 2-6 rows side by side and their latency-vs-batch-size curves.

The picker offers the first rows of the Leaderboard's current view (plus what is already picked), so the
filters there narrow the choice here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from leaderboard import present
from leaderboard.charts import latency_batch_curves
from leaderboard.filters import FilterError, FilterState, apply_filters
from ui.filter_controls import FilterControls, state_from_values
from ui.state import AppState, current

MAX_CHOICES = 500  # picker options sent to the browser
MAX_PICKED = 6


def compare_choices(st: AppState, fs: FilterState, picked: list[str]) -> list[tuple[str, str]]:
    """(label, row_id) options: the view's first rows in its order, then picked rows not among them."""
    wide = st.snapshot().wide
    try:
        view = apply_filters(wide, fs).frame
    except FilterError:
        view = wide
    opts = present.compare_choices(view.head(MAX_CHOICES), ranked=False)
    have = {v for _, v in opts}
    if picked and "row_id" in wide:
        extra = present.compare_choices(wide[wide["row_id"].isin(picked)])
        opts += [c for c in extra if c[1] not in have]
    return opts


@dataclass
class Comparison:
    table: pd.DataFrame
    figure: go.Figure
    note: str


def compare(st: AppState, row_ids: list[str]) -> Comparison:
    """The side-by-side table (escaped by leaderboard.present), the curves and a hint."""
    row_ids = [r for r in row_ids if isinstance(r, str)][:MAX_PICKED]
    snap = st.snapshot()
    if not row_ids:
        return Comparison(
            pd.DataFrame({"metric": []}), latency_batch_curves(snap.long, [], {}), "Pick 2–6 rows to compare."
        )
    rows = snap.wide.set_index("row_id")
    labels = {r: present.row_label(rows.loc[r]) for r in row_ids if r in rows.index}
    note = "" if len(row_ids) >= 2 else "Pick at least one more row to compare."
    return Comparison(
        present.compare_table(snap.wide, row_ids), latency_batch_curves(snap.long, row_ids, labels), note
    )


@dataclass
class CompareTab:
    tab: gr.Tab
    pick: gr.Dropdown
    note: gr.Markdown
    table: gr.Dataframe
    plot: gr.Plot

    @classmethod
    def build(cls) -> CompareTab:
        with gr.Tab("Compare", id="compare") as tab:
            pick = gr.Dropdown(
                label="Rows to compare (2–6)",
                multiselect=True,
                max_choices=MAX_PICKED,
                choices=[],
                elem_id="cmp-pick",
            )
            note = gr.Markdown(elem_id="cmp-note")
            table = gr.Dataframe(interactive=False, elem_id="cmp-table", label="Side by side")
            plot = gr.Plot(label="Latency vs batch size", elem_id="cmp-plot")
        return cls(tab, pick, note, table, plot)

    def on_open(self, picked: list[str] | None, **values: Any) -> dict:
        picked = list(picked or [])
        opts = compare_choices(current(), state_from_values(values), picked)
        with warnings.catch_warnings():  # Gradio warns for any list value of a multiselect; ours are valid
            warnings.simplefilter("ignore", UserWarning)
            return {self.pick: gr.Dropdown(choices=opts, value=picked)}

    def on_pick(self, picked: list[str] | None) -> dict:
        c = compare(current(), list(picked or []))
        return {self.table: c.table, self.plot: c.figure, self.note: c.note}

    def wire(self, controls: FilterControls) -> None:
        self.tab.select(
            self.on_open,
            inputs=[self.pick],
            inputs_kwargs=controls.by_field,
            outputs=[self.pick],
            show_progress="hidden",
        )
        self.pick.change(self.on_pick, inputs=[self.pick], outputs=[self.table, self.plot, self.note])
