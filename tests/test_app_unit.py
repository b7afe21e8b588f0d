"""The UI's handlers in-process (no browser, no server): empty board, filters by name, details, exports,
compare, submit/review, the refresh timer, start-up (listen address, seeding, review warning)."""

from __future__ import annotations

import logging
import re
from dataclasses import fields, replace

import gradio as gr
import pandas as pd
import pytest

import app
from eval_queue import auth, seed
from leaderboard.filters import DEFAULT_STATE, FilterState
from store import LocalDatasetStore, Stores, layout
from store.table import rebuild_results_table
from tests._leaderboard_helpers import make_record, make_run
from ui import compare_tab, leaderboard_tab, review_tab, state, submit_tab
from ui.blocks import build_ui
from ui.filter_controls import state_from_values, values_from_state

ADMIN = "s3cret"


@pytest.fixture()
def stores(tmp_path, monkeypatch):
    st = Stores(
        results=LocalDatasetStore(tmp_path / "results", "results"),
        queue=LocalDatasetStore(tmp_path / "queue", "queue"),
        backend="local",
    )
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("LEADERBOARD_DATA_DIR", str(tmp_path))  # a generated admin token lands here
    previous = state.install(state.AppState.open(st))
    yield st
    state.install(previous)


@pytest.fixture()
def ui(stores):
    return build_ui()


def _add(st: Stores, *records) -> None:
    from harness.record import check_record_dict

    for rec in records:
        st.results.write_json(layout.record_path(rec["key"]), rec)
    rebuild_results_table(st.results, validate=check_record_dict)
    state.current().cache.check_every_s = 0


def test_empty_store_explains_how_to_add_the_first_model(stores):
    st = state.current()
    vp = leaderboard_tab.render_view(st, DEFAULT_STATE, 1)
    assert "No results yet" in vp.status and "Submit" in vp.status
    assert vp.row_ids == [] and vp.page == 1 and vp.query == ""
    assert leaderboard_tab.render_plot(st, DEFAULT_STATE).layout.annotations  # an explanatory empty chart
    assert compare_tab.compare(st, []).note.startswith("Pick")


def test_filters_details_and_exports(stores):
    _add(
        stores,
        make_record(model="resnet18", runs=[make_run(bs=1, p50=5.0), make_run("onnxruntime", bs=1, p50=3.0)]),
        make_record(model="vit_tiny_patch16_224", runs=[make_run(bs=1, p50=9.0)]),
    )
    st = state.current()
    fs = replace(DEFAULT_STATE, search="vit")
    vp = leaderboard_tab.render_view(st, fs, 1)
    assert len(leaderboard_tab.render_plot(st, fs).data[0].x) == 1
    assert "of **1** rows (3 in total)" in vp.status and vp.query == "q=vit" and len(vp.row_ids) == 1

    details = leaderboard_tab.details_of(st, vp.row_ids, (0, 1))
    assert "vit_tiny_patch16_224" in details and "python -m harness vit_tiny_patch16_224" in details
    assert "Click a row" in leaderboard_tab.details_of(st, vp.row_ids, (5, 0))  # a stale index
    assert "Click a row" in leaderboard_tab.details_of(st, vp.row_ids, None)

    path = leaderboard_tab.export_view(st, replace(DEFAULT_STATE, backend=("pytorch",)), "csv")
    exported = pd.read_csv(path)
    assert sorted(exported.model) == ["resnet18", "vit_tiny_patch16_224"] and "reproduce" in exported

    vp = leaderboard_tab.render_view(st, replace(DEFAULT_STATE, search="(", regex=True), 1)
    assert "invalid regular expression" in vp.status and "of **3** rows" in vp.status  # shown, not raised


def test_a_filter_that_cannot_run_at_all_shows_the_default_view(stores):
    _add(stores, make_record(model="resnet18"))
    too_many = tuple(f"b{i}" for i in range(10_000))
    vp = leaderboard_tab.render_view(state.current(), replace(DEFAULT_STATE, backend=too_many), 1)
    assert "Filter problem" in vp.status and "of **1** rows" in vp.status


def test_controls_are_the_filter_state_fields_by_name(ui):
    names = {f.name for f in fields(FilterState)}
    assert set(ui.board.controls.by_field) == names
    params = ui.demo.get_api_info()["named_endpoints"]["/filter"]["parameters"]
    assert {p["parameter_name"] for p in params} == names  # the API takes the same names


