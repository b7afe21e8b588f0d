"""Tasks on the board: per-task columns, rank, Pareto, URL/CLI/API state, report, compare and details, from
records fabricated per the task contract (top-level ``task`` and ``metrics``; per-run ``metrics``)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from harness.tasks import TASK_NAMES, task_specs
from leaderboard import columns as C
from leaderboard import present, report
from leaderboard.charts import accuracy_latency_scatter
from leaderboard.cli import main as report_cli
from leaderboard.cli import parse_filters
from leaderboard.filters import (
    DEFAULT_STATE,
    FilterError,
    apply_filters,
    decode_state,
    describe_empty_view,
    encode_state,
)
from leaderboard.load import build_frames, frames_from_table
from tests._leaderboard_helpers import flatten_table, installed_board, make_record, make_run

DET_METRICS = {
    "box_map": 31.5,
    "box_ap50": 52.0,
    "box_ap75": 33.0,
    "box_ap_small": 10.0,
    "box_ap_medium": 30.0,
    "box_ap_large": 45.0,
}


def task_record(task: str, model: str, metrics: dict | None, p50: float = 10.0, **kw) -> dict:
    rec = make_record(model=model, source="torchvision", pretrained=metrics is not None, **kw)
    rec["task"] = task
    rec["model"]["task"] = task
    rec["model"]["input_size"] = [3, 320, 320]
    rec["metrics"] = metrics
    for run in rec["runs"]:
        run["latency_ms"] = {k: v * p50 / 10.0 for k, v in run["latency_ms"].items()}
    return rec


@pytest.fixture(scope="module")
def board():
    recs = [
        make_record(model="resnet18", pretrained=True, accuracy={"top1": 70.0, "top5": 89.0}),  # no task
        task_record("detection", "torchvision:ssdlite", {**DET_METRICS, "box_map": 20.0}, p50=5.0),
        task_record("detection", "torchvision:fasterrcnn", DET_METRICS, p50=50.0),
        task_record("detection", "torchvision:retinanet", {**DET_METRICS, "box_map": 10.0}, p50=80.0),
        task_record("segmentation", "torchvision:lraspp", {"miou": 40.0, "pixel_accuracy": 90.0}),
        task_record("pose", "torchvision:keypointrcnn", {"kp_ap": 55.0, "kp_ap50": 80.0, "kp_ap75": 60.0}),
        task_record("detection", "torchvision:random_det", None, p50=1.0),  # random weights
    ]
    return recs, build_frames(recs)[0]


def test_every_task_metric_has_one_column_of_that_task_and_the_primary_is_shown_and_reported():
    for spec in task_specs():
        for m in spec.metric_names:
            assert C.BY_NAME[m].tasks == (spec.name,) and C.BY_NAME[m].unit == "%"
        primary = C.BY_NAME[C.primary_metric(spec.name)]
        assert primary.default and primary.report and primary.compare
        assert C.primary_metric(spec.name) in C.visible_columns(None, spec.name)
    others = {m for s in task_specs() if s.name != "detection" for m in s.metric_names}
    assert not others & set(C.visible_columns(None, "detection"))
    assert "reported_top1" not in C.visible_columns(None, "segmentation")
    assert "latency_p50_ms" in C.visible_columns(None, "pose")  # shared fields stay in every task
    assert dict((n, label) for label, n in C.COLUMN_CHOICES)["box_map"] == "Box mAP % (detection)"


def test_old_records_are_classification_and_each_task_ranks_by_its_own_metric(board):
    _, wide = board
    assert wide.set_index("model").loc["resnet18", "task"] == "classification"
    det = wide[wide.task == "detection"].sort_values("rank")
    # box mAP desc; the random-weight detector has no mAP and ranks last despite being fastest
    assert det.model.tolist() == [
        "torchvision:fasterrcnn",
        "torchvision:ssdlite",
        "torchvision:retinanet",
        "torchvision:random_det",
    ]
    assert det["rank"].tolist() == [1, 2, 3, 4]
    for task in TASK_NAMES:  # rank restarts at 1 in every task
        assert wide[wide.task == task]["rank"].min() == 1
    row = det.iloc[0]
    assert row.box_ap50 == 52.0 and row.box_ap_large == 45.0 and math.isnan(row.top1)
    assert row.resolution == "3x320x320"
    assert det.set_index("model").loc["torchvision:random_det"][list(DET_METRICS)].isna().all()


def test_run_metrics_win_over_the_reference_and_int8_rows_never_borrow_it():
    rec = task_record(
        "segmentation",
        "torchvision:deeplab",
        {"miou": 40.0, "pixel_accuracy": 90.0},
        runs=[
            make_run(backend="onnxruntime", precision="fp32", metrics={"miou": 39.5}),
            make_run(backend="onnxruntime", precision="int8", metrics={"miou": 35.0, "pixel_accuracy": 88.0}),
            make_run(backend="pytorch", precision="int8"),
        ],
    )
    rows = build_frames([rec])[0].set_index(["backend", "precision"])
    assert rows.loc[("onnxruntime", "fp32"), "miou"] == 39.5  # its own measurement
    assert rows.loc[("onnxruntime", "fp32"), "pixel_accuracy"] == 90.0  # reference fp32 fills the gap
    assert rows.loc[("onnxruntime", "int8"), "miou"] == 35.0
    assert math.isnan(rows.loc[("pytorch", "int8"), "miou"])  # int8 without its own number: unknown


@pytest.mark.parametrize(
    "metrics",
    [
        {"box_map": "31.5"},
        {"box_map": float("nan")},
        {"box_map": -1.0},
        {"box_map": 101.0},
        {"box_map": True},
        {"box_map": [31.5]},
        ["box_map", 31.5],
        "box_map=31.5",
        {"box_map": 1e308 * 10},
    ],
)
def test_hostile_metric_values_become_missing_never_rank_first(metrics):
    good = task_record("detection", "torchvision:good", {"box_map": 5.0}, p50=100.0)
    bad = task_record("detection", "torchvision:bad", None, p50=1.0)
    bad["model"]["pretrained"] = True
    bad["metrics"] = metrics
    bad["runs"][0]["metrics"] = metrics
    frames = [build_frames([good, bad])[0]]
    try:
        json.dumps(metrics, allow_nan=False)
        frames.append(frames_from_table(flatten_table([good, bad]))[0])  # (a table holds only JSON)
    except ValueError:
        pass
    for wide in frames:
        rows = wide.set_index("model")
        assert math.isnan(rows.loc["torchvision:bad", "box_map"])
        assert rows.loc["torchvision:good", "rank"] == 1


@pytest.mark.parametrize("task", [{"x": 1}, ["detection"], 3, "", "image-classification", None])
def test_a_malformed_or_legacy_task_is_classification(task):
    rec = make_record(model="m")
    rec["task"] = task
    assert build_frames([rec])[0].task.tolist() == ["classification"]


def test_an_unknown_task_name_stays_out_of_every_view_without_crashing():
    rec = make_record(model="future")
    rec["task"] = "depth-estimation"
    wide = build_frames([rec, make_record(model="m")])[0]
    for task in TASK_NAMES:
        assert "future" not in apply_filters(wide, replace(DEFAULT_STATE, task=task)).frame.model.tolist()


@pytest.mark.parametrize("bad", [[3, "a", 4], "[3, 320]x", [0, 320, 320], [3, -1, 2], {"h": 1}, [1] * 50])
def test_hostile_input_size_gives_no_resolution(bad):
    rec = make_record(model="m")
    rec["model"]["input_size"] = bad
    for wide in (build_frames([rec])[0], frames_from_table(flatten_table([rec]))[0]):
        assert wide.resolution.isna().all()


def test_table_and_records_give_the_same_task_frame(board):
    recs, wide = board
    from_table = frames_from_table(flatten_table(recs))[0]
    cols = ["model", "task", "rank", "box_map", "miou", "kp_ap", "top1", "resolution"]
    key = ["model", "backend"]
    a = wide.sort_values(key)[cols].reset_index(drop=True)
    b = from_table.sort_values(key)[cols].reset_index(drop=True)
    assert a.equals(b)


def test_a_view_is_one_task_with_its_columns_and_url(board):
    _, wide = board
    fs = replace(DEFAULT_STATE, task="detection")
    view = apply_filters(wide, fs).frame
    assert set(view.task) == {"detection"} and len(view) == 4
    frame, *_ = present.display_page(view, fs.columns, task=fs.task)
    assert "Box mAP %" in frame.columns and "Top-1 %" not in frame.columns and "mIoU %" not in frame.columns
    assert "Reported top-1 (timm)" not in frame.columns
    assert frame["Box mAP %"].tolist()[0] == "31.50"
    assert encode_state(fs) == "task=detection" and decode_state("task=detection") == fs
    assert decode_state("task=bogus") == DEFAULT_STATE  # a shared URL is decoded leniently
    assert decode_state("task=pose&pareto=1").task == "pose"
    default = apply_filters(wide, DEFAULT_STATE).frame
    assert default.model.tolist() == ["resnet18"]  # the default view is classification


@pytest.mark.parametrize("task", ["bogus", "", "<b>x</b>", "x" * 10_000, ("detection",)])
def test_a_hostile_task_in_a_form_post_is_refused_in_one_line(board, task):
    with pytest.raises(FilterError, match="unknown task") as err:
        apply_filters(board[1], replace(DEFAULT_STATE, task=task))
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


def test_pareto_front_and_chart_use_the_primary_metric_of_the_task(board):
    _, wide = board
    fs = replace(DEFAULT_STATE, task="detection", pareto=True)
    v = apply_filters(wide, fs)
    # ssdlite (20 mAP at 5 ms) and fasterrcnn (31.5 at 50 ms) are the front; retinanet is dominated
    assert sorted(v.frame.model) == ["torchvision:fasterrcnn", "torchvision:ssdlite"]
    assert "best Box mAP" in v.note and "1 row(s) without Box mAP" in v.note
    fig = accuracy_latency_scatter(apply_filters(wide, replace(fs, pareto=False)).frame, task="detection")
    assert fig.layout.title.text.startswith("Box mAP vs p50 latency")
    assert "Box mAP" in fig.layout.yaxis.title.text
    fig = accuracy_latency_scatter(wide[wide.task == "segmentation"], task="segmentation")
    assert fig.layout.title.text.startswith("mIoU vs p50 latency")


def test_an_empty_task_says_so(board):
    _, wide = board
    only_cls = wide[wide.task == "classification"]
    assert (
        describe_empty_view(only_cls, replace(DEFAULT_STATE, task="pose"))
        == "No pose estimation results yet."
    )


def test_compare_and_details_keep_to_the_rows_task(board):
    _, wide = board
    det = wide[wide.task == "detection"].row_id.tolist()[:2]
    table = present.compare_table(wide, det, mark_best=True)
    metrics = table.metric.tolist()
    assert (
        "Box mAP %" in metrics
        and "AP50 %" in metrics
        and "Top-1 %" not in metrics
        and "mIoU %" not in metrics
    )
    line = table[table.metric == "Box mAP %"].iloc[0].tolist()[1:]
    assert "**31.50**" in line  # higher box mAP is better
    seg = wide[wide.task == "segmentation"].iloc[0].to_dict()
    details = present.row_details(seg)
    assert "mIoU %" in details and "Box mAP" not in details and "Top-1" not in details
    warnings = present.compare_warnings([seg, wide[wide.task == "pose"].iloc[0].to_dict()])
    assert warnings and warnings[0].startswith("Different tasks: pose, segmentation")


def test_export_holds_the_tasks_columns(board):
    _, wide = board
    out = present.export_frame(wide[wide.task == "pose"], "pose")
    assert "kp_ap" in out and "box_map" not in out and "top1" not in out and "task" in out
    assert {"kp_ap", "box_map", "top1"} <= set(present.export_frame(wide))


def test_report_has_a_section_per_task_each_with_its_columns(board):
    _, wide = board
    text = report.render_report(wide, {})
    for spec in task_specs():
        assert f"## {spec.title} · cpu-test-2c" in text
        assert report.ranking_line(spec.name) in text
    det_part = text.split("\n## Object detection")[1].split("\n## Semantic segmentation")[0]
    assert "Box mAP %" in det_part and "Top-1 %" not in det_part and "31.50" in det_part
    one = report.render_report(wide[wide.task == "pose"], {})
    assert "## cpu-test-2c" in one and "Keypoint AP %" in one and "Object detection" not in one


def test_cli_report_filter_task(tmp_path, board, capsys):
    recs, _ = board
    folder = tmp_path / "records"
    folder.mkdir()
    for i, rec in enumerate(recs):
        (folder / f"r{i}.json").write_text(json.dumps(rec))
    out, csv = tmp_path / "r.md", tmp_path / "r.csv"
    args = ["report", "--records", str(folder), "-o", str(out), "--csv", str(csv)]
    assert report_cli([*args, "--filter", "task=segmentation"]) == 0
    text = out.read_text()
    assert "mIoU %" in text and "torchvision:lraspp" in text and "ssdlite" not in text
    header = csv.read_text().splitlines()[0].split(",")
    assert "miou" in header and "box_map" not in header
    assert report_cli(args) == 0  # no task: every task, each in its own section
    assert all(s.title in out.read_text() for s in task_specs())
    assert {"miou", "box_map", "top1"} <= set(csv.read_text().splitlines()[0].split(","))
    capsys.readouterr()
    assert report_cli([*args, "--filter", "task=depth"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown task" in err and "detection" in err
    state, _ = parse_filters(["task=pose", "task=detection"])
    assert state.task == "detection"  # one task per view: a repeat replaces


def test_about_says_how_each_task_is_ranked():
    from ui.about_tab import about_markdown

    text = about_markdown()
    for spec in task_specs():
        assert report.ranking_line(spec.name) in text


# --- the app's handlers and /query on a store holding every task ---------------------------------------
@pytest.fixture()
def app_state(tmp_path, board):
    with installed_board(tmp_path, board[0]) as st:
        yield st


def test_the_board_tab_switches_tasks_with_their_columns(app_state):
    import gradio as gr

    from ui import api, leaderboard_tab
    from ui.filter_controls import state_from_values

    for task, metric in (("detection", "Box mAP %"), ("segmentation", "mIoU %"), ("pose", "Keypoint AP %")):
        fs = state_from_values({"task": task})
        vp = leaderboard_tab.render_view(app_state, fs, 1)
        assert metric in vp.frame.columns and "Top-1 %" not in vp.frame.columns
        assert vp.query == f"task={task}" and len(vp.widths) == len(vp.frame.columns)
        assert leaderboard_tab.render_plot(app_state, fs).layout.title.text.startswith(
            metric.removesuffix(" %")
        )
    assert state_from_values({"task": "<script>"}).task == "classification"
    vp = leaderboard_tab.render_view(app_state, state_from_values({}), 1)
    assert "Top-1 %" in vp.frame.columns and "Box mAP %" not in vp.frame.columns
    out = api.query(task="detection", sort="box_map", desc="1")
    assert [r["box_map"] for r in out["rows"]][:3] == [31.5, 20.0, 10.0] and out["query"].startswith("task=")
    assert "miou" not in out["rows"][0] and out["matched"] == 4
    assert api.query()["rows"][0]["model"] == "resnet18"
    with pytest.raises(gr.Error, match="unknown task"):
        api.query(task="depth")
