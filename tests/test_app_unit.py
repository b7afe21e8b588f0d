"""The app's handlers in-process (no browser): empty store, filters, details, exports, refusals."""

from dataclasses import replace

import pandas as pd
import pytest

import app
from leaderboard.filters import DEFAULT_STATE, FilterState
from store import LocalDatasetStore, Stores
from tests._leaderboard_helpers import make_record, make_run


@pytest.fixture()
def stores(tmp_path, monkeypatch):
    st = Stores(
        results=LocalDatasetStore(tmp_path / "results", "results"),
        queue=LocalDatasetStore(tmp_path / "queue", "queue"),
        backend="local",
    )
    monkeypatch.setattr(app, "STATE", app.AppState(st))
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", "s3cret")
    return st


def _add(st: Stores, *records) -> None:
    for rec in records:
        st.results.write_json(f"records/{rec['key']}.json", rec)
    app.rebuild_results_table(st.results)
    app.state().cache.check_every_s = 0


def test_empty_store_explains_how_to_add_the_first_model(stores):
    table, status, page, page_md, query, row_ids = app.render_view(DEFAULT_STATE, 1)
    assert "No results yet" in status and "Submit" in status
    assert row_ids == [] and page == 1 and query == ""
    assert app.render_plot(DEFAULT_STATE).layout.annotations  # an explanatory empty chart
    assert app.on_compare([])[2].startswith("Pick")


def test_filters_details_and_exports(stores):
    _add(
        stores,
        make_record(model="resnet18", runs=[make_run(bs=1, p50=5.0), make_run("onnxruntime", bs=1, p50=3.0)]),
        make_record(model="vit_tiny_patch16_224", runs=[make_run(bs=1, p50=9.0)]),
    )
    fs = replace(DEFAULT_STATE, search="vit")
    table, status, _, _, query, row_ids = app.render_view(fs, 1)
    assert len(app.on_plot(*app_inputs(fs)).data[0].x) == 1
    assert "of **1** rows (3 in total)" in status and query == "q=vit" and len(row_ids) == 1
    assert app.on_filter_reset_page(*app_inputs(fs), 7)[2] == 1  # a filter change goes back to page 1

    class Evt:
        index = (0, 1)

    details = app.on_select(row_ids, Evt())
    assert "vit_tiny_patch16_224" in details and "python -m harness vit_tiny_patch16_224" in details

    f = app.export_view("csv", *app_inputs(replace(DEFAULT_STATE, backend=("pytorch",))))
    exported = pd.read_csv(f.value if isinstance(f.value, str) else f.value["path"])
    assert sorted(exported.model) == ["resnet18", "vit_tiny_patch16_224"]
    assert "reproduce" in exported

    table, status, *_ = app.render_view(replace(DEFAULT_STATE, search="(", regex=True), 1)
    assert "invalid regular expression" in status  # shown, not raised

    cmp_table, _, note = app.on_compare(
        row_ids + [r for r in app.state().snapshot().wide.row_id if r not in row_ids][:1]
    )
    assert cmp_table.shape[1] == 3 and note == ""


def app_inputs(fs: FilterState) -> list:
    return [
        fs.search,
        fs.regex,
        list(fs.task),
        list(fs.family),
        list(fs.backend),
        list(fs.device),
        list(fs.precision),
        list(fs.hardware_profile),
        fs.params_min,
        fs.params_max,
        fs.latency_min,
        fs.latency_max,
        fs.sort_by,
        fs.descending,
        fs.pareto,
        list(fs.columns),
    ]


def test_state_from_inputs_round_trips_the_controls():
    fs = FilterState(
        search="x",
        family=("vit",),
        params_max=3.0,
        sort_by="top1",
        descending=True,
        columns=("gmacs", "top1"),
    )
    assert app.state_from_inputs(*app_inputs(fs)) == replace(fs, columns=("top1", "gmacs"))


def test_queue_frame_positions_and_failure_reasons():
    entries = [
        {"id": "b", "model": "m2", "status": "APPROVED", "submitted_at": "2026-01-02", "submitted_by": "x"},
        {"id": "a", "model": "m1", "status": "APPROVED", "submitted_at": "2026-01-01", "submitted_by": "x"},
        {
            "id": "c",
            "model": "m3",
            "status": "FAILED",
            "submitted_at": "2026-01-01",
            "error": {"kind": "timeout", "message": "took too long"},
        },
        {"id": "d", "model": "m4", "status": "RUNNING", "progress": {"stage": "measure", "message": "bs=8"}},
    ]
    df = app.queue_frame(entries)
    assert df.Entry.tolist() == ["d", "a", "b", "c"]
    assert df.Position.tolist() == ["", "1", "2", ""]
    assert "timeout: took too long" in df.Failure.tolist()
    assert "bs=8" in df["Progress / last event"].tolist()


