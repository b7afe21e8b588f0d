"""The Leaderboard tab's view handlers in-process: the no-match message names the filter to undo, Reset
view restores the default, the table's widths and CSS come from the registry, a click marks its row, and
every change of the search text (typed, pasted, cleared) refilters."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from leaderboard import columns as C
from leaderboard.filters import DEFAULT_STATE
from tests._leaderboard_helpers import installed_board, make_record, make_run
from ui import leaderboard_tab
from ui.blocks import build_ui
from ui.filter_controls import values_from_state


@pytest.fixture()
def board(tmp_path):
    records = [
        make_record(model="resnet18", runs=[make_run(p50=5.0), make_run("onnxruntime", p50=3.0)]),
        make_record(model="vit_tiny_patch16_224", runs=[make_run(p50=9.0)]),
    ]
    with installed_board(tmp_path, records) as st:
        yield st


def test_no_match_names_the_filter_that_removed_the_rows_escaped(board):
    fs = replace(DEFAULT_STATE, search="vit", backend=("onnxruntime",))
    vp = leaderboard_tab.render_view(board, fs, 1)
    assert vp.row_ids == [] and "No rows match" in vp.status and "Reset view" in vp.status
    assert "search" in vp.status and "Backend = onnxruntime" in vp.status and "1 row)" in vp.status
    hostile = leaderboard_tab.render_view(board, replace(DEFAULT_STATE, search="<img src=x>*_x_*"), 1)
    assert "<img" not in hostile.status and "&lt;img" in hostile.status and r"\*" in hostile.status


def test_a_refused_regex_is_not_blamed_for_an_empty_view(board):
    fs = replace(DEFAULT_STATE, search="(", regex=True, backend=("nope",))
    vp = leaderboard_tab.render_view(board, fs, 1)
    assert "invalid regular expression" in vp.status and "Backend = nope" in vp.status
    assert "regex" not in vp.status.split("No rows match")[1]


def test_table_widths_fit_and_numbers_are_right_aligned_from_the_registry():
    visible = C.visible_columns(DEFAULT_STATE.columns)
    widths = leaderboard_tab.column_widths(visible)
    assert len(widths) == len(visible) and all(w.endswith("%") for w in widths)
    assert abs(sum(float(w[:-1]) for w in widths) - 100) < 0.1  # never wider than the table's box
    model = visible.index("model")
    assert float(widths[model][:-1]) == max(float(w[:-1]) for w in widths)
    css = leaderboard_tab.table_css(visible)
    numeric = {i for i, n in enumerate(visible) if C.column(n).numeric}
    right = "\n".join(line for line in css.splitlines() if "flex-end" in line)
    aligned = {int(i) for i in re.findall(r"\[data-col='(\d+)'\]", right)}
    assert numeric and aligned == numeric
    phone = "\n".join(line for line in css.splitlines() if line.startswith("@media (max-width: 640px)"))
    wider = {int(i) for i in re.findall(r"\[data-col='(\d+)'\]", phone)}  # names get room on a phone
    assert wider == {i for i, n in enumerate(visible) if not C.column(n).numeric} - {0, model}
    assert "data-row" not in css
    marked = leaderboard_tab.table_css(visible, 3)
    assert "[data-row='3']" in marked and "--lb-selected" in marked
    assert "data-row" not in leaderboard_tab.table_css(visible, None)


def test_clicked_row_index_is_bounded():
    assert leaderboard_tab.clicked_row([2, 5]) == 2 and leaderboard_tab.clicked_row(4) == 4
    for bad in (None, "x", [], [-1, 0], float("inf"), ["<b>", 1]):
        assert leaderboard_tab.clicked_row(bad) is None


def test_reset_view_restores_every_control_and_the_first_page(board):
    ui = build_ui()
    out = ui.board.on_reset()
    by = ui.board.controls.by_field
    for name, value in values_from_state(DEFAULT_STATE).items():
        got = out[by[name]]
        got = got.value if hasattr(got, "value") and not isinstance(got, (list, str)) else got
        assert got == value or (got in (None, []) and value in (None, [], ())), name
    assert out[ui.board.url_query] == "" and "of **3** rows" in out[ui.board.status]
    assert "Click a row" in out[ui.board.details]


def test_select_marks_the_row_and_shows_its_details(board):
    ui = build_ui()
    vp = leaderboard_tab.render_view(board, DEFAULT_STATE, 1)

    class Evt:
        index = [1, 2]

    out = ui.board.on_select(vp.row_ids, columns=list(DEFAULT_STATE.columns), evt=Evt())
    assert "[data-row='1']" in out[ui.board.style] and "python -m harness" in out[ui.board.details]
    Evt.index = "junk"
    out = ui.board.on_select(vp.row_ids, columns="<script>", evt=Evt())
    assert "data-row" not in out[ui.board.style] and "Click a row" in out[ui.board.details]


def test_search_refilters_on_change_not_only_on_typed_input(board):
    ui = build_ui()
    search = ui.board.controls.by_field["search"]
    chains = [fn for fn in ui.demo.fns.values() if (search._id, "change") in {tuple(t) for t in fn.targets}]
    assert chains, "the search box's change event (paste, Backspace-to-empty) triggers nothing"
    assert all(fn.trigger_mode == "always_last" and fn.js for fn in chains)  # debounced in the browser


def test_only_what_changed_is_sent_again(board):
    """A filter change re-sends the table's rows and the parts that differ; the table's types, pins and
    widths only when the columns changed, the CSS and pager only when they differ from what was sent."""
    import gradio as gr

    ui = build_ui()
    lb = ui.board
    first = lb.on_filter()  # nothing sent yet: everything goes
    assert isinstance(first[lb.table], gr.Dataframe) and first[lb.table].column_widths
    assert {lb.status, lb.page, lb.page_md, lb.url_query, lb.style} <= set(first)
    sent = first[lb.sent]
    again = lb.on_filter(1, sent, backend=["onnxruntime"])  # same columns and page
    assert not isinstance(again[lb.table], gr.Dataframe) and len(again[lb.table]) == 1  # the rows only
    assert lb.status in again and lb.url_query in again  # these changed
    assert lb.page not in again and lb.page_md not in again and lb.style not in again  # these did not
    wider = lb.on_filter(1, again[lb.sent], backend=["onnxruntime"], columns=["top1", "gmacs"])
    assert isinstance(wider[lb.table], gr.Dataframe) and lb.style in wider  # new columns: types and CSS
    # a click marks a row: the CSS differs from what was sent, so the next filter sends it again
    picked = lb.on_select(
        wider[lb.row_ids],
        columns=["top1", "gmacs"],
        evt=type("E", (), {"index": [0, 1]})(),
        sent=wider[lb.sent],
    )
    after = lb.on_filter(1, picked[lb.sent], backend=["onnxruntime"], columns=["top1", "gmacs"])
    assert lb.style in after and "data-row" not in after[lb.style]


def test_the_chart_is_built_only_while_its_accordion_is_open(board):
    import gradio as gr

    ui = build_ui()
    closed = ui.board.on_plot("family", False)
    assert closed[ui.board.plot] == gr.skip()  # nothing built, nothing sent
    opened = ui.board.on_chart_open("family")
    assert opened[ui.board.chart_open] is True and len(opened[ui.board.plot].data) >= 1
    assert ui.board.on_plot("family", True)[ui.board.plot] is opened[ui.board.plot]  # memoised per view
    assert ui.board.on_chart_close() == {ui.board.chart_open: False}