def test_state_from_values_round_trips_and_refuses_wrong_types():
    fs = FilterState(
        search="x",
        family=("vit",),
        params_max=3.0,
        sort_by="top1",
        descending=True,
        columns=("gmacs", "top1"),
    )
    assert state_from_values(values_from_state(fs)) == replace(fs, columns=("top1", "gmacs"))
    hostile = {
        "search": {"$gt": 1},
        "regex": "yes",
        "family": "vit",  # a string, not a list
        "backend": [1, None, "pytorch", {"x": 1}],
        "params_min": float("nan"),
        "params_max": "1e400",
        "latency_max": True,
        "sort_by": "__class__",
        "columns": "gmacs",
        "not_a_field": 1,
    }
    got = state_from_values(hostile)
    assert got == replace(DEFAULT_STATE, backend=("pytorch",), columns=())


def test_filter_handler_returns_outputs_by_component(ui, stores):
    _add(stores, make_record(model="resnet18"), make_record(model="vit_tiny_patch16_224"))
    board = ui.board
    out = board.on_filter(search="vit", regex=False)
    assert "of **1** rows" in out[board.status] and out[board.url_query] == "q=vit" and out[board.page] == 1
    assert board.on_next(1, search="vit")[board.page] == 1  # one page only: stays on it
    assert board.on_prev(1)[board.page] == 1
    assert "of **2** rows" in board.on_filter()[board.status]


def test_timer_redraws_only_when_new_results_arrive(ui, stores):
    _add(stores, make_record(model="resnet18"))
    board = ui.board
    shown = leaderboard_tab.stamp_of(state.current().snapshot())
    nothing = board.on_tick(1, shown)
    assert list(nothing) == [board.shown] and nothing[board.shown] == gr.skip()  # nothing new: no redraw
    _add(stores, make_record(model="vit_tiny_patch16_224"))
    out = board.on_tick(1, shown, family=["resnet"])
    assert "of **1** rows (2 in total)" in out[board.status] and out[board.shown] != shown
    family = out[board.controls.by_field["family"]]
    assert family.choices == [("resnet", "resnet"), ("vit", "vit")]  # new filter options appear


def test_compare_choices_follow_the_leaderboard_view_and_keep_picks(stores):
    _add(stores, make_record(model="resnet18"), make_record(model="vit_tiny_patch16_224"))
    st = state.current()
    wide = st.snapshot().wide
    vit = wide[wide.model == "vit_tiny_patch16_224"].row_id.iloc[0]
    labels = [
        label for label, _ in compare_tab.compare_choices(st, replace(DEFAULT_STATE, search="resnet"), [vit])
    ]
    assert any("resnet18" in lb for lb in labels) and any("vit_tiny" in lb for lb in labels)
    both = compare_tab.compare(st, list(wide.row_id) + ["gone", None])
    assert both.note == "" and both.table.shape[1] == 3


def test_submit_shows_the_exact_refusal_or_the_queued_entry_and_review_approves(ui, stores):
    def form(**kw):
        base = dict(
            model="resnet10t",
            revision="",
            backends=["pytorch"],
            precisions=["fp32"],
            batch_sizes="1",
            device="cpu",
            dataset="none",
            min_duration=0.1,
            name="tester",
        )
        return submit_tab.SubmitForm(**{**base, **kw})

    assert "enter your name" in submit_tab.submit_form(form(name="  "), None)
    bad = submit_tab.submit_form(form(model="not a model!"), None)
    assert bad.startswith("**Refused:**") and len(bad) > 20
    assert "whole numbers" in submit_tab.submit_form(form(batch_sizes="1,x"), None)
    out = ui.submit.on_submit(None, **vars(form()))
    ok = out[ui.submit.out]
    assert "**Queued**" in ok and "PENDING\\_REVIEW" in ok  # Markdown-escaped
    entry_id = re.search(r" as (\S+) — status", ok).group(1)

    review = ui.review
    listed = review.on_list(ADMIN, None)
    assert "Signed in as maintainer" in listed[review.who] and listed[review.pick].value == entry_id
    assert "Refused" in review.on_reject(entry_id, "", ADMIN, None)[review.out]  # reason required
    assert "APPROVED" in review.on_approve(entry_id, ADMIN, None)[review.out]
    queue = ui.queue.on_refresh()
    assert queue[ui.queue.table].Status.tolist() == ["APPROVED"] and "APPROVED: 1" in queue[ui.queue.summary]
    # the Queue tab polls only while it is open: opening it draws the queue and starts the timer,
    # opening any other tab stops it (a visitor reading the board costs no queue request)
    assert ui.queue.timer.active is False
    opened = ui.queue.on_tab(gr.SelectData(None, {"index": 3, "value": "Queue"}))
    assert opened[ui.queue.timer].active is True and "APPROVED: 1" in opened[ui.queue.summary]
    left = ui.queue.on_tab(gr.SelectData(None, {"index": 0, "value": "Leaderboard"}))
    assert set(left) == {ui.queue.timer} and left[ui.queue.timer].active is False


