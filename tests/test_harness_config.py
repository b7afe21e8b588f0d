"""BenchmarkConfig: strict reading of outside data and one normal form (hence one result key) per meaning."""

from __future__ import annotations

import math

import pytest

from harness.config import (
    MAX_BATCH_SIZES,
    MAX_CSV_CHARS,
    BenchmarkConfig,
    ConfigError,
    result_key,
    split_csv,
)


def key(cfg: BenchmarkConfig) -> str:
    return result_key("m", None, cfg, "cpu-test")


@pytest.mark.parametrize(
    "text, parts",
    [
        ("a,b", ("a", "b")),
        (" a , b ,, c ,", ("a", "b", "c")),
        ("", ()),
        (" , ,", ()),
        ("x,x", ("x", "x")),  # the parser keeps repeats; the config de-duplicates
    ],
)
def test_split_csv(text, parts):
    assert split_csv(text) == parts


@pytest.mark.parametrize("bad", [None, 3, ["a"], b"a,b"])
def test_split_csv_refuses_non_strings(bad):
    with pytest.raises(ConfigError, match="comma-separated list"):
        split_csv(bad)


def test_split_csv_refuses_huge_input():
    with pytest.raises(ConfigError, match="too long"):
        split_csv("1," * MAX_CSV_CHARS)


def test_equal_meanings_give_one_config_and_one_key():
    base = BenchmarkConfig.from_dict({"batch_sizes": [1, 8], "min_duration_s": 1.0, "max_samples": 500})
    same = [
        {"batch_sizes": [8.0, 1, 8], "min_duration_s": 1, "max_samples": 500.0},
        {"batch_sizes": "8, 1", "backends": "onnxruntime,pytorch,pytorch"},
        {"batch_sizes": ["1", "8"], "precisions": ["fp32", "fp32"], "dataset": "  "},
        {"dataset": None, "robustness": False, "extra": {}},
    ]
    for d in same:
        cfg = BenchmarkConfig.from_dict(d)
        assert cfg == base and key(cfg) == key(base), d
        assert cfg.to_dict() == base.to_dict()
    assert base.to_dict()["batch_sizes"] == [1, 8] and type(base.batch_sizes[0]) is int
    assert type(BenchmarkConfig(min_duration_s=2).min_duration_s) is float


def test_lists_are_canonical_order():
    cfg = BenchmarkConfig(
        backends=("onnxruntime", "pytorch"), batch_sizes=(64, 1, 8), precisions=("int8", "fp32")
    )
    assert cfg.backends == ("pytorch", "onnxruntime")
    assert cfg.batch_sizes == (1, 8, 64) and cfg.precisions == ("fp32", "int8")


def test_default_key_is_unchanged_by_normalisation():
    """Records already on the board keep their key: the defaults are already in normal form."""
    d = BenchmarkConfig().to_dict()
    assert d == {
        "dataset": None,
        "max_samples": 500,
        "backends": ["pytorch", "onnxruntime"],
        "device": "cpu",
        "batch_sizes": [1, 8],
        "precisions": ["fp32"],
        "min_duration_s": 1.0,
        "robustness": False,
        "extra": {},
    }


@pytest.mark.parametrize(
    "data, msg",
    [
        ({"batch_size": [1]}, "unknown benchmark setting"),
        ({"<script>": 1}, "unknown benchmark setting"),
        ({"batch_sizes": [3.5]}, "batch sizes must be a whole number, got 3.5"),
        ({"batch_sizes": [True]}, "batch sizes must be a whole number, got True"),
        ({"batch_sizes": [float("nan")]}, "whole number"),
        ({"batch_sizes": [float("inf")]}, "whole number"),
        ({"batch_sizes": [0]}, "from 1 to 1024"),
        ({"batch_sizes": [10**12]}, "from 1 to 1024"),
        ({"batch_sizes": "1,x"}, "whole number"),
        ({"batch_sizes": []}, "got nothing"),
        ({"batch_sizes": list(range(1, MAX_BATCH_SIZES + 2))}, "too many entries"),
        ({"batch_sizes": {"a": 1}}, "must be a list"),
        ({"batch_sizes": 8}, "must be a list"),
        ({"backends": ["tensorrt"]}, "backends must be a non-empty subset of pytorch,onnxruntime"),
        ({"backends": []}, "backends must be a non-empty subset"),
        ({"backends": [1]}, "backends must be"),
        ({"backends": ["pytorch"] * 1000}, "too many entries"),
        ({"precisions": ["FP32"]}, "precisions must be a non-empty subset of fp32,fp16,int8"),
        ({"precisions": ["fp16"]}, "fp16 is measured on cuda only"),
        ({"device": "tpu"}, "device must be one of cpu, cuda"),
        ({"device": ["cpu"]}, "device must be one of"),
        ({"min_duration_s": True}, "min duration"),
        ({"min_duration_s": "1"}, "min duration"),
        ({"min_duration_s": math.nan}, "min duration"),
        ({"min_duration_s": math.inf}, "min duration"),
        ({"min_duration_s": 0.0}, "between 0.05 and 600"),
        ({"max_samples": 0}, "positive whole number"),
        ({"max_samples": -5}, "positive whole number"),
        ({"max_samples": 2.5}, "max samples must be a whole number"),
        ({"max_samples": False}, "max samples must be a whole number"),
        ({"max_samples": 10**9}, "up to 1000000"),
        ({"robustness": 1}, "robustness must be true or false"),
        ({"robustness": "yes"}, "robustness must be true or false"),
        ({"dataset": 5}, "dataset must be a path or id"),
        ({"dataset": "d" * 10_000}, "dataset is too long"),
        ({"dataset": "digits\n<b>x</b>"}, "control characters"),
        ({"extra": []}, "extra must be a mapping"),
        ({"extra": {"k": [1]}}, "extra\\['k'\\] must be"),
        ({"extra": {"k": "v" * 10_000}}, "extra\\['k'\\] must be"),
        ({"extra": {str(i): i for i in range(100)}}, "too many entries"),
    ],
)
def test_hostile_values_are_refused_in_one_line(data, msg):
    with pytest.raises(ConfigError, match=msg) as err:
        BenchmarkConfig.from_dict(data)
    text = str(err.value)
    assert "\n" not in text and len(text) < 300  # one short line, never a dump of the input


@pytest.mark.parametrize("bad", [None, [], "backends=pytorch", 3])
def test_from_dict_needs_a_mapping(bad):
    with pytest.raises(ConfigError, match="must be a mapping"):
        BenchmarkConfig.from_dict(bad)


def test_constructor_is_as_strict_as_from_dict():
    with pytest.raises(ConfigError, match="whole number"):
        BenchmarkConfig(batch_sizes=(True,))
    with pytest.raises(ConfigError, match="fp16"):
        BenchmarkConfig(precisions=("fp16",))
    assert BenchmarkConfig(device="cuda", precisions=("fp16",)).precisions == ("fp16",)


@pytest.mark.parametrize(
    "cfg",
    [
        BenchmarkConfig(),
        BenchmarkConfig(dataset="digits", max_samples=50, precisions=("fp32", "int8"), robustness=True),
        BenchmarkConfig(min_duration_s=0.123456789, max_samples=None),
    ],
)
def test_to_dict_round_trips(cfg):
    assert BenchmarkConfig.from_dict(cfg.to_dict()) == cfg
