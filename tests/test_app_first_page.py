"""The leaderboard's first page travels in the page config (what every page load embeds), so a visitor
sees rows without waiting for the load event: the config holds the default view of the current data,
follows new results on the next read, keeps empty range boxes empty, and the load event then re-sends
nothing the page already shows (only a linked view or newer data is drawn again)."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr
import pytest

from harness.record import check_record_dict
from leaderboard.filters import DEFAULT_STATE
from store import layout
from store.table import rebuild_results_table
from tests._leaderboard_helpers import installed_board, make_record, make_run
from ui import leaderboard_tab
from ui.blocks import build_ui, page_head
from ui.filter_controls import values_from_state


@pytest.fixture()
def board(tmp_path):
    runs = {"resnet18": ("pytorch", "onnxruntime"), "vit_tiny_patch16_224": ("pytorch",)}
    records = [
        make_record(model=m, runs=[make_run(b, p50=5.0) for b in backends]) for m, backends in runs.items()
    ]
    with installed_board(tmp_path, records) as st:
        st.cache.check_every_s = 0  # every read looks for new results
        yield st


def _props(ui, component) -> dict:
    (comp,) = [c for c in ui.demo.config["components"] if c["id"] == component._id]
    return comp["props"]


def _models(ui) -> list[str]:
    value = _props(ui, ui.board.table)["value"]
    col = value["headers"].index("Model")
    return sorted(row[col].split("](")[0].strip("[").replace("\\_", "_") for row in value["data"])


def test_the_config_holds_the_default_views_first_page_and_follows_new_results(board):
    ui = build_ui()
    lb = ui.board
    assert _models(ui) == ["resnet18", "resnet18", "vit_tiny_patch16_224"]
    table = _props(ui, lb.table)
    vp = leaderboard_tab.render_view(board, DEFAULT_STATE, 1)
    assert table["datatype"] == vp.datatypes and table["column_widths"] == vp.widths
    assert table["pinned_columns"] == vp.pinned
    assert (
        "of **3** rows" in _props(ui, lb.status)["value"] and _props(ui, lb.page_md)["value"] == "page 1 / 1"
    )
    assert _props(ui, lb.style)["value"] == vp.style  # numbers right-aligned from the first paint
    stamp = _props(ui, lb.shown)["value"]
    assert stamp == leaderboard_tab.stamp_of(board.snapshot())
    for name in ("params_min", "latency_max"):  # empty range boxes stay empty (a Number defaults to 0)
        assert _props(ui, lb.controls.by_field[name])["value"] is None

    board.stores.results.write_json(
        layout.record_path((rec := make_record(model="convnext_tiny"))["key"]), rec
    )
    rebuild_results_table(board.stores.results, validate=check_record_dict)
    assert "convnext_tiny" in _models(ui)  # the next page load gets the new row in its config
    assert "of **4** rows" in _props(ui, lb.status)["value"]
    assert ("convnext", "convnext") in _props(ui, lb.controls.by_field["family"])["choices"]
    assert _props(ui, lb.shown)["value"] != stamp


def test_the_load_resends_nothing_the_page_already_shows(board):
    ui = build_ui()
    lb = ui.board
    stamp = _props(ui, lb.shown)["value"]
    assert lb.url_view({}, stamp) == {lb.shown: gr.skip()}  # the page shows it: nothing is sent
    # a session starts with the page's row ids (a click finds its row) and knows what the page shows
    vp = leaderboard_tab.render_view(board, DEFAULT_STATE, 1)
    assert lb.row_ids.value == vp.row_ids and lb.sent.value["columns"] == vp.columns
    for params, shown in (({"q": "vit"}, stamp), ({"page": "1", "sort": "top1"}, stamp), ({}, "")):
        full = lb.url_view(params, shown)  # a linked view, or a page whose config had no data: drawn
        assert {lb.table, lb.status, lb.shown, lb.controls.by_field["search"]} <= set(full)
    # Data newer than the page's: the load still sends nothing. The visitor may have ticked a filter in
    # between, which a default redraw would undo (seen in a browser test under load); the tick redraws
    # the view the controls then hold.
    assert lb.url_view({}, "older") == {lb.shown: gr.skip()}
    tick = lb.on_tick(1, "older", **values_from_state(replace(DEFAULT_STATE, pareto=True)))
    assert tick[lb.shown] == stamp and tick[lb.status] == lb.url_view({"pareto": "1"}, stamp)[lb.status]
    assert "of **1** rows" in lb.url_view({"q": "vit"}, stamp)[lb.status]


def test_a_linked_view_hides_the_config_rows_until_the_load_draws_it():
    head = page_head()
    for key in ('"q"', '"task"', '"page"', '"sort"', '"cols"'):
        assert key in head  # every URL key of the view marks the page as pending
    assert head.startswith("<script>") and "lb-pending" in head
