"""The Compare tab: 2-6 rows side by side, their latency-vs-batch-size curves and (from their records'
input-size scaling) their latency-vs-resolution curves, one colour per row in both.

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
from leaderboard.charts import latency_batch_curves, latency_resolution_curves
from leaderboard.filters import FilterError, FilterState
from leaderboard.load import scaling_points
from leaderboard.markup import escape_markdown
from store import StoreError, layout
from ui.filter_controls import FilterControls, state_from_values
from ui.state import AppState, current

MAX_CHOICES = 500  # picker options sent to the browser
MAX_PICKED = 6


def compare_choices(st: AppState, fs: FilterState, picked: list[str]) -> list[tuple[str, str]]:
    """(label, row_id) options: the view's first rows in its order, then picked rows not among them."""
    snap = st.snapshot()
    wide = snap.wide
    try:
        first = snap.view(fs).page(0, MAX_CHOICES)  # memoised per snapshot; only these rows are taken
    except FilterError:
        first = wide.head(MAX_CHOICES)
    opts = present.compare_choices(first, ranked=False)
    have = {v for _, v in opts}
    if picked and "row_id" in wide:
        extra = present.compare_choices(wide[wide["row_id"].isin(picked)])
        opts += [c for c in extra if c[1] not in have]
    return opts


@dataclass
class Comparison:
    table: pd.DataFrame  # escaped Markdown cells, the best value of each metric bold
    figure: go.Figure
    note: str
    scaling: go.Figure | None = None  # latency vs input resolution, from the records' scaling points


def row_record(st: AppState, row: dict) -> Any:
    """The row's result record from the results store, or None when it cannot be read."""
    try:
        return st.stores.results.read_json(layout.record_path(str(row.get("key"))))
    except (StoreError, ValueError):
        return None


def run_threads(st: AppState, row: dict, rec: Any = None) -> set[int]:
    """The thread counts the row's runs used, read from its result record (the table does not carry
    them); empty when the record cannot be read."""
    rec = row_record(st, row) if rec is None else rec
    runs = rec.get("runs") if isinstance(rec, dict) else None
    found = set()
    for run in runs if isinstance(runs, list) else []:
        if not isinstance(run, dict):
            continue
        if (run.get("backend"), run.get("precision"), run.get("device")) != (
            row.get("backend"),
            row.get("precision"),
            row.get("device"),
        ):
            continue
        n = run.get("threads")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            found.add(n)
    return found


def compare(st: AppState, row_ids: list[str]) -> Comparison:
    """The side-by-side table (escaped by leaderboard.present, best values bold), the curves (one colour
    per model) and a note: a hint, or a warning when the rows are not like for like."""
    row_ids = [r for r in row_ids if isinstance(r, str)][:MAX_PICKED]
    snap = st.snapshot()
    if not row_ids:
        return Comparison(
            pd.DataFrame({"metric": []}),
            latency_batch_curves(snap.long, [], {}),
            "Pick 2–6 rows to compare.",
            latency_resolution_curves({}, [], {}),
        )
    rows = snap.wide.set_index("row_id")
    labels = {r: present.row_label(rows.loc[r]) for r in row_ids if r in rows.index}
    picked = [{**rows.loc[r].to_dict(), "row_id": r} for r in row_ids if r in rows.index]
    records = {r["row_id"]: row_record(st, r) for r in picked}  # each read once
    threads = {r["row_id"]: run_threads(st, r, records[r["row_id"]]) for r in picked}
    scaling = {
        r["row_id"]: scaling_points(
            records[r["row_id"]], r.get("backend"), r.get("device"), r.get("precision")
        )
        for r in picked
    }
    warnings_ = present.compare_warnings(picked, threads)
    note = "" if len(row_ids) >= 2 else "Pick at least one more row to compare."
    if warnings_:
        note = "**⚠ Not like for like:** " + " ".join(escape_markdown(w) for w in warnings_)
    return Comparison(
        present.compare_table(snap.wide, row_ids, mark_best=True),
        latency_batch_curves(snap.long, row_ids, labels),
        note,
        latency_resolution_curves(scaling, row_ids, labels),
    )


@dataclass
class CompareTab:
    tab: gr.Tab
    pick: gr.Dropdown
    note: gr.Markdown
    table: gr.Dataframe
    plot: gr.Plot
    scaling: gr.Plot

    @classmethod
    def build(cls) -> CompareTab:
        with gr.Tab("Compare", id="compare") as tab:
            note = gr.Markdown("Pick 2–6 rows to compare; best values are **bold**.", elem_id="cmp-note")
            pick = gr.Dropdown(
                label="Rows to compare (2–6)",
                multiselect=True,
                max_choices=MAX_PICKED,
                choices=[],
                elem_id="cmp-pick",
            )
            table = gr.Dataframe(
                interactive=False, elem_id="cmp-table", label="Side by side", datatype="markdown"
            )
            plot = gr.Plot(label="Latency vs batch size", elem_id="cmp-plot")
            scaling = gr.Plot(label="Latency vs input resolution", elem_id="cmp-scaling")
        return cls(tab, pick, note, table, plot, scaling)

    def on_open(self, picked: list[str] | None, **values: Any) -> dict:
        picked = list(picked or [])
        opts = compare_choices(current(), state_from_values(values), picked)
        with warnings.catch_warnings():  # Gradio warns for any list value of a multiselect; ours are valid
            warnings.simplefilter("ignore", UserWarning)
            return {self.pick: gr.Dropdown(choices=opts, value=picked)}

    def on_pick(self, picked: list[str] | None) -> dict:
        c = compare(current(), list(picked or []))
        table = gr.Dataframe(value=c.table, datatype=["markdown"] * len(c.table.columns))
        return {self.table: table, self.plot: c.figure, self.note: c.note, self.scaling: c.scaling}

    def wire(self, controls: FilterControls) -> None:
        self.tab.select(
            self.on_open,
            inputs=[self.pick],
            inputs_kwargs=controls.by_field,
            outputs=[self.pick],
            show_progress="hidden",
            api_visibility="private",
        )
        self.pick.change(
            self.on_pick,
            inputs=[self.pick],
            outputs=[self.table, self.plot, self.note, self.scaling],
            api_visibility="private",
        )
