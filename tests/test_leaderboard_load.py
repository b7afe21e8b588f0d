import math
import shlex

import pandas as pd
import pytest

from harness.config import BenchmarkConfig
from leaderboard.load import (
    WIDE_COLUMNS,
    architecture_family,
    build_frames,
    frames_from_table,
    model_url,
    reproduce_command,
)
from tests._leaderboard_helpers import flatten_table, make_record, make_run


def test_one_row_per_backend_device_precision_with_bs1_latency_and_best_throughput():
    runs = [
        make_run("pytorch", bs=1, p50=10.0, rss=400),
        make_run("pytorch", bs=8, p50=40.0, rss=600),  # 200 img/s: best
        make_run("onnxruntime", bs=1, p50=5.0),
        make_run("onnxruntime", bs=8, p50=30.0, tput=150.0),
    ]
    wide, long = build_frames([make_record(runs=runs)])
    assert list(wide.columns) == list(WIDE_COLUMNS)
    assert len(wide) == 2 and len(long) == 4
    pt = wide[wide.backend == "pytorch"].iloc[0]
    assert pt.latency_p50_ms == 10.0 and pt.latency_p95_ms == pytest.approx(12.0)
    assert pt.latency_p99_ms == pytest.approx(15.0)
    assert pt.throughput_ips == pytest.approx(200.0) and pt.best_batch_size == 8
    assert pt.peak_mem_mb == 600
    assert pt.params_m == pytest.approx(11.69)
    ort = wide[wide.backend == "onnxruntime"].iloc[0]
    assert ort.throughput_ips == pytest.approx(200.0)  # bs1: 1000/5
    assert ort.hardware_profile == "cpu-test-2c"


def test_failed_runs_are_ignored_and_a_group_without_bs1_has_no_latency():
    runs = [
        make_run(bs=1, p50=10.0, status="failed", error="boom"),
        make_run(bs=4, p50=20.0),
    ]
    wide, _ = build_frames([make_record(runs=runs)])
    assert len(wide) == 1
    assert math.isnan(wide.iloc[0].latency_p50_ms)
    assert wide.iloc[0].best_batch_size == 4


def test_random_weights_never_show_accuracy():
    rec = make_record(pretrained=False, accuracy={"top1": 50.0, "top5": 80.0})
    wide, _ = build_frames([rec])
    assert wide.top1.isna().all() and wide.top5.isna().all()


def test_measured_accuracy_fp32_rows_and_int8_delta_and_speedup():
    runs = [
        make_run("onnxruntime", precision="fp32", bs=1, p50=8.0),
        make_run("onnxruntime", precision="int8", bs=1, p50=4.0, accuracy_top1=74.5),
        make_run("pytorch", precision="fp32", bs=1, p50=10.0),
    ]
    rec = make_record(
        model="hf-hub:org/net",
        source="hf-hub",
        revision="abc123",
        arch="resnet18",
        pretrained=True,
        accuracy={"top1": 75.0, "top5": 92.0},
        runs=runs,
    )
    wide, _ = build_frames([rec])
    by = {(r.backend, r.precision): r for r in wide.itertuples()}
    assert by[("pytorch", "fp32")].top1 == 75.0 and by[("pytorch", "fp32")].top5 == 92.0
    assert by[("onnxruntime", "fp32")].top1 == 75.0
    assert by[("onnxruntime", "int8")].top1 == 74.5
    assert by[("onnxruntime", "int8")].int8_top1_delta == pytest.approx(-0.5)
    assert by[("onnxruntime", "int8")].int8_speedup == pytest.approx(2.0)
    assert by[("onnxruntime", "fp32")].int8_speedup == pytest.approx(2.0)
    assert math.isnan(by[("pytorch", "fp32")].int8_speedup)  # no pytorch int8 run


def test_duplicates_keep_the_newest_evaluation():
    old = make_record(runs=[make_run(bs=1, p50=20.0)], created_at="2026-01-01T00:00:00Z")
    new = make_record(runs=[make_run(bs=1, p50=10.0)], created_at="2026-02-01T00:00:00Z")
    other_hw = make_record(runs=[make_run(bs=1, p50=30.0)], hw="cuda-x")
    wide, long = build_frames([old, new, other_hw])
    assert len(wide) == 2
    assert wide[wide.hardware_profile == "cpu-test-2c"].iloc[0].latency_p50_ms == 10.0
    assert set(long.row_id) == set(wide.row_id)


def test_rank_by_top1_then_latency_missing_last():
    a = make_record(model="a", pretrained=True, accuracy={"top1": 70.0}, runs=[make_run(p50=5.0)])
    b = make_record(model="b", pretrained=True, accuracy={"top1": 80.0}, runs=[make_run(p50=50.0)])
    c = make_record(model="c", runs=[make_run(p50=1.0)])  # random weights: no top-1
    wide, _ = build_frames([a, b, c])
    assert wide.sort_values("rank").model.tolist() == ["b", "a", "c"]


