import math
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from leaderboard.filters import (
    DEFAULT_STATE,
    MAX_ITEM_CHARS,
    MAX_LIST_ITEMS,
    MAX_QUERY_CHARS,
    FilterError,
    FilterState,
    apply_filters,
    choices,
    decode_state,
    describe_empty_view,
    empty_view_culprits,
    encode_state,
    matcher,
    pareto_front,
    pareto_mask,
    range_mask,
    search_mask,
    sort_frame,
)
from leaderboard.load import build_frames
from tests._leaderboard_helpers import make_record, make_run


# --- Pareto ----------------------------------------------------------------------------------------
def test_pareto_mask_on_crafted_points():
    # (latency, accuracy): lower x better, higher y better
    pts = [
        (1.0, 70.0),  # front: fastest
        (2.0, 80.0),  # front
        (2.0, 75.0),  # dominated by (2, 80)
        (3.0, 80.0),  # dominated: slower, same accuracy
        (4.0, 90.0),  # front: best accuracy
        (5.0, 85.0),  # dominated by (4, 90)
        (np.nan, 99.0),  # missing latency: never on the front
        (0.5, np.nan),  # missing accuracy: never on the front
    ]
    x, y = np.array(pts).T
    assert pareto_mask(x, y).tolist() == [True, True, False, False, True, False, False, False]


def test_pareto_mask_keeps_exact_ties_and_handles_empty():
    assert pareto_mask(np.array([1.0, 1.0, 2.0]), np.array([5.0, 5.0, 5.0])).tolist() == [True, True, False]
    assert pareto_mask(np.array([]), np.array([])).tolist() == []
    assert pareto_mask(np.array([np.nan]), np.array([1.0])).tolist() == [False]


def test_pareto_mask_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 8, 200).astype(float), rng.integers(0, 8, 200).astype(float)
    brute = [
        not any((x[j] <= x[i] and y[j] >= y[i]) and (x[j] < x[i] or y[j] > y[i]) for j in range(len(x)))
        for i in range(len(x))
    ]
    assert pareto_mask(x, y).tolist() == brute


def test_pareto_front_is_per_hardware_profile():
    df = pd.DataFrame(
        {
            "hardware_profile": ["cpu", "cpu", "gpu", "gpu"],
            "latency_p50_ms": [1.0, 2.0, 10.0, 20.0],
            "top1": [80.0, 70.0, 60.0, 65.0],
        }
    )
    # the gpu rows are slower than the cpu ones but have their own front
    assert pareto_front(df, "latency_p50_ms", "top1").tolist() == [True, False, True, True]


# --- frame fixtures --------------------------------------------------------------------------------
@pytest.fixture()
def wide():
    recs = [
        make_record(
            model="resnet18",
            pretrained=True,
            accuracy={"top1": 70.0},
            params=11_700_000,
            runs=[make_run(bs=1, p50=10.0), make_run("onnxruntime", bs=1, p50=6.0)],
        ),
        make_record(
            model="hf-hub:org/vit-small",
            source="hf-hub",
            arch="vit_small_patch16_224",
            pretrained=True,
            accuracy={"top1": 80.0},
            params=22_000_000,
            runs=[make_run(bs=1, p50=30.0)],
        ),
        make_record(model="mobilenetv3_large_100", params=None, runs=[make_run(bs=1, p50=4.0)]),
        make_record(model="efficientnet_b0", params=5_300_000, runs=[make_run(bs=8, p50=20.0)], hw="cuda-x"),
    ]
    return build_frames(recs)[0]


def test_free_text_and_regex_search(wide):
    assert set(wide[search_mask(wide, "VIT")].model) == {"hf-hub:org/vit-small"}
    assert set(wide[search_mask(wide, "onnx")].backend) == {"onnxruntime"}
    assert set(wide[search_mask(wide, r"^(resnet|efficient)", regex=True)].model) == {
        "resnet18",
        "efficientnet_b0",
    }
    assert search_mask(wide, "").all()
    # a literal search treats regex characters as text
    assert not search_mask(wide, "res.et").any()


def test_bad_regex_is_a_clear_error_not_a_crash(wide):
    with pytest.raises(FilterError, match="invalid regular expression"):
        search_mask(wide, "resnet(", regex=True)
    with pytest.raises(FilterError):
        apply_filters(wide, replace(DEFAULT_STATE, search="[", regex=True))


def test_range_filter_keeps_missing_values(wide):
    mask = range_mask(wide.params_m, 10.0, 15.0)
    kept = wide[mask]
    assert set(kept.model) == {"resnet18", "mobilenetv3_large_100"}  # mobilenet has no params: kept
    view = apply_filters(wide, replace(DEFAULT_STATE, params_min=10.0, params_max=15.0))
    assert "mobilenetv3_large_100" in set(view.frame.model)
    assert "without params kept" in view.note