def test_submit_form_offers_the_registered_backends_and_the_boards_datasets(monkeypatch, stores):
    from harness.backends import backend_specs

    monkeypatch.setenv("LEADERBOARD_DATASETS", "digits, imagenet-val")
    ch = submit_tab.FormChoices.current()
    assert ch.backends == tuple(s.name for s in backend_specs())
    assert set(ch.precisions) == {p for s in backend_specs() for p in s.precisions}
    assert ch.datasets == ("digits", "imagenet-val", submit_tab.NO_DATASET)
    assert submit_tab.batch_sizes(" 1, 8 ,") == [1, 8]
    assert submit_tab.SubmitForm("m", "", [], [], "1", "cpu", "none", None, "x").config()["dataset"] is None


def test_review_refuses_without_the_admin_token(ui, stores):
    review = ui.review
    assert "Refused" in review.on_approve("some-id", "wrong", None)[review.out]
    assert "Refused" in review.on_reject("some-id", "bad", "", None)[review.out]
    listed = review.on_list("wrong", None)
    assert "Maintainers only" in listed[review.who] and listed[review.problems] == ""


def test_corrupt_files_are_shown_to_maintainers_only(ui, stores):
    _add(stores, make_record(model="resnet18"))
    stores.results.write_bytes(layout.record_path("broken"), b"{not json")
    bad = make_record(model="resnet34")
    bad["model"]["id"] = ["x"]  # valid JSON, wrong type
    stores.results.write_json(layout.record_path("wrongtype"), bad)
    stores.queue.write_json(layout.entry_path("bad-entry"), {"id": "bad-entry", "status": "NOPE", "lease": 5})
    state.current().cache.get(force=True)
    queue = ui.queue.on_refresh()  # the queue still lists (nothing here), the bad entry is skipped
    assert queue[ui.queue.table].empty and "empty" in queue[ui.queue.summary]
    problems = ui.review.on_list(ADMIN, None)[ui.review.problems]
    assert "broken.json" in problems and "wrongtype.json" in problems and "bad-entry.json" in problems
    assert ui.review.on_list("nope", None)[ui.review.problems] == ""
    assert "of **1** rows" in leaderboard_tab.render_view(state.current(), DEFAULT_STATE, 1).status


def test_problems_note_never_renders_a_reason_as_markup():
    md = review_tab.problems_markdown(["records/x.json: bad `code` <img src=x>\nnext line"])
    assert md.count("`") == 2 and "\n- " in md and "next line" in md.splitlines()[-1]


def test_parquet_export_has_raw_numbers(stores):
    _add(stores, make_record(model="resnet18", runs=[make_run(bs=1, p50=5.0)]))
    df = pd.read_parquet(leaderboard_tab.export_view(state.current(), DEFAULT_STATE, "parquet"))
    assert df.latency_p50_ms.tolist() == [5.0] and df.model.tolist() == ["resnet18"]


def test_listen_address(monkeypatch):
    assert app.listen_address() == "127.0.0.1"
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "org/board")
    assert app.listen_address() == "0.0.0.0"
    monkeypatch.setenv("GRADIO_SERVER_NAME", "10.0.0.7")
    assert app.listen_address() == "10.0.0.7"


@pytest.mark.parametrize("token", ["", "   "])
def test_first_start_of_a_local_board_prints_a_review_token_once_and_seeds(
    stores, monkeypatch, caplog, capsys, tmp_path, token
):
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", token)
    monkeypatch.setenv("LEADERBOARD_WORKER", "0")
    with caplog.at_level(logging.WARNING, logger="leaderboard.app"):
        app.startup(state.current())
    printed = capsys.readouterr().out
    saved = tmp_path / "admin-token"
    assert saved.read_text().strip() in printed and "Review tab token:" in printed and str(saved) in printed
    assert saved.stat().st_mode & 0o777 == 0o600
    assert not any("review is disabled" in r.getMessage() for r in caplog.records)
    assert auth.maintainer_name(None, saved.read_text().strip()) is not None  # approves from the start
    assert len(stores.queue.list_files(layout.ENTRIES_DIR)) == len(seed.SEED_MODELS)
    assert seed.seed_reference_suite(stores) == 0  # not an empty board any more
    app.startup(state.current())
    assert "Review tab token" not in capsys.readouterr().out  # printed once, at the first start only