@pytest.mark.parametrize(
    "arch,family",
    [
        ("resnet18", "resnet"),
        ("resnet50d", "resnet"),
        ("resnet10t", "resnet"),
        ("mobilenetv3_large_100", "mobilenetv3"),
        ("efficientnet_b0", "efficientnet"),
        ("efficientnetv2_s", "efficientnetv2"),
        ("vit_tiny_patch16_224", "vit"),
        ("convnext_tiny", "convnext"),
        ("tf_efficientnet_b0", "tf_efficientnet"),
        ("test_vit", "test_vit"),
        ("densenet121", "densenet"),
        ("vgg16", "vgg"),
        (None, None),
    ],
)
def test_architecture_family(arch, family):
    assert architecture_family(arch) == family


def test_model_links():
    assert model_url("hf-hub:org/name", "hf-hub") == "https://huggingface.co/org/name"
    assert "resnet18" in model_url("resnet18", "timm")
    assert model_url("local-dir:/x", "local-dir") is None


def test_reproduce_command_rebuilds_the_config_flags_and_pins_the_revision():
    cfg = BenchmarkConfig(backends=("pytorch",), batch_sizes=(1, 4), min_duration_s=0.1, max_samples=50)
    rec = make_record(model="hf-hub:org/net", source="hf-hub", revision="deadbeef", config=cfg.to_dict())
    cmd = reproduce_command(rec)
    expected = ["python", "-m", "harness", "hf-hub:org/net@deadbeef", *cfg.to_cli_args(), "--threads", "1"]
    assert shlex.split(cmd) == expected
    timm_cmd = shlex.split(reproduce_command(make_record(model="resnet18")))
    assert timm_cmd[3] == "resnet18" and "--batch-sizes" in timm_cmd


def test_reported_top1_is_only_in_its_own_column():
    wide, _ = build_frames([make_record(model="resnet18"), make_record(model="not_a_timm_arch")])
    r18 = wide[wide.model == "resnet18"].iloc[0]
    assert 60 < r18.reported_top1 < 90
    assert math.isnan(r18.top1)  # never presented as measured
    assert math.isnan(wide[wide.model == "not_a_timm_arch"].iloc[0].reported_top1)


def test_table_rows_and_records_give_the_same_frame():
    recs = [
        make_record(model="a", pretrained=True, accuracy={"top1": 70.0, "top5": 90.0}),
        make_record(
            model="b", runs=[make_run("onnxruntime", bs=1, p50=3.0), make_run("pytorch", bs=2, p50=9.0)]
        ),
        make_record(model="c", runs=[]),  # nothing ran: no row
    ]
    from_records, long_a = build_frames(recs)
    from_table, long_b = frames_from_table(flatten_table(recs))
    pd.testing.assert_frame_equal(from_records, from_table)
    pd.testing.assert_frame_equal(long_a, long_b)


def test_empty_input_gives_an_empty_frame_with_all_columns():
    wide, long = frames_from_table(pd.DataFrame())
    assert wide.empty and list(wide.columns) == list(WIDE_COLUMNS)
    assert long.empty


def test_unflattened_records_in_a_frame_keep_their_hardware_profile():
    recs = [make_record(model="a", hw="cpu-x-2c")]
    wide, _ = frames_from_table(pd.DataFrame(recs))  # nested dict columns, as read from record files
    assert wide.hardware_profile.tolist() == ["cpu-x-2c"]


# --- defence in depth: wrong-typed records never crash the load nor rank first -------------------------
def _good():
    return make_record(model="good", pretrained=True, accuracy={"top1": 70.0}, runs=[make_run(p50=10.0)])


def _with(change) -> dict:
    rec = make_record(model="bad", pretrained=True, accuracy={"top1": 60.0}, runs=[make_run(p50=1.0)])
    change(rec)
    return rec


HOSTILE_CHANGES = {
    "model id is a list": lambda r: r["model"].update(id=["x"]),
    "model is a list": lambda r: r.update(model=["x"]),
    "created_at is an object": lambda r: r.update(created_at={"$date": 1}),
    "hardware profile is a list": lambda r: r["environment"].update(hardware_profile=["cpu"]),
    "environment is a string": lambda r: r.update(environment="cpu"),
    "NaN latency": lambda r: r["runs"][0]["latency_ms"].update(p50=float("nan")),
    "negative latency": lambda r: r["runs"][0]["latency_ms"].update(p50=-5.0, p95=-1.0),
    "string latency": lambda r: r["runs"][0]["latency_ms"].update(p50="0.001"),
    "latency_ms is a list": lambda r: r["runs"][0].update(latency_ms=[1, 2]),
    "accuracy out of range": lambda r: r.update(accuracy={"top1": 1e9}),
    "accuracy is a string": lambda r: r.update(accuracy={"top1": "99"}),
    "runs is a dict": lambda r: r.update(runs={"a": 1}),
    "run backend is a dict": lambda r: r["runs"][0].update(backend={"x": 1}),
    "batch size is a string": lambda r: r["runs"][0].update(batch_size="1"),
    "threads is a list": lambda r: r["runs"][0].update(threads=[1]),
    "noise is a list": lambda r: r["runs"][0].update(noise=[True]),
    "noise reasons are numbers": lambda r: r["runs"][0].update(noise={"noisy": True, "reasons": [1, None]}),
    "params is a string": lambda r: r["model"].update(params="1e12"),
    "dataset is a list": lambda r: r.update(dataset=["digits"]),
    "config is a list": lambda r: r.update(config=["--evil"]),
    "key is a number": lambda r: r.update(key=12),
    "record is a list": lambda r: r.clear(),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CHANGES))