def test_latency_range_and_category_filters(wide):
    v = apply_filters(wide, replace(DEFAULT_STATE, latency_max=8.0))
    assert set(v.frame.model) == {
        "resnet18",
        "mobilenetv3_large_100",
        "efficientnet_b0",
    }  # eff: no bs1 -> kept
    v = apply_filters(wide, replace(DEFAULT_STATE, backend=("onnxruntime",)))
    assert v.frame.backend.tolist() == ["onnxruntime"]
    v = apply_filters(wide, replace(DEFAULT_STATE, hardware_profile=("cuda-x",), family=("efficientnet",)))
    assert v.frame.model.tolist() == ["efficientnet_b0"]
    v = apply_filters(wide, replace(DEFAULT_STATE, task="classification", precision=("fp32",)))
    assert len(v.frame) == len(wide) and v.total == len(wide)


def test_sort_by_any_column_missing_last_both_ways(wide):
    asc = sort_frame(wide, "params_m").params_m.tolist()
    desc = sort_frame(wide, "params_m", descending=True).params_m.tolist()
    assert asc[:-1] == sorted(asc[:-1]) and math.isnan(asc[-1])
    assert desc[:-1] == sorted(desc[:-1], reverse=True) and math.isnan(desc[-1])
    assert sort_frame(wide, "model").model.tolist()[0] == "efficientnet_b0"
    with pytest.raises(FilterError):
        sort_frame(wide, "nope")


def test_pareto_only_view(wide):
    v = apply_filters(wide, replace(DEFAULT_STATE, pareto=True))
    # rows with accuracy: resnet18/pytorch (10ms, 70), resnet18/ort (6ms, 70), vit (30ms, 80): front = ort + vit
    assert sorted(zip(v.frame.model, v.frame.backend, strict=True)) == [
        ("hf-hub:org/vit-small", "pytorch"),
        ("resnet18", "onnxruntime"),
    ]
    assert "cannot be on the front" in v.note


def test_empty_frame_never_crashes():
    empty = build_frames([])[0]
    v = apply_filters(empty, replace(DEFAULT_STATE, pareto=True, search="x", params_min=1))
    assert v.frame.empty and v.total == 0
    assert choices(empty, "family") == []


# --- URL state -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "state",
    [
        DEFAULT_STATE,
        FilterState(search="vit small", regex=True),
        FilterState(family=("resnet", "vit"), backend=("onnxruntime",), hardware_profile=("cpu-x-2c",)),
        FilterState(params_min=1.5, params_max=20.0, latency_min=0.25, latency_max=100.0),
        FilterState(sort_by="latency_p50_ms", descending=True, pareto=True, columns=("top1", "gmacs")),
        FilterState(search="a&b=c, d?#", task="detection", precision=("int8", "fp32")),
    ],
)
def test_url_state_round_trip(state):
    assert decode_state(encode_state(state)) == state


def test_default_state_has_an_empty_query_and_garbage_decodes_safely():
    assert encode_state(DEFAULT_STATE) == ""
    s = decode_state("?pmin=abc&sort=drop_table&cols=bogus,top1&pareto=yes&unknown=1&lmax=inf")
    assert s.params_min is None and s.sort_by == "rank" and s.columns == ("top1",) and s.pareto is True
    assert s.latency_max is None
    assert decode_state({"q": "resnet", "desc": "1"}) == FilterState(search="resnet", descending=True)


# --- bounded time: nothing a URL or form carries can stall a request ----------------------------------
@pytest.fixture(scope="module")
def big():
    """10k rows with long names (a hostile record's model id is 100k characters)."""
    recs = [
        make_record(model=f"model_{i:05d}_" + "a" * 50, runs=[make_run(p50=1.0 + i % 7)]) for i in range(2000)
    ]
    wide = build_frames(recs)[0]
    wide = pd.concat([wide] * 5, ignore_index=True)
    wide.loc[0, "model"] = "a" * 100_000
    return wide


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(a|a)*b", r"(a*)*b", r"(x+x+)+y", r"^(\w+\s?)*$", r"(.*a){12}"]
)
def test_catastrophic_regexes_run_in_linear_time(big, pattern):
    start = time.perf_counter()
    view = apply_filters(big, replace(DEFAULT_STATE, search=pattern, regex=True))
    assert time.perf_counter() - start < 1.0, pattern
    assert view.total == len(big)


@pytest.mark.parametrize("pattern", [r"(.|.)*(?=!)", r"(?<=a)b", r"(?!x)y", r"(a)\1"])
def test_lookaround_and_backreferences_are_refused_clearly(big, pattern):
    start = time.perf_counter()
    with pytest.raises(FilterError, match="invalid regular expression.*linear time"):
        search_mask(big, pattern, regex=True)
    assert time.perf_counter() - start < 0.5


