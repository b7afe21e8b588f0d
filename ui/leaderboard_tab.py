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
from leaderboard.cache import Snapshot
from leaderboard.charts import COLOR_BY, accuracy_latency_scatter, chart_fields
from leaderboard.filters import (
    DEFAULT_STATE,
    FilterError,
    FilterState,
    View,
    decode_state,
    describe_empty_view,
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
    style: str  # CSS for this page: numeric columns right-aligned (the clicked row is added on select)
    widths: list[str]  # each visible column's share of the table's width, so the default view fits
    columns: list[str]  # the visible columns (the table's types, pins and widths follow from them)


def empty_message(st: AppState) -> str:
    """What an empty board says: how the first row gets there."""
    lines = [
        "### No results yet",
        "Nothing has been measured on this leaderboard so far. To add the first model:",
        "1. open the **Submit** tab and submit a timm architecture (e.g. `resnet18`), a torchvision model "
        "with its task (`torchvision:ssdlite320_mobilenet_v3_large`, task detection) or a Hub model "
        "(`hf-hub:org/name`);",
        "2. a maintainer approves it in **Review** with the admin token (a local board prints it at its "
        "first start and keeps it in `data/admin-token`); the worker measures it and the row appears here;",
        "3. or from a shell: `.venv/bin/python -m submissions resnet18 --by you`, "
        "`LEADERBOARD_TOKEN=$(cat data/admin-token) .venv/bin/python -m eval_queue approve ID`, "
        "`.venv/bin/python -m eval_queue work --once`.",
    ]
    if seeding_wanted(st.stores):
        lines.append(
            "\nA small reference suite is queued on an empty local store; rows appear as each finishes."
        )
    return "\n".join(lines)


def filtered(snap: Snapshot, fs: FilterState) -> tuple[View, str]:
    """(view, problem): a filter that cannot run is reported and left out, never raised. A bad search
    drops the search only; anything else that cannot run shows the default view. Views come from the
    snapshot's index (memoised: a page change or the chart after the table reuses the filter)."""
    try:
        return snap.view(fs), ""
    except FilterError as exc:
        problem = f"**Filter problem:** {escape_markdown(exc)}"  # it may quote the search
    try:
        return snap.view(replace(fs, search="", regex=False)), problem
    except FilterError:
        return snap.view(DEFAULT_STATE), problem


def render_view(st: AppState, fs: FilterState, page: int = 1) -> ViewPage:
    """The table side of the tab for a filter state (the hot path; the chart follows separately): only
    the shown page is taken from the frame and formatted."""
    snap = st.snapshot()
    wide = snap.wide
    view, error = filtered(snap, fs)
    frame, dtypes, row_ids, page, pages = present.display_page(
        view, fs.columns, page, PAGE_SIZE, task=fs.task
    )
    if wide.empty:
        status = empty_message(st)
    else:
        n = view.size
        first = (page - 1) * PAGE_SIZE + 1 if n else 0
        last = min(page * PAGE_SIZE, n)
        status = f"Showing **{first}–{last}** of **{n}** rows ({view.total} in total)."
        if view.note:
            status += f" {escape_markdown(view.note)}."
        if not n:
            empty = describe_empty_view(wide, view_state(fs, error), snap.index)
            status = f"**{escape_markdown(empty)}** {RESET_HINT}"
        if error:
            status = f"{error}\n\n{status}"
    visible = C.visible_columns(fs.columns, fs.task)
    pinned = C.frozen_count(visible)
    return ViewPage(
        frame,
        dtypes,
        pinned,
        row_ids,
        page,
        pages,
        status,
        encode_state(fs),
        table_css(visible),
        column_widths(visible),
        visible,
    )


RESET_HINT = "Use **Reset view** to see every row."
CHART_TITLE = "Chart: accuracy (or throughput) vs latency, with the Pareto front"


def stamp_of(snap: Snapshot) -> str:
    """Which data a page shows: the load time of its snapshot (a string: it travels through the page)."""
    return repr(snap.loaded_at)


def view_state(fs: FilterState, error: str) -> FilterState:
    """The state the shown view was really filtered with (a refused search is dropped, see filtered)."""
    return replace(fs, search="", regex=False) if error else fs


# relative widths, in units of about 76 px of the 1440x900 desktop's table (1376 px): a number or a short
# word needs little, a name its typical length in full: a timm id with its tag (~32 characters), a family
# with its prefix ("test_efficientnet", "tf_mobilenetv3"), a backend ("torch-compile"), a hardware
# profile ("cpu-amd-epyc-7b13-2c", "cuda-nvidia-a10g"); every two-line numeric header ("Params (M)") fits
_WEIGHTS = {
    "model": 3.1,
    "hardware_profile": 2.3,
    "family": 1.7,
    "backend": 1.42,
    "rank": 0.74,
    "device": 0.8,
    "precision": 1.15,
    "noisy": 1.0,
}
_NUMBER_WEIGHT = 0.95
_WORD_WEIGHT = 1.1


def column_widths(visible: list[str]) -> list[str]:
    """Widths of the visible columns as shares of the table's width (summing to 100%), so the default
    view fits a desktop without sideways scrolling; long headers wrap and long cells end in an ellipsis
    (style.css, which on a phone gives every column a readable fixed width and lets the table scroll)."""
    weights = [_WEIGHTS.get(n, _NUMBER_WEIGHT if C.column(n).numeric else _WORD_WEIGHT) for n in visible]
    total = sum(weights) or 1.0
    return [f"{100 * w / total:.2f}%" for w in weights]


# a phone's fixed widths (px) for word columns: style.css gives every column 76px, which clips names
_PHONE_WORD_PX = 112
_PHONE_PX = {"hardware_profile": 160}


def _phone_width(px: int) -> str:
    return f"width: {px}px !important; min-width: {px}px !important; max-width: {px}px !important; flex: 0 0 {px}px !important;"


def table_css(visible: list[str], selected: int | None = None) -> str:
    """CSS for the table: numeric columns (from the registry) right-aligned, the clicked row marked.

    Gradio's grid cells carry ``data-row`` and ``data-col`` (headers ``data-testid="header-COL"``); those
    survive its virtual scrolling, unlike nth-child positions."""
    cols = [i for i, name in enumerate(visible) if C.column(name).numeric]
    rules = []
    if cols:
        cells = ", ".join(f"#lb-table [data-col='{i}'] .cell-wrap" for i in cols)
        heads = ", ".join(f"#lb-table [data-testid='header-{i}'] .header-content" for i in cols)
        rules.append(f"{cells} {{ justify-content: flex-end; text-align: right; }}")
        rules.append(f"{heads} {{ justify-content: flex-end; text-align: right; }}")
    words = [
        i for i, name in enumerate(visible) if not C.column(name).numeric and name not in ("model", "rank")
    ]
    widths: dict[int, list[int]] = {}  # phone width -> its word columns
    for i in words:
        widths.setdefault(_PHONE_PX.get(visible[i], _PHONE_WORD_PX), []).append(i)
    for px, group in widths.items():  # on a phone words get more room than style.css's 76px
        sel = ", ".join(  # the doubled id outranks style.css, which Gradio prefixes with three classes
            f"#lb-table#lb-table [role=gridcell][data-col='{i}'], #lb-table#lb-table th[data-testid='header-{i}']"
            for i in group
        )
        rules.append(f"@media (max-width: 640px) {{ {sel} {{ {_phone_width(px)} }} }}")
    if selected is not None and selected >= 0:
        rules.append(f"#lb-table [data-row='{int(selected)}'] {{ background: var(--lb-selected); }}")
    return "\n".join(rules)


def render_plot(st: AppState, fs: FilterState, color_by: str = "family") -> go.Figure:
    """The chart of a view: the same rows as the table (every page), coloured by ``color_by``; built once
    per (view, colour) and table snapshot, from only the columns it plots."""
    snap = st.snapshot()
    colour = color_by if color_by in COLOR_BY else "family"

    def build() -> go.Figure:
        rows = filtered(snap, fs)[0].take(chart_fields(fs.task))
        return accuracy_latency_scatter(rows, color_by=colour, task=fs.task)

    return snap.index.cached(("plot", replace(fs, columns=()), colour), build)


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
    """Write the view (raw values, the task's columns) as CSV or Parquet to the export folder; old
    exports are pruned."""
    try:
        view = st.snapshot().view(fs)
    except FilterError as exc:
        raise gr.Error(str(exc)) from None
    out = present.export_frame(view.frame, fs.task)
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


def clicked_row(index: Any) -> int | None:
    """The page row of a Dataframe select event's index (``[row, col]`` or ``row``); None if malformed."""
    try:
        row = int(index[0] if isinstance(index, (list, tuple)) else index)
    except (IndexError, TypeError, ValueError, OverflowError):
        return None
    return row if row >= 0 else None


# A view change (filter, search, sort, page, reset, a row's details) skips Gradio's queue: one HTTP
# request answers it, instead of a queue join and an event stream, and one visitor's filter never
# waits behind another's (the queue runs each event one at a time). Each is a memoised lookup of a
# few milliseconds; the regex search runs on RE2, so no input can hold a server thread.
DIRECT: dict[str, Any] = {"queue": False}


@dataclass
class LeaderboardTab:
    """The tab's components; its handlers return ``{component: value}``."""

    controls: FilterControls
    status: gr.Markdown
    table: gr.Dataframe
    page: gr.Number
    page_md: gr.Markdown
    url_query: gr.Textbox
    style: gr.Textbox  # hidden: the table's CSS (see table_css), applied by ui/static/set_style.js
    row_ids: gr.State
    shown: gr.Textbox  # hidden: stamp of the snapshot the table shows (stamp_of); the timer redraws when it
    # changes, and the page load redraws nothing when the page config already holds it (first_page)
    sent: gr.State  # what the browser already shows (see view_updates): unchanged parts are not re-sent
    chart_box: gr.Accordion  # the chart is built only while this is open
    chart_open: gr.State
    plot: gr.Plot
    color_by: gr.Dropdown
    details: gr.Markdown
    export_file: gr.File
    prev_btn: gr.Button
    next_btn: gr.Button
    csv_btn: gr.Button
    parquet_btn: gr.Button
    timer: gr.Timer
    first_page_stamp: str | None = None  # the snapshot the components' initial values were taken from

    @classmethod
    def build(cls) -> LeaderboardTab:
        url_query = gr.Textbox(visible=False, elem_id="url-query")
        style = gr.Textbox(visible=False, elem_id="lb-style")
        controls = FilterControls.build(current().snapshot().wide)
        status = gr.Markdown(elem_id="lb-status", elem_classes="lb-note")
        table = gr.Dataframe(
            interactive=False, wrap=False, elem_id="lb-table", max_height=560, show_label=False
        )
        with gr.Row(elem_id="lb-pager", equal_height=True):
            prev_btn = gr.Button("◀ Previous", size="sm", scale=0, min_width=90)
            page_md = gr.Markdown("page 1 / 1", elem_id="lb-page")
            next_btn = gr.Button("Next ▶", size="sm", scale=0, min_width=80)
            page = gr.Number(value=1, visible=False, precision=0)
            csv_btn = gr.Button("CSV of this view", size="sm", scale=0, min_width=120, elem_id="lb-csv")
            parquet_btn = gr.Button("Parquet", size="sm", scale=0, min_width=80, elem_id="lb-parquet")
        export_file = gr.File(label="Export", visible=False, elem_id="lb-export")
        details = gr.Markdown(
            "Click a row to see all its numbers and the command that reproduces it.", elem_id="lb-details"
        )
        # closed by default: drawing thousands of points costs the browser more than the table does,
        # so the chart is built (from a capped sample) only while someone looks at it
        with gr.Accordion(CHART_TITLE, open=False, elem_id="lb-chart") as chart_box:
            with gr.Row(equal_height=True):
                color_by = gr.Dropdown(
                    label="Chart colour",
                    choices=[(label, name) for name, label in COLOR_BY.items()],
                    value="family",
                    scale=0,
                    min_width=160,
                    elem_id="lb-color",
                )
            plot = gr.Plot(show_label=False, elem_id="lb-plot")
        return cls(
            controls=controls,
            status=status,
            table=table,
            page=page,
            page_md=page_md,
            url_query=url_query,
            style=style,
            row_ids=gr.State([]),
            shown=gr.Textbox(visible=False, elem_id="lb-shown"),
            sent=gr.State({}),
            chart_box=chart_box,
            chart_open=gr.State(False),
            plot=plot,
            color_by=color_by,
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
        return [
            self.table,
            self.status,
            self.page,
            self.page_md,
            self.url_query,
            self.row_ids,
            self.style,
            self.sent,
        ]

    def view_updates(self, vp: ViewPage, sent: Any = None) -> dict:
        """The outputs of a view, leaving out what the browser already shows (``sent``: what the last
        update of this session sent): the table's types, pins and widths only when the columns changed,
        and the pager, URL query and table CSS only when they differ. Every omitted component keeps its
        value and costs the browser no re-render."""
        sent = sent if isinstance(sent, dict) else {}
        now = {
            "columns": list(vp.columns),
            "status": vp.status,
            "page": vp.page,
            "page_md": f"page {vp.page} / {vp.pages}",
            "query": vp.query,
            "style": vp.style,
        }
        out: dict = {self.row_ids: vp.row_ids, self.sent: now}
        if sent.get("columns") == now["columns"]:
            out[self.table] = vp.frame
        else:
            out[self.table] = gr.Dataframe(
                value=vp.frame,
                datatype=vp.datatypes,
                pinned_columns=vp.pinned,
                column_widths=list(vp.widths),
            )
        parts = (
            (self.status, "status"),
            (self.page, "page"),
            (self.page_md, "page_md"),
            (self.url_query, "query"),
            (self.style, "style"),
        )
        out.update({comp: now[key] for comp, key in parts if key not in sent or sent[key] != now[key]})
        return out

    # --- handlers (filter values arrive by FilterState field name) ----------------------------------------
    def on_filter(self, page: Any = 1, sent: Any = None, **values: Any) -> dict:
        vp = render_view(current(), state_from_values(values), page_number(page))
        return self.view_updates(vp, sent)

    def on_prev(self, page: Any, sent: Any = None, **values: Any) -> dict:
        return self.on_filter(page_number(page) - 1, sent, **values)

    def on_next(self, page: Any, sent: Any = None, **values: Any) -> dict:
        return self.on_filter(page_number(page) + 1, sent, **values)

    def on_plot(self, color_by: Any = "family", chart_open: Any = True, **values: Any) -> dict:
        """The chart of the view, only while its accordion is open (else nothing is built or sent)."""
        if chart_open is not True:
            return {self.plot: gr.skip()}
        colour = color_by if isinstance(color_by, str) else "family"
        return {self.plot: render_plot(current(), state_from_values(values), colour)}

    def on_chart_open(self, color_by: Any = "family", **values: Any) -> dict:
        out = self.on_plot(color_by, True, **values)
        out[self.chart_open] = True
        return out

    def on_chart_close(self) -> dict:
        return {self.chart_open: False}

    def on_reset(self) -> dict:
        """Every control back to the default view, the first page drawn (the URL query is cleared)."""
        st = current()
        out = self.controls.fill(st.snapshot().wide, DEFAULT_STATE)
        out.update(self.view_updates(render_view(st, DEFAULT_STATE, 1)))
        out[self.details] = "Click a row to see all its numbers and the command that reproduces it."
        return out

    def on_load(self, request: gr.Request, shown: Any = None) -> dict:
        params = dict(request.query_params) if request is not None else {}
        return self.url_view(params, shown)

    def url_view(self, params: dict[str, str], shown: Any = None) -> dict:
        """Read the view from the URL query, fill the controls and draw the first page. A page opened
        without a view in its URL already shows the default view from its config, with its session's
        states (first_page), so nothing is sent at all, even when newer results arrived meanwhile: the
        visitor may already have changed a filter (this answer would undo it), and the timer's tick
        redraws the view the controls hold then. Only a page whose config had no data (no ``shown``)
        is drawn here."""
        fs = decode_state(params)
        page = page_number(params.get("page"))
        st = current()
        snap = st.snapshot()
        if fs == DEFAULT_STATE and page == 1 and shown:
            return {self.shown: gr.skip()}
        out = self.controls.fill(snap.wide, fs)
        out.update(self.view_updates(render_view(st, fs, page)))
        out[self.shown] = stamp_of(snap)
        return out

    def first_page(self) -> dict | None:
        """The initial values of a page without a view in its URL, when the data changed since the last
        call (else None): what url_view sends a page that shows nothing yet, i.e. every control at its
        default with the current choices, the default view's first page, and the states a session
        starts with (its row ids, what it was sent), so that page needs no event to show its rows."""
        if self.first_page_stamp == stamp_of(current().snapshot()):
            return None
        out = self.url_view({})
        self.first_page_stamp = out[self.shown]
        return out

    def on_tick(
        self,
        page: Any,
        shown: Any,
        color_by: Any = "family",
        chart_open: Any = False,
        sent: Any = None,
        **values: Any,
    ) -> dict:
        """Redraw the current view only when new results arrived since it was drawn (the chart too
        when it is open)."""
        st = current()
        snap = st.snapshot()
        if shown == stamp_of(snap):  # nothing new: no redraw (an empty dict is not an update in Gradio)
            return {self.shown: gr.skip()}
        fs = state_from_values(values)
        out = self.view_updates(render_view(st, fs, page_number(page)), sent)
        out.update(self.on_plot(color_by, chart_open, **values))
        out[self.shown] = stamp_of(snap)
        out.update(self.controls.category_updates(snap.wide, fs))  # new families or hardware may arrive
        return out

    def on_select(
        self, row_ids: list[str], columns: Any, evt: gr.SelectData, task: Any = None, sent: Any = None
    ) -> dict:
        """The clicked row's details, and the row marked in the table."""
        row = clicked_row(evt.index)
        fs = state_from_values({"columns": columns, "task": task})
        visible = C.visible_columns(fs.columns, fs.task)
        style = table_css(visible, row)
        return {
            self.details: details_of(current(), row_ids or [], evt.index),
            self.style: style,
            self.sent: {**(sent if isinstance(sent, dict) else {}), "style": style},
        }

    def _export(self, fmt: str, values: dict[str, Any]) -> dict:
        path = export_view(current(), state_from_values(values), fmt)
        return {self.export_file: gr.File(value=str(path), visible=True)}

    def on_csv(self, **values: Any) -> dict:
        return self._export("csv", values)

    def on_parquet(self, **values: Any) -> dict:
        return self._export("parquet", values)

    # --- wiring -----------------------------------------------------------------------------------------
    def _redraw_after(self, event: Any, fields: dict[str, Any]) -> None:
        """After a view change: the URL follows, then (once the table is painted) the chart."""
        event.then(None, inputs=self.url_query, js=resources.text("set_url_query.js"))
        event.then(None, js=resources.text("yield_to_paint.js")).then(
            self.on_plot,
            inputs_kwargs={"color_by": self.color_by, "chart_open": self.chart_open, **fields},
            outputs=[self.plot],
            show_progress="hidden",
            api_visibility="private",
        )

    def wire(self, demo: gr.Blocks) -> None:
        fields = self.controls.by_field
        view = self.view_outputs
        changed = gr.on(
            self.controls.triggers(),
            self.on_filter,
            inputs_kwargs={"sent": self.sent, **fields},
            outputs=view,
            trigger_mode="always_last",
            show_progress="hidden",
            api_name="filter",  # the browser's path (one page of display strings); readers use /query
            **DIRECT,
        )
        self._redraw_after(changed, fields)
        # search: wait a moment for more keys (debounce), then one filter with the latest text; with
        # always_last, keys typed while a filter runs collapse into one more filter afterwards
        typed = gr.on(
            self.controls.search_triggers(),
            None,
            js=resources.text("debounce.js"),
            trigger_mode="always_last",
        ).then(
            self.on_filter,
            inputs_kwargs={"sent": self.sent, **fields},
            outputs=view,
            trigger_mode="always_last",  # a filter already running is followed by one with the latest text
            show_progress="hidden",
            api_visibility="private",
            **DIRECT,
        )
        self._redraw_after(typed, fields)
        if self.controls.reset is not None:
            reset = self.controls.reset.click(
                self.on_reset,
                outputs=[*fields.values(), *view, self.details],
                show_progress="hidden",
                api_visibility="private",
                **DIRECT,
            )
            self._redraw_after(reset, fields)
        self.color_by.input(
            self.on_plot,
            inputs_kwargs={"color_by": self.color_by, **fields},
            outputs=[self.plot],
            show_progress="hidden",
            api_visibility="private",
        )
        self.chart_box.expand(
            self.on_chart_open,
            inputs_kwargs={"color_by": self.color_by, **fields},
            outputs=[self.plot, self.chart_open],
            show_progress="hidden",
            api_visibility="private",
        )
        self.chart_box.collapse(
            self.on_chart_close, outputs=[self.chart_open], show_progress="hidden", api_visibility="private"
        )
        self.style.change(None, inputs=self.style, js=resources.text("set_style.js"))
        pager: dict[str, Any] = {
            "inputs": [self.page],
            "inputs_kwargs": {"sent": self.sent, **fields},
            "outputs": view,
            "api_visibility": "private",
            **DIRECT,
        }
        self.prev_btn.click(self.on_prev, **pager)
        self.next_btn.click(self.on_next, **pager)
        self.table.select(
            self.on_select,
            inputs=[self.row_ids],
            inputs_kwargs={"columns": fields["columns"], "task": fields["task"], "sent": self.sent},
            outputs=[self.details, self.style, self.sent],
            api_visibility="private",
            **DIRECT,
        ).then(None, js=resources.text("show_details.js"))
        private: dict[str, Any] = {"api_visibility": "private"}
        self.csv_btn.click(self.on_csv, inputs_kwargs=fields, outputs=[self.export_file], **private)
        self.parquet_btn.click(self.on_parquet, inputs_kwargs=fields, outputs=[self.export_file], **private)
        # the page config already shows the default view (first_page): a page with a view in its URL hides
        # the table until this load has drawn that view (pending_view.js), a page without one shows it
        demo.load(None, inputs=self.style, js=resources.text("set_style.js"))
        demo.load(
            self.on_load,
            inputs_kwargs={"shown": self.shown},
            outputs=[*fields.values(), *view, self.shown],
            show_progress="hidden",
            api_visibility="undocumented",  # the page's own start (a shared URL); programs use /query
        ).then(None, js=resources.text("view_ready.js"))
        self.timer.tick(
            self.on_tick,
            inputs=[self.page, self.shown],
            inputs_kwargs={
                "color_by": self.color_by,
                "chart_open": self.chart_open,
                "sent": self.sent,
                **fields,
            },
            outputs=[*view, self.plot, self.shown, *fields.values()],
            show_progress="hidden",
            api_visibility="private",
        )