def test_a_wrong_typed_record_never_crashes_nor_ranks_first(name):
    bad = _with(HOSTILE_CHANGES[name])
    wide, long = build_frames([_good(), bad, "not a record", None, 42])
    assert wide.sort_values("rank").iloc[0].model == "good", name
    flat, _ = frames_from_table(flatten_table([_good(), bad]))
    assert flat.sort_values("rank").iloc[0].model == "good", name
    for col in ("latency_p50_ms", "latency_p95_ms", "throughput_ips", "top1", "params_m"):
        assert not (wide[col] < 0).any() and (wide[col].isna() | (wide[col] == wide[col])).all()


def test_bad_values_become_missing_not_invented():
    rec = _with(lambda r: r["runs"][0]["latency_ms"].update(p50="fast", p95=float("inf"), p99=-1))
    row = build_frames([rec])[0].iloc[0]
    assert (
        math.isnan(row.latency_p50_ms) and math.isnan(row.latency_p95_ms) and math.isnan(row.latency_p99_ms)
    )
    assert row.hardware_profile == "cpu-test-2c" and row.model == "bad"
    row = build_frames([_with(HOSTILE_CHANGES["hardware profile is a list"])])[0].iloc[0]
    assert row.hardware_profile == "unknown"


def test_deeply_nested_or_huge_values_do_not_hang():
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    rec = _with(lambda r: r.update(config=deep, environment={"hardware_profile": "h" * 1_000_000}))
    wide, _ = build_frames([rec])
    assert len(wide) == 1 and len(wide.iloc[0].hardware_profile) == 1_000_000


# --- noise (contract 4) ---------------------------------------------------------------------------------
def test_noisy_marker_and_latency_cv():
    noisy = {"cv": 0.4, "p95_over_p50": 2.5, "load_before": 3.0, "load_after": 2.0, "cpu_count": 2}
    runs = [
        make_run(bs=1, p50=10.0, noise={**noisy, "noisy": False, "reasons": []}),
        make_run(bs=8, p50=40.0, noise={**noisy, "noisy": True, "reasons": ["p95/p50 2.5 > 1.5"]}),
        make_run("onnxruntime", bs=1, p50=5.0, noise={**noisy, "cv": 0.02, "noisy": False, "reasons": []}),
        make_run("onnxruntime", precision="int8", bs=1, p50=5.0),  # predates noise checks
    ]
    wide, _ = build_frames([make_record(runs=runs)])
    by = {(r.backend, r.precision): r for r in wide.itertuples()}
    pt, ort, old = by[("pytorch", "fp32")], by[("onnxruntime", "fp32")], by[("onnxruntime", "int8")]
    assert int(wide.noisy.sum()) == 1 and int((~wide.noisy).sum()) == 1 and int(wide.noisy.isna().sum()) == 1
    assert bool(pt.noisy) and pt.latency_cv == pytest.approx(0.4) and "bs8: p95/p50 2.5" in pt.noise_reasons
    assert (
        not pd.isna(ort.noisy)
        and not ort.noisy
        and ort.latency_cv == pytest.approx(0.02)
        and pd.isna(ort.noise_reasons)
    )
    assert pd.isna(old.noisy)  # unknown, not "clean"
    assert old.latency_cv == pytest.approx(0.1 / (5.0 * 1.02))  # std / mean of the timed samples
    assert str(wide.noisy.dtype) == "boolean"


def test_page_faults_per_pass_is_the_most_of_the_rows_runs_and_hostile_values_are_unknown():
    calm = {"cv": 0.01, "p95_over_p50": 1.0, "noisy": False, "reasons": []}
    runs = [
        make_run(bs=1, p50=10.0, noise={**calm, "page_faults_per_pass": 0.0}),
        make_run(bs=8, p50=40.0, noise={**calm, "page_faults_per_pass": 60644.5}),  # glibc's page churn
        make_run("onnxruntime", bs=1, p50=5.0, noise={**calm, "page_faults_per_pass": 0.0}),
        make_run("onnxruntime", precision="int8", bs=1, p50=5.0),  # measured before faults were counted
    ]
    wide, _ = build_frames([make_record(runs=runs)])
    by = {(r.backend, r.precision): r.page_faults_per_pass for r in wide.itertuples()}
    assert by[("pytorch", "fp32")] == 60644.5 and by[("onnxruntime", "fp32")] == 0.0
    assert pd.isna(by[("onnxruntime", "int8")])
    for hostile in (-1, "many", float("nan"), float("inf"), [1], True, None):
        bad = [make_run(bs=1, p50=10.0, noise={**calm, "page_faults_per_pass": hostile})]
        assert pd.isna(build_frames([make_record(runs=bad)])[0].iloc[0].page_faults_per_pass), hostile