def test_regex_search_logs_nothing_on_bad_patterns(capfd):
    with pytest.raises(FilterError):
        search_mask(pd.DataFrame({"model": ["x"]}), "(?=x", regex=True)
    assert capfd.readouterr().err == ""


def test_search_text_is_capped_and_plain_search_never_compiles(big, monkeypatch):
    with pytest.raises(FilterError, match="at most 200"):
        search_mask(big, "a" * 1_000_000)
    with pytest.raises(FilterError, match="at most 200"):
        apply_filters(big, replace(DEFAULT_STATE, search="(a+)+$" * 50_000, regex=True))
    import re2

    monkeypatch.setattr(re2, "compile", lambda *a, **k: pytest.fail("regex=False compiled a pattern"))
    start = time.perf_counter()
    assert search_mask(big, "(.|.)*(?=!)").sum() == 0  # literal text: no row contains it
    expected = big.model.str.contains("model_01234", regex=False).sum()
    assert expected == 5 and search_mask(big, "MODEL_01234").sum() == expected  # case-insensitive substring
    assert time.perf_counter() - start < 1.0


def test_lone_surrogates_never_crash():
    """JSON allows "\\ud800"; no frame can hold it, so the loader drops such text and search refuses it."""
    wide = build_frames([make_record(model="ok"), make_record(model="bad\ud800")])[0]
    assert wide.model.tolist() == ["ok"]
    assert search_mask(wide, "ok", regex=True).tolist() == [True]
    with pytest.raises(FilterError):
        search_mask(wide, "\ud800", regex=True)
    assert matcher("x", regex=True)("bad\ud800") is False  # an object column holding one: no match


def test_decode_state_caps_lists_strings_and_the_query():
    many = ",".join(f"v{i}" for i in range(10_000))
    long_item = "x" * 10_000
    s = decode_state(
        f"backend={long_item[:500]},onnxruntime&sort={long_item[:500]}&pmin={'9' * 500}&family={many}"
    )
    assert len(s.family) == MAX_LIST_ITEMS and s.backend == ("onnxruntime",) and s.sort_by == "rank"
    assert s.params_min is None or math.isfinite(s.params_min)
    huge = decode_state("q=" + "a" * 5_000_000)
    assert len(huge.search) <= MAX_QUERY_CHARS
    with pytest.raises(FilterError):  # shown to the user rather than silently ignored
        apply_filters(build_frames([make_record()])[0], huge)
    assert decode_state({"q": ["not", "a", "string"], "family": 3}) == DEFAULT_STATE


def test_a_hostile_form_post_is_refused_not_run():
    wide = build_frames([make_record()])[0]
    with pytest.raises(FilterError, match="too many"):
        apply_filters(wide, replace(DEFAULT_STATE, backend=tuple(f"b{i}" for i in range(MAX_LIST_ITEMS + 1))))
    with pytest.raises(FilterError, match="too many"):
        apply_filters(wide, replace(DEFAULT_STATE, family=("x" * (MAX_ITEM_CHARS + 1),)))


def test_noisy_rows_can_be_sorted_and_exported():
    recs = [
        make_record(model="calm", runs=[make_run(p50=1.0, noise={"noisy": False, "cv": 0.01})]),
        make_record(model="busy", runs=[make_run(p50=2.0, noise={"noisy": True, "cv": 0.9})]),
        make_record(model="old", runs=[make_run(p50=3.0)]),
    ]
    wide = build_frames(recs)[0]
    assert sort_frame(wide, "noisy", descending=True).model.tolist() == ["busy", "calm", "old"]


# --- why a view is empty ------------------------------------------------------------------------------
def _board():
    return build_frames(
        [
            make_record(
                model="resnet18",
                params=11_000_000,
                runs=[make_run(p50=2.0), make_run("onnxruntime", p50=1.0)],
            ),
            make_record(model="vit_tiny_patch16_224", params=5_000_000, runs=[make_run(p50=9.0)]),
        ]
    )[0]


def test_empty_view_names_the_single_filter_that_removed_every_row():
    wide = _board()
    fs = replace(DEFAULT_STATE, search="vit", backend=("onnxruntime",))
    assert apply_filters(wide, fs).frame.empty
    found = {c.field: c.rows for c in empty_view_culprits(wide, fs)}
    assert found == {"search": 1, "backend": 1}
    fs = replace(DEFAULT_STATE, search="resnet", latency_max=0.5)
    (c,) = empty_view_culprits(wide, fs)
    assert c.field == "latency_p50_ms" and c.rows == 2 and "≤ 0.5" in c.label
    text = describe_empty_view(wide, fs)
    assert text.startswith("No rows match.") and "p50 ms" in text and "2 rows" in text


