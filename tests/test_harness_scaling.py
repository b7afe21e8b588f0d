"""Input-size scaling (config, CLI, record) and one real harness run on a tiny timm model that shows the
deployment metrics end to end: cold-start phases ordered and positive, a two-resolution curve per backend,
energy null with its reason on this machine (no powercap), no GPU fields on a cpu run."""

from __future__ import annotations

import json

import pytest

from harness.cli import build_parser, config_from_args
from harness.config import BenchmarkConfig, ConfigError, result_key
from harness.record import ResultRecord, check_record_dict
from harness.runner import Options, evaluate_model
from store.schema import SchemaError
from tests.test_app_compare import st  # noqa: F401  (the app-state fixture over a local store)
from tests.test_harness_timing import _record, _run


def test_input_sizes_are_normalised_and_absent_from_the_key_when_empty():
    plain = BenchmarkConfig()
    assert "input_sizes" not in plain.to_dict()  # keys of existing configs stay what they were
    assert result_key("m", None, plain, "hw") == result_key("m", None, BenchmarkConfig(input_sizes=[]), "hw")
    cfg = BenchmarkConfig.from_dict({"input_sizes": "288, 160,224,160"})
    assert cfg.input_sizes == (160, 224, 288) and cfg.to_dict()["input_sizes"] == [160, 224, 288]
    assert result_key("m", None, cfg, "hw") != result_key("m", None, plain, "hw")
    args = build_parser().parse_args(["m", *cfg.to_cli_args()])
    assert config_from_args(args) == cfg  # the reproduce command measures the same curve


@pytest.mark.parametrize(
    "bad",
    [[8], [5000], [True], ["224px"], [224.5], list(range(100, 1000, 100)), {"a": 1}, [float("nan")]],
)
def test_bad_input_sizes_are_refused_in_one_line(bad):
    with pytest.raises(ConfigError, match="input sizes") as err:
        BenchmarkConfig(input_sizes=bad)
    assert "\n" not in str(err.value)


def test_cli_refuses_garbage_input_sizes():
    args = build_parser().parse_args(["m", "--input-sizes", "160,abc"])
    with pytest.raises(ConfigError, match="--input-sizes"):
        config_from_args(args)


def _record_with(run_extra: dict) -> dict:
    return _record(_run(**run_extra))


@pytest.mark.parametrize(
    "scaling",
    [
        [{"resolution": 0, "status": "ok"}],
        [{"resolution": 224, "status": "maybe"}],
        [{"resolution": 224, "status": "ok", "p50_ms": -1.0}],
        [{"resolution": "224", "status": "ok"}],
        [{"resolution": 224, "status": "ok"}] * 40,
        "[{}]",
    ],
)
def test_stored_scaling_points_are_checked(scaling):
    with pytest.raises(SchemaError):
        check_record_dict(_record_with({"scaling": scaling}))


def test_old_records_without_the_new_fields_still_load():
    rec = ResultRecord.from_dict(_record_with({}))
    run = rec.runs[0]
    assert run.cold_start is None and run.scaling == [] and run.energy_j_per_image is None


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """One real evaluation: test_resnet (timm, random weights, native 160 px) on PyTorch and ONNX Runtime,
    batch 1, scaled to 96 and 160 px."""
    cfg = BenchmarkConfig(
        backends=("pytorch", "onnxruntime"), batch_sizes=(1,), min_duration_s=0.05, input_sizes=(96, 160)
    )
    opts = Options(threads=1, log=lambda _m: None, timing={"max_duration_s": 0.5}, workdir=None)
    rec = evaluate_model("test_resnet", cfg, opts)
    d = json.loads(rec.to_json())
    check_record_dict(d)
    return d


@pytest.mark.slow
def test_real_run_records_cold_start_phases_in_order(record):
    for run in record["runs"]:
        assert run["status"] == "ok", run["error"]
        cold = run["cold_start"]
        phases = [cold[k] for k in ("imports_ms", "model_load_ms", "prepare_ms", "first_inference_ms")]
        present = [p for p in phases if p is not None]
        assert all(p > 0 for p in present) and sum(present) == pytest.approx(cold["total_ms"])
        if run["backend"] == "pytorch":
            assert cold["model_load_ms"] is not None  # this child loaded the model itself
        else:
            assert cold["model_load_ms"] is None  # built from the parent's ONNX export, without torch
        assert cold["total_ms"] < 600_000


@pytest.mark.slow
def test_real_run_records_a_two_point_latency_curve_per_backend(record):
    for run in record["runs"]:
        points = run["scaling"]
        assert [p["resolution"] for p in points] == [96, 160]
        assert all(p["status"] == "ok" and p["p50_ms"] > 0 and p["iterations"] >= 1 for p in points), points


@pytest.mark.slow
def test_real_cpu_run_has_no_energy_without_a_counter_and_no_gpu_fields(record):
    for run in record["runs"]:
        assert run["energy_j_per_image"] is None and run["energy"] is None
        assert run["energy_note"]  # why: no /sys/class/powercap here (or unreadable)
        assert run["gpu_util_pct"] is None and run["gpu_note"] is None


# ---- on the board: columns, details, the Compare curve --------------------------------------------------