def test_an_unusable_token_file_leaves_review_off_with_the_reason(stores, monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", "")
    monkeypatch.setenv("LEADERBOARD_WORKER", "0")
    monkeypatch.setenv("LEADERBOARD_SEED", "0")
    (tmp_path / "elsewhere").write_text("stolen\n")
    (tmp_path / "admin-token").symlink_to(tmp_path / "elsewhere")  # a link is never followed
    with caplog.at_level(logging.WARNING, logger="leaderboard.app"):
        assert app.announce_admin_token() is None
        app.startup(state.current())
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "admin-token" in messages and "review is disabled" in messages
    assert auth.maintainer_name(None, "stolen") is None


def test_no_seeding_when_turned_off_or_on_a_board_with_results(stores, monkeypatch):
    monkeypatch.setenv("LEADERBOARD_SEED", "0")
    assert not state.seeding_wanted(stores)
    monkeypatch.delenv("LEADERBOARD_SEED")
    assert state.seeding_wanted(stores)
    assert not state.seeding_wanted(replace(stores, backend="hub"))
    _add(stores, make_record(model="resnet18"))
    assert seed.seed_reference_suite(stores) == 0


def test_about_tab_states_the_noise_rule():
    from harness import noise
    from ui import about_tab

    text = about_tab.about_markdown()
    assert "How every number is measured" in text and noise.describe_rule() in text


def test_gradio_gets_named_inputs_not_positions(ui):
    """Every event that takes filter values gets them as keyword inputs (no positional arithmetic)."""
    controls = set(ui.board.controls.by_field.values())
    for fn in ui.demo.fns.values():
        positional = fn.inputs[: len(fn.inputs) - len(fn.input_keyword_names or [])]
        assert not controls & set(positional), f"{fn.name} takes filter controls by position"
    assert isinstance(ui.board.table, gr.Dataframe)


PAYLOAD = '<img src="http://127.0.0.1:9/x.png">'


def test_messages_that_quote_user_text_are_escaped(stores):
    """A shared URL with a bad regex, or a refused model id, is echoed as text, never as markup."""
    _add(stores, make_record(model="resnet18"))
    vp = leaderboard_tab.render_view(
        state.current(), replace(DEFAULT_STATE, search=PAYLOAD + "(", regex=True), 1
    )
    assert "Filter problem" in vp.status and "<img" not in vp.status and "&lt;img" in vp.status
    form = submit_tab.SubmitForm(PAYLOAD, "", ["pytorch"], ["fp32"], "1", "cpu", "none", 0.1, "tester")
    refused = submit_tab.submit_form(form, None)
    assert refused.startswith("**Refused:**") and "<img" not in refused
    assert "<img" not in review_tab.act(state.current(), "approve", PAYLOAD, None, "admin")


def test_about_tab_states_the_stopping_rule_units_and_the_read_api(monkeypatch):
    from harness import timing
    from ui import about_tab

    text = about_tab.about_markdown()
    assert timing.describe_stopping_rule() in text
    assert "Peak MiB" in text and "Size MiB" in text and "Latency CV" in text and "**Noisy**" in text
    assert "Peak MB" not in text and "Size MB" not in text
    assert 'api_name="/query"' in text and "results.parquet" in text
    monkeypatch.delattr(timing, "describe_stopping_rule")  # an older harness: the fixed rule, no crash
    assert about_tab.FIXED_RULE in about_tab.about_markdown()


def test_about_tab_lists_every_registered_runtime_with_what_it_runs():
    from harness.backends import backend_specs
    from ui import about_tab

    text = about_tab.about_markdown()
    for spec in backend_specs():
        assert (
            f"- **{spec.name}** ({', '.join(spec.devices)}; {', '.join(spec.precisions)}): {spec.summary}"
            in text
        )
    assert "**openvino** (cpu; fp32, int8)" in text and "**torch-compile** (cpu, cuda; fp32, fp16)" in text
