"""The Leaderboard tab: filtered, paged table, chart, row details, exports and the shareable URL.

The view logic (:func:`render_view`, :func:`render_plot`, :func:`details_of`, :func:`export_view`) takes an
:class:`AppState` and a :class:`FilterState` and returns plain data, so it is tested without a browser;
:class:`LeaderboardTab` only maps it onto its components by name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

import settings
from leaderboard import columns as C
from leaderboard import present
from leaderboard.charts import accuracy_latency_scatter
from leaderboard.filters import (
    DEFAULT_STATE,
    FilterError,
    FilterState,
    View,
    apply_filters,
    decode_state,
    encode_state,
)
from leaderboard.markup import escape_markdown
from ui import resources
from ui.filter_controls import FilterControls, state_from_values
from ui.state import AppState, current, refresh_seconds, seeding_wanted

PAGE_SIZE = present.PAGE_SIZE
KEEP_EXPORTS = 50  # a long-running Space must not fill its disk with exports


@dataclass
class ViewPage:
    """One page of a view, ready to show."""

    frame: pd.DataFrame
    datatypes: list[Any]  # Gradio Dataframe datatypes ("str", "markdown", ...)
    pinned: int
    row_ids: list[str]
    page: int
    pages: int
    status: str
    query: str


def empty_message(st: AppState) -> str:
    """What an empty board says: how the first row gets there."""
    lines = [
        "### No results yet",
        "Nothing has been measured on this leaderboard so far. To add the first model:",
        "1. open the **Submit** tab and submit a timm architecture (e.g. `resnet18`) or a Hub model "
        "(`hf-hub:org/name`);",
        "2. a maintainer approves it in **Review**; the worker measures it and the row appears here;",
        "3. or from a shell: `python -m eval_queue submit resnet18`, `python -m eval_queue approve ID`, "
        "`python -m eval_queue work --once`.",
    ]
    if seeding_wanted(st.stores):
        lines.append(
            "\nA small reference suite is queued on an empty local store; rows appear as each finishes."
        )
    return "\n".join(lines)


def filtered(wide: pd.DataFrame, fs: FilterState) -> tuple[View, str]:
    """(view, problem): a filter that cannot run is reported and left out, never raised. A bad search
    drops the search only; anything else that cannot run shows the default view."""
    try:
        return apply_filters(wide, fs), ""
    except FilterError as exc:
        problem = f"**Filter problem:** {escape_markdown(exc)}"  # it may quote the search
    try:
        return apply_filters(wide, replace(fs, search="", regex=False)), problem
    except FilterError:
        return apply_filters(wide, DEFAULT_STATE), problem


def render_view(st: AppState, fs: FilterState, page: int = 1) -> ViewPage:
    """The table side of the tab for a filter state (the hot path; the chart follows separately)."""
    wide = st.snapshot().wide
    view, error = filtered(wide, fs)
    frame, dtypes, row_ids, page, pages = present.display_page(view.frame, fs.columns, page, PAGE_SIZE)
    if wide.empty:
        status = empty_message(st)
    else:
        first = (page - 1) * PAGE_SIZE + 1 if len(view.frame) else 0
        last = min(page * PAGE_SIZE, len(view.frame))
        status = f"Showing **{first}–{last}** of **{len(view.frame)}** rows ({view.total} in total)."
        if view.note:
            status += f" {escape_markdown(view.note)}."
        if error:
            status = f"{error}\n\n{status}"
    pinned = C.frozen_count(C.visible_columns(fs.columns))
    return ViewPage(frame, dtypes, pinned, row_ids, page, pages, status, encode_state(fs))


def render_plot(st: AppState, fs: FilterState) -> go.Figure:
    """The accuracy-vs-latency chart of a view."""
    return accuracy_latency_scatter(filtered(st.snapshot().wide, fs)[0].frame)


def details_of(st: AppState, row_ids: list[str], index: Any) -> str:
    """Markdown details of the clicked row of the current page (escaped by leaderboard.present)."""
    try:
        rid = row_ids[int(index[0] if isinstance(index, (list, tuple)) else index)]
    except (IndexError, TypeError, ValueError):
        return "Click a row to see its details."
    wide = st.snapshot().wide
    match = wide[wide["row_id"] == rid] if "row_id" in wide else wide.iloc[0:0]
    if match.empty:
        return "That row is no longer in the table; refresh the page."
    return present.row_details(match.iloc[0].to_dict())


def export_view(st: AppState, fs: FilterState, fmt: str) -> Path:
    """Write the view (raw values) as CSV or Parquet to the export folder; old exports are pruned."""
    try:
        view = apply_filters(st.snapshot().wide, fs)
    except FilterError as exc:
        raise gr.Error(str(exc)) from None
    out = present.export_frame(view.frame)
    old = sorted(st.export_dir.glob("leaderboard-*"), key=lambda p: p.stat().st_mtime)
    for stale in old[:-KEEP_EXPORTS]:
        stale.unlink(missing_ok=True)
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}"
    path = st.export_dir / f"leaderboard-{stamp}.{fmt}"
    if fmt == "csv":
        out.to_csv(path, index=False)
    else:
        out.to_parquet(path, index=False)
    return path


def page_number(value: Any) -> int:
    try:
        return max(1, int(float(value)))
    except (TypeError, ValueError, OverflowError):
        return 1


@dataclass
class LeaderboardTab:
    """The tab's components; its handlers return ``{component: value}``."""

    controls: FilterControls
    status: gr.Markdown
    table: gr.Dataframe
    page: gr.Number
    page_md: gr.Markdown
    url_query: gr.Textbox
    row_ids: gr.State
    shown: gr.State  # load time of the data the table shows; the timer redraws when it changes
    plot: gr.Plot
    details: gr.Markdown
    export_file: gr.File
    prev_btn: gr.Button
    next_btn: gr.Button
    csv_btn: gr.Button
    parquet_btn: gr.Button
    timer: gr.Timer

    @classmethod
    def build(cls) -> LeaderboardTab:
        url_query = gr.Textbox(visible=False, elem_id="url-query")
        status = gr.Markdown(elem_id="lb-status", elem_classes="lb-note")
        controls = FilterControls.build(current().snapshot().wide)
        table = gr.Dataframe(
            interactive=False, wrap=False, elem_id="lb-table", max_height=620, label="Results"
        )
        with gr.Row():
            prev_btn = gr.Button("◀ Previous", size="sm", scale=0)
            page_md = gr.Markdown("page 1 / 1")
            next_btn = gr.Button("Next ▶", size="sm", scale=0)
            page = gr.Number(value=1, visible=False, precision=0)
            csv_btn = gr.Button("Download CSV of this view", size="sm", scale=0, elem_id="lb-csv")
            parquet_btn = gr.Button("Download Parquet of this view", size="sm", scale=0)
        export_file = gr.File(label="Export", visible=False, elem_id="lb-export")
        details = gr.Markdown(
            "Click a row to see all its numbers and the command that reproduces it.", elem_id="lb-details"
        )
        plot = gr.Plot(label="Accuracy vs latency", elem_id="lb-plot")
        return cls(
            controls=controls,
            status=status,
            table=table,
            page=page,
            page_md=page_md,
            url_query=url_query,
            row_ids=gr.State([]),
            shown=gr.State(None),
            plot=plot,
            details=details,
            export_file=export_file,
            prev_btn=prev_btn,
            next_btn=next_btn,
            csv_btn=csv_btn,
            parquet_btn=parquet_btn,
            timer=gr.Timer(refresh_seconds(settings.get("LEADERBOARD_REFRESH_S"), 10.0)),
        )

    # --- outputs ----------------------------------------------------------------------------------------
    @property
    def view_outputs(self) -> list:
        return [self.table, self.status, self.page, self.page_md, self.url_query, self.row_ids]

    def view_updates(self, vp: ViewPage) -> dict:
        return {
            self.table: gr.Dataframe(value=vp.frame, datatype=vp.datatypes, pinned_columns=vp.pinned),
            self.status: vp.status,
            self.page: vp.page,
            self.page_md: f"page {vp.page} / {vp.pages}",
            self.url_query: vp.query,
            self.row_ids: vp.row_ids,
        }

    # --- handlers (filter values arrive by FilterState field name) ----------------------------------------
    def on_filter(self, page: Any = 1, **values: Any) -> dict:
        return self.view_updates(render_view(current(), state_from_values(values), page_number(page)))

    def on_prev(self, page: Any, **values: Any) -> dict:
        return self.on_filter(page_number(page) - 1, **values)

    def on_next(self, page: Any, **values: Any) -> dict:
        return self.on_filter(page_number(page) + 1, **values)

    def on_plot(self, **values: Any) -> dict:
        return {self.plot: render_plot(current(), state_from_values(values))}

    def on_load(self, request: gr.Request) -> dict:
        """Read the view from the URL query, fill the controls and draw the first page."""
        params = dict(request.query_params) if request is not None else {}
        fs = decode_state(params)
        st = current()
        snap = st.snapshot()
        out = self.controls.fill(snap.wide, fs)
        out.update(self.view_updates(render_view(st, fs, page_number(params.get("page")))))
        out[self.shown] = snap.loaded_at
        return out

    def on_tick(self, page: Any, shown: Any, **values: Any) -> dict:
        """Redraw the current view only when new results arrived since it was drawn."""
        st = current()
        snap = st.snapshot()
        if shown == snap.loaded_at:
            return {}
        fs = state_from_values(values)
        out = self.view_updates(render_view(st, fs, page_number(page)))
        out[self.plot] = render_plot(st, fs)
        out[self.shown] = snap.loaded_at
        out.update(self.controls.category_updates(snap.wide, fs))  # new families or hardware may arrive
        return out

    def on_select(self, row_ids: list[str], evt: gr.SelectData) -> dict:
        return {self.details: details_of(current(), row_ids or [], evt.index)}

    def _export(self, fmt: str, values: dict[str, Any]) -> dict:
        path = export_view(current(), state_from_values(values), fmt)
        return {self.export_file: gr.File(value=str(path), visible=True)}

    def on_csv(self, **values: Any) -> dict:
        return self._export("csv", values)

    def on_parquet(self, **values: Any) -> dict:
        return self._export("parquet", values)

    # --- wiring -----------------------------------------------------------------------------------------
    def wire(self, demo: gr.Blocks) -> None:
        fields = self.controls.by_field
        view = self.view_outputs
        changed = gr.on(
            self.controls.triggers(),
            self.on_filter,
            inputs_kwargs=fields,
            outputs=view,
            trigger_mode="always_last",
            show_progress="hidden",
            api_name="filter",
        )
        changed.then(None, inputs=self.url_query, js=resources.text("set_url_query.js"))
        # the chart follows once the browser has painted the table, so it never holds the table up
        changed.then(None, js=resources.text("yield_to_paint.js")).then(
            self.on_plot, inputs_kwargs=fields, outputs=[self.plot], show_progress="hidden", api_name="plot"
        )
        self.prev_btn.click(self.on_prev, inputs=[self.page], inputs_kwargs=fields, outputs=view)
        self.next_btn.click(self.on_next, inputs=[self.page], inputs_kwargs=fields, outputs=view)
        self.table.select(self.on_select, inputs=[self.row_ids], outputs=[self.details])
        self.csv_btn.click(self.on_csv, inputs_kwargs=fields, outputs=[self.export_file])
        self.parquet_btn.click(self.on_parquet, inputs_kwargs=fields, outputs=[self.export_file])
        demo.load(self.on_load, outputs=[*fields.values(), *view, self.shown]).then(
            self.on_plot, inputs_kwargs=fields, outputs=[self.plot], show_progress="hidden"
        )
        self.timer.tick(
            self.on_tick,
            inputs=[self.page, self.shown],
            inputs_kwargs=fields,
            outputs=[*view, self.plot, self.shown, *fields.values()],
            show_progress="hidden",
        )