@pytest.mark.slow
def test_the_board_shows_cold_start_energy_note_and_the_resolution_curve(st, record):  # noqa: F811
    from leaderboard.charts import PALETTE
    from store import layout
    from store.table import rebuild_results_table
    from tests._leaderboard_helpers import make_record, make_run
    from ui import compare_tab

    hostile = make_record(
        model="other<b>x</b>",
        runs=[
            make_run(
                p50=3.0,
                cold_start={"total_ms": 1e9, "imports_ms": "x"},  # garbage phase: shown as —
                scaling=[
                    {"resolution": 128, "status": "ok", "p50_ms": 2.0},
                    {"resolution": 96, "status": "failed", "error": "<img src=x>"},
                    {"resolution": 128, "status": "ok", "p50_ms": 9.0},  # a repeat is ignored
                ],
            )
        ],
    )
    for rec in (record, hostile):
        st.stores.results.write_json(layout.record_path(rec["key"]), rec)
    rebuild_results_table(st.stores.results, validate=lambda d: d)  # the hostile one skips the harness check
    st.cache.check_every_s = 0
    wide = st.snapshot().wide
    mine = wide[wide.model == "test_resnet"].sort_values("backend")
    for _, row in mine.iterrows():
        run = next(r for r in record["runs"] if r["backend"] == row["backend"])
        assert row["cold_start_ms"] == pytest.approx(run["cold_start"]["total_ms"])
        assert row["cold_start_phases"].startswith("imports ") and row["energy_note"] == run["energy_note"]
        assert pd_isna(row["energy_j_per_image"]) and pd_isna(row["gpu_util_pct"])
    ids = [*mine.row_id, wide[wide.model == "other<b>x</b>"].row_id.iloc[0]]
    c = compare_tab.compare(st, ids)
    curves = list(c.scaling.data)
    assert [list(t.x) for t in curves] == [[96, 160], [96, 160], [128]]
    assert list(curves[2].y) == [2.0] and "<b>" not in curves[2].name
    batch = [t for t in c.figure.data if t.name.endswith("p50 ms")]
    assert [t.line.color for t in curves] == [t.line.color for t in batch] == list(PALETTE[:3])
    assert "Cold start ms" in set(c.table["metric"])


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_a_refused_size_keeps_the_models_reason_and_int8_scales_at_its_native_size_only(tmp_path):
    import torch

    from harness.backends import PrepareRequest, get_backend
    from harness.measure import MeasureJob
    from harness.scaling import measure_scaling
    from harness.timing import TimingPolicy

    fixed = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()  # 32 px only
    request = PrepareRequest(fixed, (3, 32, 32), "cpu", "fp32", 1, tmp_path)
    runner = get_backend("pytorch").prepare(request)
    policy = TimingPolicy(min_duration_s=0.05, warmup_s=0.0, max_duration_s=0.2)
    job = MeasureJob("m", None, "pytorch", "cpu", "fp32", [1], 1, 0.05, str(tmp_path), input_sizes=[48, 32])
    ok, refused = measure_scaling(job, request, runner, policy)  # ascending
    assert ok["resolution"] == 32 and ok["status"] == "ok" and ok["p50_ms"] > 0
    assert refused["resolution"] == 48 and refused["status"] == "failed" and "48x48" in refused["error"]
    assert "shapes cannot be multiplied" in refused["error"]  # the model's own words
    job.precision = "int8"
    native, other = measure_scaling(job, request, runner, policy)
    assert native["status"] == "ok" and other["status"] == "unsupported" and "native size" in other["error"]
    job.precision, job.backend = "fp32", "onnxruntime"
    no_export = measure_scaling(job, replace_export(request), runner, policy)[1]
    assert no_export["status"] == "failed" and "ONNX export at 48x48 failed" in no_export["error"]


def replace_export(request):
    from dataclasses import replace

    return replace(request, model=None, onnx_export={"path": "/nonexistent.onnx"})


def test_the_submit_form_and_cli_carry_input_sizes_to_the_workers_harness_command():
    from submissions.cli import build_parser as submit_parser
    from submissions.cli import config_from_args as submit_config
    from ui.submit_tab import SubmitForm

    form = SubmitForm("m", "", ["pytorch"], ["fp32"], "1", "cpu", "none", None, "x", input_sizes=" 224,160 ")
    cfg = BenchmarkConfig.from_dict(form.config())
    assert cfg.input_sizes == (160, 224) and cfg.to_cli_args()[-2:] == ["--input-sizes", "160,224"]
    assert "input_sizes" not in SubmitForm("m", "", [], [], "1", "cpu", "none", None, "x").config()
    with pytest.raises(ConfigError, match="input sizes"):
        BenchmarkConfig.from_dict({**form.config(), "input_sizes": "9"})
    args = submit_parser().parse_args(["resnet18", "--input-sizes", "96,128"])
    partial = {k: v for k, v in submit_config(args).items() if v is not None}
    assert BenchmarkConfig.from_dict(partial).input_sizes == (96, 128)


@pytest.mark.parametrize(
    "scaling",
    [
        "[{}]",
        [None, 3, "x", {"resolution": True, "status": "ok", "p50_ms": 1.0}],
        [
            {"resolution": 10**9, "status": "ok", "p50_ms": 1.0},
            {"resolution": 96, "status": "ok", "p50_ms": -2},
        ],
        [{"resolution": 96, "status": "ok", "p50_ms": float("nan")}, {"resolution": 96.5, "status": "ok"}],
    ],
)
def test_board_ignores_malformed_scaling_and_deployment_values(scaling):
    from leaderboard.load import deployment_fields, scaling_points

    run = _run(status="ok", scaling=scaling)
    assert scaling_points(_record(run), "pytorch", "cpu", "fp32") == []
    assert scaling_points("<b>", "pytorch", "cpu", "fp32") == []
    bad = {**run, "cold_start": ["x"], "energy_j_per_image": -1.0, "gpu_util_pct": 150, "energy_note": 7}
    assert deployment_fields([bad], 1) == dict.fromkeys(
        ("cold_start_ms", "cold_start_phases", "energy_j_per_image", "energy_note", "gpu_util_pct")
    )