def test_empty_view_explanations_when_no_single_filter_or_nothing_to_blame():
    wide = _board()
    both = replace(DEFAULT_STATE, search="nomatch", latency_max=0.1)  # each alone already removes all
    assert empty_view_culprits(wide, both) == []
    assert "together" in describe_empty_view(wide, both)
    assert empty_view_culprits(wide, DEFAULT_STATE) == []  # a view with rows has no culprit
    assert empty_view_culprits(wide.iloc[0:0], replace(DEFAULT_STATE, search="x")) == []
    assert describe_empty_view(wide.iloc[0:0], DEFAULT_STATE) == "No rows match this view."
    hostile = replace(DEFAULT_STATE, search="<b>*x*</b>", regex=False)
    assert '"<b>*x*</b>"' in describe_empty_view(wide, hostile)  # plain text: the UI escapes it


# --- the per-snapshot index ----------------------------------------------------------------------------
def _reference(df: pd.DataFrame, state: FilterState) -> list[str]:
    """The view by plain pandas (a boolean mask, a frame copy, a stable sort): what the index must equal."""
    mask = search_mask(df, state.search, state.regex) & (df["task"] == state.task)
    for name in ("family", "backend", "precision", "hardware_profile"):
        if getattr(state, name):
            mask &= df[name].isin(getattr(state, name))
    mask &= range_mask(df["params_m"], state.params_min, state.params_max)
    mask &= range_mask(df["latency_p50_ms"], state.latency_min, state.latency_max)
    out = df[mask]
    if state.pareto and not out.empty:
        out = out[
            pareto_front(out, "latency_p50_ms", "top1" if out["top1"].notna().any() else "throughput_ips")
        ]
    return sort_frame(out, state.sort_by, state.descending)["row_id"].tolist()


@pytest.fixture(scope="module")
def many():
    rng = np.random.default_rng(3)
    recs = []
    for i in range(120):
        arch = ("resnet18", "vit_tiny_patch16_224", "efficientnet_b0")[i % 3]
        runs = [
            make_run(p50=float(rng.choice([1.0, 2.0, 5.0, 8.0]))),
            make_run("onnxruntime", p50=float(rng.uniform(1, 9))),
        ]
        if i % 7 == 0:
            runs[0]["latency_ms"] = None  # missing values sort last and stay in range filters
        recs.append(
            make_record(
                model=f"org/m{i:03d}-{arch}",
                key=f"k{i:03d}",
                arch=arch,
                pretrained=i % 5 != 0,
                accuracy={"top1": float(rng.choice([70.0, 75.0, 80.0])), "top5": 90.0},
                hw=f"cpu-{i % 3}",
                params=int(rng.integers(1, 90)) * 1_000_000,
                runs=runs,
            )
        )
    return build_frames(recs)[0]


@pytest.mark.parametrize(
    "state",
    [
        DEFAULT_STATE,
        replace(DEFAULT_STATE, descending=True),
        replace(DEFAULT_STATE, sort_by="latency_p50_ms"),
        replace(DEFAULT_STATE, sort_by="latency_p50_ms", descending=True),
        replace(DEFAULT_STATE, sort_by="model", descending=True, search="VIT"),
        replace(DEFAULT_STATE, sort_by="noisy", backend=("onnxruntime",), params_max=40.0),
        replace(DEFAULT_STATE, pareto=True),
        replace(DEFAULT_STATE, pareto=True, sort_by="top1", descending=True, hardware_profile=("cpu-1",)),
        replace(
            DEFAULT_STATE, search=r"m0[0-4]\d-(resnet|vit)", regex=True, latency_min=2.0, latency_max=8.0
        ),
    ],
)
def test_index_views_equal_the_plain_pandas_view(many, state):
    from leaderboard.filters import FrameIndex

    index = FrameIndex(many)
    view = index.view(state)
    assert view.frame["row_id"].tolist() == _reference(many, state)
    assert view.page(0, 5)["row_id"].tolist() == _reference(many, state)[:5]
    assert (
        view.take(["model", "top1"]).columns.tolist() == ["model", "top1"]
        and len(view.take(["model"])) == view.size
    )
    assert index.view(state) is view  # memoised


def test_vectorised_pareto_mask_matches_brute_force_with_ties():
    rng = np.random.default_rng(7)
    for _ in range(30):
        x = rng.choice([1.0, 2.0, 3.0, np.nan], 40)
        y = rng.choice([1.0, 2.0, 3.0, np.nan], 40)
        brute = [
            not (np.isnan(x[i]) or np.isnan(y[i]))
            and not any(
                x[j] <= x[i] and y[j] >= y[i] and (x[j] < x[i] or y[j] > y[i]) for j in range(40) if j != i
            )
            for i in range(40)
        ]
        assert pareto_mask(x, y).tolist() == brute