def test_review_refuses_without_the_admin_token(stores):
    assert "Refused" in app.on_review_action("approve", "some-id", "", "wrong", None)
    assert "Refused" in app.on_review_action("reject", "some-id", "bad", "", None)
    pick, who, problems = app.on_review_list("wrong", None)
    assert "Maintainers only" in who and problems == ""


def test_submit_shows_the_exact_refusal_or_the_queued_entry_and_review_approves(stores):
    args = (["pytorch"], ["fp32"], "1", "cpu", "", 0.1)
    assert "enter your name" in app.on_submit("resnet18", "", *args, "", None)
    bad = app.on_submit("not a model!", "", *args, "tester", None)
    assert bad.startswith("**Refused:**") and len(bad) > 20
    assert "whole numbers" in app.on_submit(
        "resnet18", "", ["pytorch"], ["fp32"], "1,x", "cpu", "", 0.1, "t", None
    )
    ok = app.on_submit("resnet10t", "", *args, "tester", None)
    assert "**Queued**" in ok and "PENDING_REVIEW" in ok
    entry_id = ok.split("`")[1]

    pick, who, _ = app.on_review_list("s3cret", None)
    assert "Signed in as maintainer" in who and pick.value == entry_id
    assert "Refused" in app.on_review_action("reject", entry_id, "", "s3cret", None)  # reason required
    assert "APPROVED" in app.on_review_action("approve", entry_id, "", "s3cret", None)
    df, summary = app.on_queue_refresh()
    assert df.Status.tolist() == ["APPROVED"] and df.Position.tolist() == ["1"] and "APPROVED: 1" in summary


def test_compare_choices_follow_the_leaderboard_view_and_keep_picks(stores):
    _add(stores, make_record(model="resnet18"), make_record(model="vit_tiny_patch16_224"))
    wide = app.state().snapshot().wide
    vit = wide[wide.model == "vit_tiny_patch16_224"].row_id.iloc[0]
    dd = app.on_compare_tab(*app_inputs(replace(DEFAULT_STATE, search="resnet")), [vit])
    labels = [label for label, _ in dd.choices]
    assert any("resnet18" in lb for lb in labels) and any("vit_tiny" in lb for lb in labels)
    assert dd.value == [vit]


def test_timer_redraws_only_when_new_results_arrive(stores):
    _add(stores, make_record(model="resnet18"))
    shown = app.state().snapshot().loaded_at
    inputs = [*app_inputs(DEFAULT_STATE), 1]
    out = app.on_tick(*inputs, shown)
    assert all(o == {"__type__": "update"} for o in out)  # nothing new: no redraw
    _add(stores, make_record(model="vit_tiny_patch16_224"))
    out = app.on_tick(*inputs, shown)
    assert "of **2** rows" in out[1] and out[len(app.VIEW_OUTPUTS) + 1] != shown
    family = out[len(app.VIEW_OUTPUTS) + 2 + app.CATEGORY_FIELDS.index("family")]
    assert family.choices == [("resnet", "resnet"), ("vit", "vit")]  # new filter options appear


def test_corrupt_files_are_shown_to_maintainers_only(stores):
    _add(stores, make_record(model="resnet18"))
    stores.results.write_bytes("records/broken.json", b"{not json")
    app.rebuild_results_table(stores.results)
    app.state().cache.get(force=True)
    _, _, problems = app.on_review_list("s3cret", None)
    assert "records/broken.json" in problems
    assert app.on_review_list("nope", None)[2] == ""
    table, status, *_ = app.render_view(DEFAULT_STATE, 1)
    assert "of **1** rows" in status  # the board still works


def test_parquet_export_has_raw_numbers(stores):
    _add(stores, make_record(model="resnet18", runs=[make_run(bs=1, p50=5.0)]))
    f = app.export_view("parquet", *app_inputs(DEFAULT_STATE))
    df = pd.read_parquet(f.value if isinstance(f.value, str) else f.value["path"])
    assert df.latency_p50_ms.tolist() == [5.0] and df.model.tolist() == ["resnet18"]
