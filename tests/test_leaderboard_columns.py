"""The field registry: every list of fields elsewhere is derived from it, so one entry is one change."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from leaderboard import columns as C
from leaderboard import filters, present, report
from leaderboard.columns import (
    BY_NAME,
    COLUMNS,
    DEFAULT_VISIBLE,
    FIELDS,
    FRAME_LEVEL,
    PINNED,
    WIDE_COLUMNS,
    format_value,
    frozen_count,
    visible_columns,
)
from leaderboard.load import build_frames, record_rows
from tests._leaderboard_helpers import make_record, make_run


def test_registry_is_unique_and_documented():
    names = [c.name for c in FIELDS]
    assert len(names) == len(set(names))
    assert len({c.label for c in FIELDS}) == len(FIELDS)
    assert all(c.help for c in FIELDS)
    assert {c.name for c in FIELDS if c.internal} == {"model_url", "row_id"}
    assert all(c.url_key for c in FIELDS if c.filter)


def test_every_field_is_computed_per_record_or_over_the_frame():
    """A Column without the code computing it (or code without its Column) fails here."""
    wide, _ = record_rows(make_record(runs=[make_run(bs=1, p50=5.0)]))
    assert set(wide[0]) == set(WIDE_COLUMNS) - set(FRAME_LEVEL)
    frame, _ = build_frames([make_record()])
    assert list(frame.columns) == list(WIDE_COLUMNS)


def test_frame_types_follow_the_registry_dtypes():
    frame, _ = build_frames([make_record(runs=[make_run(bs=1, p50=5.0, noise={"noisy": True, "cv": 0.3})])])
    for c in FIELDS:
        kind = str(frame[c.name].dtype)
        expected = {"float": ("float64",), "int": ("Int64",), "bool": ("boolean",)}.get(
            c.dtype, ("object", "str")
        )
        assert kind in expected, c.name


def test_roles_drive_search_filters_compare_export_and_report():
    assert filters.URL_KEYS["hardware_profile"] == "hw" and filters.URL_KEYS["params_min"] == "pmin"
    assert set(C.CATEGORY_FILTER_FIELDS) == {c.name for c in FIELDS if c.filter == "category"}
    assert {r.field for r in C.RANGE_FILTERS.values()} == {"params_m", "latency_p50_ms"}
    wide = build_frames([make_record(model="a"), make_record(model="b")])[0]
    assert present.compare_table(wide, wide.row_id.tolist()).metric.tolist() == [
        BY_NAME[n].label for n in C.for_task(C.COMPARE_FIELDS, "classification")
    ]
    assert list(present.export_frame(wide).columns) == list(C.EXPORT_FIELDS)
    assert [n for n, _ in report.table_columns(None)] == list(C.REPORT_FIELDS)
    assert {name for _, name in C.COLUMN_CHOICES} == {c.name for c in COLUMNS if not c.pinned}
    assert "reproduce" not in {n for _, n in C.SORT_CHOICES}


def test_filter_state_has_the_attributes_every_filterable_column_needs():
    attrs = {f.name for f in dataclasses.fields(filters.FilterState)}
    needed = set(C.CATEGORY_FILTER_FIELDS)
    needed |= {a for r in C.RANGE_FILTERS.values() for a in (r.min_attr, r.max_attr)}
    assert needed <= attrs, f"add {sorted(needed - attrs)} to FilterState"
    assert set(filters.URL_KEYS) == attrs  # every attribute has a URL key
    assert len(set(filters.URL_KEYS.values())) == len(filters.URL_KEYS)


EXTRA = 'Column("energy_j", "Energy J", "float", "Energy per image.", ".3f", "J", compare=True, report=True),'


@pytest.fixture()
def with_extra_metric(monkeypatch):
    """Fresh copies of the leaderboard modules built from a registry with one more Column, exactly as a
    contributor would add it (one line in FIELDS); the real modules are put back afterwards."""
    import leaderboard

    source = Path(C.__file__).read_text()
    opening = "FIELDS: tuple[Column, ...] = (\n"
    assert source.count(opening) == 1
    patched = source.replace(opening, opening + f"    {EXTRA}\n")
    for name in ("columns", "markup", "filters", "load", "present", "report"):
        monkeypatch.setattr(leaderboard, name, importlib.import_module(f"leaderboard.{name}"))
        monkeypatch.delitem(sys.modules, f"leaderboard.{name}")
    fresh = types.ModuleType("leaderboard.columns")
    fresh.__file__ = C.__file__
    monkeypatch.setitem(sys.modules, "leaderboard.columns", fresh)
    exec(compile(patched, C.__file__, "exec"), fresh.__dict__)
    mods = {n: importlib.import_module(f"leaderboard.{n}") for n in ("filters", "load", "present", "report")}
    real_rows = mods["load"].record_rows

    def record_rows(record):  # ... plus the code that measures it
        wide, long = real_rows(record)
        for row in wide:
            row["energy_j"] = 0.125
        return wide, long

    monkeypatch.setattr(mods["load"], "record_rows", record_rows)
    return mods


def test_a_column_added_to_the_registry_shows_up_everywhere(with_extra_metric):
    load, present, report = (with_extra_metric[n] for n in ("load", "present", "report"))
    wide, _ = load.build_frames([make_record()])
    assert wide["energy_j"].tolist() == [0.125] and str(wide["energy_j"].dtype) == "float64"
    assert "Energy J" in present.compare_table(wide, wide.row_id.tolist()).metric.tolist()
    assert "energy_j" in present.export_frame(wide).columns
    assert "| Energy J | 0.125 |" in present.row_details(wide.iloc[0].to_dict())
    text = report.render_report(wide, {})
    header = next(line for line in text.splitlines() if "| Model |" in line)
    assert "| Energy J |" in header and "| 0.125 |" in text


def test_the_real_modules_are_back_after_the_extra_metric_test():
    assert "energy_j" not in WIDE_COLUMNS and "energy_j" not in present.export_frame(build_frames([])[0])


def test_model_is_pinned_and_always_visible():
    assert PINNED == ("model",)
    assert visible_columns([]) == ["model"]
    assert visible_columns(["top1", "bogus", "rank", "row_id"]) == ["rank", "model", "top1"]
    assert visible_columns(None) == list(DEFAULT_VISIBLE)
    assert frozen_count(visible_columns(["rank"])) == 2 and frozen_count(["model", "top1"]) == 1


def test_reported_top1_is_labelled_as_timm_reported_not_measured():
    col = BY_NAME["reported_top1"]
    assert "timm" in col.label.lower() and "reported" in col.label.lower()
    assert "NOT measured" in col.help


def test_units_are_in_the_labels():
    for name, unit in [
        ("latency_p50_ms", "ms"),
        ("size_mb", "MiB"),
        ("params_m", "M"),
        ("throughput_ips", "img/s"),
    ]:
        assert BY_NAME[name].unit == unit and unit in BY_NAME[name].label


def test_formatting_of_numbers_markers_and_missing():
    assert format_value("top1", 75.123) == "75.12"
    assert format_value("top1", None) == "—" and format_value("top1", float("nan")) == "—"
    assert format_value("int8_top1_delta", -0.5) == "-0.50"
    assert format_value("latency_cv", 0.034) == "3.4%"
    assert format_value("noisy", True) == "⚠ noisy" and format_value("noisy", False) == "ok"
    assert format_value("noisy", None) == "—"
    assert format_value("top1", "not a number") == "not a number"  # never raises
    assert format_value("model", "x") == "x"
    assert present.cell_text("noisy", pd.NA) == "—"


# --- cost per image (issue 12) ----------------------------------------------------------------------
def _cost_record(usd_per_hour, tputs=((1, 100.0), (8, 400.0))):
    runs = [
        {"backend": "pytorch", "device": "cpu", "precision": "fp32", "batch_size": bs, "status": "ok",
         "throughput_ips": t, "latency_ms": {"p50": 10.0}}
        for bs, t in tputs
    ]  # fmt: skip
    env = {"hardware_profile": "hf-jobs-cpu-upgrade"}
    if usd_per_hour is not ...:
        env["flavor"] = {"name": "cpu-upgrade", "accelerator": None, "usd_per_hour": usd_per_hour}
    return {"key": "k1", "model": {"id": "resnet18"}, "environment": env, "runs": runs}


def test_cost_columns_derive_from_best_batch_size():
    from leaderboard.columns import SORTABLE, column
    from leaderboard.load import build_frames

    wide, _ = build_frames([_cost_record(0.036)])
    row = wide.iloc[0]
    assert row["flavor"] == "cpu-upgrade" and row["best_batch_size"] == 8
    assert row["cost_per_million_images"] == pytest.approx(0.036 / (400 * 3600) * 1e6)
    assert row["images_per_dollar"] == pytest.approx(400 * 3600 / 0.036)
    for name in ("cost_per_million_images", "images_per_dollar"):
        assert name in SORTABLE and column(name).numeric and str(wide[name].dtype) == "float64"


@pytest.mark.parametrize("cost", [..., None, "0.5", -1.0, float("nan"), True, {"x": 1}])
def test_cost_columns_missing_or_hostile_cost_stays_missing(cost):
    from leaderboard.load import build_frames

    wide, _ = build_frames([_cost_record(cost)])
    assert wide["cost_per_million_images"].isna().all() and wide["images_per_dollar"].isna().all()


def test_free_machine_costs_nothing_and_has_no_images_per_dollar():
    from leaderboard.load import build_frames

    wide, _ = build_frames([_cost_record(0.0)])
    assert wide.iloc[0]["cost_per_million_images"] == 0.0
    assert pd.isna(wide.iloc[0]["images_per_dollar"])


def test_cost_columns_survive_the_results_table(tmp_path):
    from harness.record import check_record_dict
    from leaderboard.load import frames_from_table
    from store import LocalDatasetStore
    from store.table import read_results_table, rebuild_results_table
    from tests._leaderboard_helpers import make_record

    rec = make_record("resnet18")
    rec["environment"]["flavor"] = {"name": "t4-small", "accelerator": "T4", "usd_per_hour": 0.4}
    store = LocalDatasetStore(tmp_path / "results", "results")
    from store import layout

    store.create_json(layout.record_path(rec["key"]), rec, "test")
    rebuild_results_table(store, validate=check_record_dict)
    wide, _ = frames_from_table(read_results_table(store, validate=check_record_dict))
    assert set(wide["flavor"]) == {"t4-small"} and (wide["cost_per_million_images"] > 0).all()
