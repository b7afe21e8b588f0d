"""Unit tests for the harness core: stats, top-k, spec parsing, errors, data loading, model loading,
the timing loop and process isolation. Tiny models, real libraries."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import accuracy, data, errors, models, timing
from harness.isolation import run_isolated

torch.set_num_threads(1)


# ---- stats ---------------------------------------------------------------------------------------------


def test_latency_stats_match_numpy_and_p99_needs_100_samples():
    rng = np.random.default_rng(3)
    samples = list(rng.gamma(4.0, 2.0, size=250))
    s = timing.latency_stats(samples)
    a = np.asarray(samples)
    assert s["mean"] == pytest.approx(a.mean())
    assert s["std"] == pytest.approx(a.std(ddof=1))
    assert s["min"] == a.min() and s["max"] == a.max()
    for q in (50, 90, 95, 99):
        assert s[f"p{q}"] == pytest.approx(np.percentile(a, q))
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p95"] <= s["p99"] <= s["max"]
    assert timing.latency_stats(samples[:99])["p99"] is None
    assert timing.latency_stats(samples[:100])["p99"] is not None


def test_percentile_interpolates_between_samples():
    assert timing.percentile(np.array([1.0, 2.0, 3.0, 4.0]), 50) == 2.5
    assert timing.latency_stats([5.0])["std"] == 0.0
    with pytest.raises(ValueError):
        timing.latency_stats([])


# ---- top-k ---------------------------------------------------------------------------------------------


def test_topk_and_accuracy_from_logits():
    logits = np.array(
        [
            [0.1, 0.9, 0.0, 0.0, 0.0, 0.0],  # top1 = 1
            [0.5, 0.1, 0.4, 0.3, 0.2, 0.0],  # label 5 is last -> not in top5
            [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],  # label 1: rank 5 -> top5 only
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # label 0: top1
        ]
    )
    labels = np.array([1, 5, 1, 0])
    assert accuracy.topk_correct(logits, labels, 1) == 2
    assert accuracy.topk_correct(logits, labels, 5) == 3
    acc = accuracy.accuracy_from_logits(logits, labels)
    assert (acc.top1, acc.top5, acc.num_samples) == (50.0, 75.0, 4)
    # fewer classes than k: top-5 is everything
    assert accuracy.topk_correct(np.eye(3), np.array([2, 0, 1]), 5) == 3
    with pytest.raises(ValueError):
        accuracy.topk_correct(logits, labels[:2], 1)


# ---- spec parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, source, name, rev",
    [
        ("resnet18", "timm", "resnet18", None),
        ("hf-hub:timm/resnet18.a1_in1k", "hf-hub", "timm/resnet18.a1_in1k", None),
        ("hf-hub:org/name@v1.0", "hf-hub", "org/name", "v1.0"),
        ("hf-hub:org/name@" + "a" * 40, "hf-hub", "org/name", "a" * 40),
    ],
)
def test_parse_model_spec(text, source, name, rev):
    spec = models.parse_model_spec(text)
    assert (spec.source, spec.name, spec.revision) == (source, name, rev)


def test_parse_local_dir_is_absolute(tmp_path):
    spec = models.parse_model_spec(f"local-dir:{tmp_path}/../{tmp_path.name}")
    assert spec.source == "local-dir" and spec.name == str(tmp_path.resolve())
    assert spec.id == f"local-dir:{tmp_path.resolve()}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hf-hub:",
        "hf-hub:noslash",
        "hf-hub:a/b/c",
        "hf-hub:org/name@",
        "hf-hub:../x",
        "s3://bucket/x",
        "local-dir:",
    ],
)
def test_parse_model_spec_rejects(text):
    with pytest.raises(errors.BadModelSpec) as ei:
        models.parse_model_spec(text)
    assert "\n" not in str(ei.value)


def test_model_args_whitelist():
    assert models.check_model_args({"num_classes": 10, "img_size": [64, 64]}) == {
        "num_classes": 10,
        "img_size": (64, 64),
    }
    for bad in (
        {"act_layer": "torch.nn.ReLU"},
        {"norm_layer": {"x": 1}},
        {"num_classes": "10"},
        {"img_size": [1, 2, 3]},
        {"in_chans": 1},
    ):
        with pytest.raises(errors.BadModelSpec):
            models.check_model_args(bad)


def test_unknown_architecture():
    with pytest.raises(errors.UnknownArchitecture, match="not in timm"):
        models.load_model("definitely_not_a_model")


# ---- errors --------------------------------------------------------------------------------------------


def test_errors_are_one_line_and_oom_is_recognised():
    assert str(errors.HarnessError("a\n  b")) == "a b"
    oom = errors.as_harness_error(MemoryError(), "running batch size 64")
    assert isinstance(oom, errors.OutOfMemory) and "out of memory while running batch size 64" in str(oom)
    cuda = errors.as_harness_error(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), "x")
    assert isinstance(cuda, errors.OutOfMemory)
    other = errors.as_harness_error(ValueError("boom"), "loading")
    assert type(other) is errors.HarnessError and str(other) == "loading failed: ValueError: boom"
    assert errors.OutOfMemory("x").exit_code == 2


# ---- data ----------------------------------------------------------------------------------------------


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, test = data.load_digits_split("train"), data.load_digits_split("test")
    assert len(train) + len(test) == 1797 and train.num_classes == test.num_classes == 10
    assert set(np.unique(test.labels)) == set(range(10))
    assert test.images[0].mode == "RGB" and test.images[0].size == (8, 8)
    again = data.load_digits_split("test")
    assert np.array_equal(again.labels, test.labels)
    assert np.array_equal(np.asarray(again.images[5]), np.asarray(test.images[5]))
    tr = {
        np.asarray(i).tobytes() + bytes([int(lab)]) for i, lab in zip(train.images, train.labels, strict=True)
    }
    te = [
        np.asarray(i).tobytes() + bytes([int(lab)]) for i, lab in zip(test.images, test.labels, strict=True)
    ]
    assert (
        sum(t in tr for t in te) < len(te) * 0.05
    )  # a few digits are pixel-identical; the split is by index


def test_max_samples_is_deterministic():
    a = data.load_dataset_spec("digits", 50)
    b = data.load_dataset_spec("digits", 50)
    assert len(a) == 50 and np.array_equal(a.labels, b.labels)
    assert len(set(a.labels.tolist())) > 5  # a shuffled sample, not the first class only
    assert len(data.load_dataset_spec("digits", 10_000)) == 450


def _write_imagefolder(root: Path, n_per_class: int = 3) -> Path:
    digits = data.load_digits_split("test")
    for cls in range(3):
        (root / f"class_{cls}").mkdir(parents=True)
        picks = np.flatnonzero(digits.labels == cls)[:n_per_class]
        for j, i in enumerate(picks):
            digits.images[i].save(root / f"class_{cls}" / f"{j}.png")
    return root


def test_imagefolder(tmp_path):
    ds = data.load_dataset_spec(str(_write_imagefolder(tmp_path / "imgs")))
    assert (len(ds), ds.num_classes) == (9, 3)
    assert sorted(ds.labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.images[0].mode == "RGB"


def test_parquet_and_saved_dataset(tmp_path):
    import datasets

    digits = data.load_dataset_spec("digits", 40)
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(i) for i in range(10)])}
    )
    hf = datasets.Dataset.from_dict(
        {"image": digits.images, "label": digits.labels.tolist()}, features=features
    )
    hf.to_parquet(str(tmp_path / "d.parquet"))
    hf.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": hf, "test": hf.select(range(10))}).save_to_disk(str(tmp_path / "dd"))

    pq = data.load_dataset_spec(str(tmp_path / "d.parquet"))
    saved = data.load_dataset_spec(str(tmp_path / "saved"), max_samples=15)
    dd = data.load_dataset_spec(str(tmp_path / "dd"))
    assert (len(pq), pq.num_classes) == (40, 10) and np.array_equal(pq.labels, digits.labels)
    assert np.array_equal(np.asarray(pq.images[3]), np.asarray(digits.images[3]))
    assert (len(saved), saved.num_classes) == (15, 10)
    assert (dd.split, len(dd)) == ("test", 10)
    assert len(data.load_dataset_spec(f"{tmp_path / 'dd'}:train")) == 40
    with pytest.raises(errors.BadDataset, match="no split 'val'"):
        data.load_dataset_spec(f"{tmp_path / 'dd'}:val")


def test_imagefolder_image_swapped_for_a_fifo_is_refused_not_opened(tmp_path):
    """A file listed as an image and then replaced by a FIFO (or a hostile dataset pointing at one) must
    give a one-line error, never block the evaluation."""
    root = _write_imagefolder(tmp_path / "imgs")
    victim = sorted((root / "class_0").iterdir())[0]
    victim.unlink()
    os.mkfifo(victim)
    assert len(data.load_dataset_spec(str(root))) == 8  # a FIFO found while listing is left out
    with pytest.raises(errors.BadDataset, match="not a regular file"):  # one swapped in later: refused
        data._open(str(victim))


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        ({"bytes": None, "path": "/dev/zero"}, "not a regular file"),
        ({"bytes": None, "path": "/no/such/image.png"}, "cannot be read"),
        ({"bytes": None, "path": None}, "NoneType"),
        (12345, "int, not an image"),
        (b"not an image at all", "cannot read image"),
    ],
)
def test_hostile_image_cells_are_one_line_errors(cell, match):
    with pytest.raises(errors.BadDataset, match=match) as info:
        data._open(cell)
    assert "\n" not in str(info.value)


def test_decompression_bomb_is_a_bad_dataset_not_a_crash(tmp_path, monkeypatch):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64)  # 4096 pixels is over twice the cap: PIL refuses
    with pytest.raises(errors.BadDataset, match="image too large to decode"):
        data._open(str(path))


@pytest.mark.parametrize("spec", ["/no/such/dir", "./missing", "missing.parquet"])
def test_bad_dataset_path(spec):
    with pytest.raises(errors.BadDataset, match="does not exist"):
        data.load_dataset_spec(spec)


def test_hub_dataset_offline_is_a_clear_error(monkeypatch):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(errors.BadDataset, match="cannot load Hub dataset 'nobody/nothing-here'"):
        data.load_dataset_spec("nobody/nothing-here")


# ---- models --------------------------------------------------------------------------------------------


def _tiny_saved(tmp_path: Path, **cfg_changes) -> Path:
    import timm

    model = timm.create_model("test_efficientnet", num_classes=4)
    d = models.save_hub_layout(model, "test_efficientnet", tmp_path / "m", {"input_size": [3, 32, 32]})
    if cfg_changes:
        cfg = json.loads((d / "config.json").read_text())
        cfg.update(cfg_changes)
        (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_local_dir_roundtrip(tmp_path):
    d = _tiny_saved(tmp_path)
    loaded = models.load_model(f"local-dir:{d}")
    assert loaded.architecture == "test_efficientnet" and loaded.pretrained and loaded.num_classes == 4
    assert loaded.input_size == (3, 32, 32) and not loaded.model.training
    assert loaded.revision == models.sha256_file(d / "model.safetensors")
    assert loaded.size_mb == pytest.approx((d / "model.safetensors").stat().st_size / 2**20)
    from safetensors.torch import load_file

    ref = load_file(str(d / "model.safetensors"))
    for k, v in loaded.model.state_dict().items():
        assert torch.equal(v, ref[k])


def test_pickle_only_dir_is_refused(tmp_path):
    import timm

    d = tmp_path / "pickled"
    d.mkdir()
    model = timm.create_model("test_efficientnet", num_classes=4)
    torch.save(model.state_dict(), d / "pytorch_model.bin")
    (d / "config.json").write_text(json.dumps({"architecture": "test_efficientnet", "num_classes": 4}))
    with pytest.raises(errors.UnsupportedWeights, match="only safetensors is loaded"):
        models.load_model(f"local-dir:{d}")


def test_weight_mismatch_and_bad_config(tmp_path):
    d = _tiny_saved(tmp_path, num_classes=7)
    with pytest.raises(errors.BadModelSpec, match="num_classes=7 but model_args.num_classes=4"):
        models.load_model(f"local-dir:{d}")
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_args"]["num_classes"] = 7
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(errors.WeightMismatch, match="do not match.*classifier"):
        models.load_model(f"local-dir:{d}")
    cfg["architecture"] = "evil_arch"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(errors.UnknownArchitecture):
        models.load_model(f"local-dir:{d}")
    cfg["architecture"], cfg["model_args"] = "test_efficientnet", {"act_layer": "os.system"}
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(errors.BadModelSpec, match="act_layer is not allowed"):
        models.load_model(f"local-dir:{d}")


# ---- timing --------------------------------------------------------------------------------------------


def test_measure_meets_both_minimums_and_is_consistent(tmp_path):
    from harness.backends import PrepareRequest, get_backend

    loaded = models.load_model(f"local-dir:{_tiny_saved(tmp_path)}")
    runner = get_backend("pytorch").prepare(
        PrepareRequest(loaded.model, loaded.input_size, "cpu", "fp32", 1, tmp_path)
    )
    policy = timing.TimingPolicy(min_duration_s=0.1, min_iterations=100)
    m = timing.measure(runner, timing.random_batch(2, loaded.input_size), policy)
    assert m.iterations == len(m.samples_ms) >= 100 and m.duration_s >= 0.1 and m.warmup >= 3
    assert m.latency_ms == timing.latency_stats(m.samples_ms)
    assert sum(m.samples_ms) / 1000 <= m.duration_s  # the loop's wall time includes every timed call
    assert m.throughput_ips == pytest.approx(2 * m.iterations / m.duration_s)
    assert m.peak_rss_mb and m.peak_rss_mb > 50 and m.peak_gpu_mb is None and not m.capped
    assert (
        m.stop_reason in ("converged", "unreachable", "max_duration") and m.p50_interval["n"] == m.iterations
    )
    # the cap wins over min_iterations, and p99 is withheld below 100 samples
    policy = timing.TimingPolicy(min_duration_s=0.001, min_iterations=10**9, max_duration_s=0.02)
    capped = timing.measure(runner, timing.random_batch(1, loaded.input_size), policy)
    assert capped.capped and capped.duration_s >= 0.02 and capped.iterations < 100
    assert capped.stop_reason == "max_duration" and "cap" in capped.notes[0]
    assert capped.latency_ms["p99"] is None and "p99 not reported" in capped.latency_notes[-1]


def test_physical_cores_and_threads():
    assert 1 <= timing.physical_cores() <= len(timing.available_cpus())
    assert timing.set_threads(1) == 1


def test_peak_rss_reset_tracks_a_new_phase():
    if not timing.reset_peak_rss():
        pytest.skip("/proc/self/clear_refs not writable here")
    base = timing.peak_rss_mb()
    blob = np.ones(200 * 2**20 // 8)  # 200 MB touched
    high = timing.peak_rss_mb()
    del blob
    timing.reset_peak_rss()
    after = timing.peak_rss_mb()
    assert high - base > 150 and after < high - 150


# ---- isolation -----------------------------------------------------------------------------------------


def test_isolation_timeout_kills_child():
    t0 = time.monotonic()
    out = run_isolated("time:sleep", 60, timeout_s=1.5)
    assert (
        out.timed_out and not out.ok and out.error_kind == "timeout" and "timed out after 1.5 s" in out.error
    )
    assert time.monotonic() - t0 < 30


def test_isolation_returns_values_errors_and_crashes():
    ok = run_isolated("harness.models:parse_model_spec", "hf-hub:org/name@v2", timeout_s=60)
    assert ok.ok and ok.value.revision == "v2"
    bad = run_isolated("harness.models:parse_model_spec", "s3://x", timeout_s=60)
    assert not bad.ok and bad.error_kind == "bad_model_spec" and "unknown model source" in bad.error
    crash = run_isolated("os:_exit", 3, timeout_s=60)
    assert not crash.ok and crash.error_kind == "crashed" and "exit status 3" in crash.error


# ---- CLI flags <-> BenchmarkConfig ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        {},
        {"dataset": "digits", "max_samples": 50, "precisions": ("fp32", "int8"), "robustness": True},
        {"backends": ("onnxruntime",), "device": "cuda", "precisions": ("fp16",), "batch_sizes": (1, 8, 64)},
        {"max_samples": None, "min_duration_s": 0.25},
    ],
)
def test_cli_flags_roundtrip_benchmark_config(cfg):
    from harness.cli import build_parser, config_from_args
    from harness.config import BenchmarkConfig

    config = BenchmarkConfig(**cfg)
    args = build_parser().parse_args(["resnet18", *config.to_cli_args()])
    assert config_from_args(args) == config


def test_cli_rejects_bad_lists_in_one_line():
    from harness.cli import build_parser, config_from_args
    from harness.config import ConfigError

    for argv, msg in (
        (["m", "--batch-sizes", "1,x"], "comma-separated whole numbers"),
        (["m", "--backends", "tensorrt"], "backends must be"),
        (["m", "--max-samples", "0"], "positive"),
        (["m", "--dataset", "digits", "--no-dataset"], "not allowed with"),
    ):
        with pytest.raises(ConfigError, match=msg):
            config_from_args(build_parser().parse_args(argv))


# ---- record --------------------------------------------------------------------------------------------


def test_record_json_and_atomic_write(tmp_path):
    import os

    from harness.record import ModelInfo, ResultRecord, RunRecord, harness_version, write_json_atomic

    model = ModelInfo("m", "timm", None, "m", False, 1, 0.5, 1.0, None, [3, 8, 8], {}, 10)
    run = RunRecord("pytorch", "cpu", "torch-cpu", "fp32", 1, 1, latency_ms={"p50": np.float64(1.5)})
    rec = ResultRecord("k", "2026-01-01T00:00:00Z", "v", model, None, None, [run], None, {}, {})
    d = json.loads(rec.to_json())
    assert next(iter(d)) == "schema_version" and d["schema_version"] == 1
    assert d["runs"][0]["latency_ms"]["p50"] == 1.5 and d["dataset"] is None
    target = tmp_path / "deep" / "r.json"
    write_json_atomic(target, rec.to_json())
    assert json.loads(target.read_text()) == d and os.listdir(target.parent) == ["r.json"]
    assert target.stat().st_mode & 0o044  # readable by others, unlike mkstemp's 0600
    v = harness_version()
    assert len(v) == 40 or v.startswith("0+")
