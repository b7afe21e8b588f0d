from leaderboard.columns import (
    BY_NAME,
    COLUMNS,
    DEFAULT_VISIBLE,
    PINNED,
    format_value,
    frozen_count,
    gradio_datatype,
    visible_columns,
)
from leaderboard.load import WIDE_COLUMNS


def test_registry_is_unique_and_covers_the_loaded_frame():
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))
    assert len({c.label for c in COLUMNS}) == len(COLUMNS)
    assert set(WIDE_COLUMNS) - set(names) == {"model_url", "row_id"}
    assert all(c.help for c in COLUMNS)


def test_model_is_pinned_and_always_visible():
    assert PINNED == ("model",)
    assert visible_columns([]) == ["model"]
    assert visible_columns(["top1", "bogus", "rank"]) == ["rank", "model", "top1"]
    assert visible_columns(None) == list(DEFAULT_VISIBLE)
    assert frozen_count(visible_columns(["rank"])) == 2 and frozen_count(["model", "top1"]) == 1


def test_reported_top1_is_labelled_as_timm_reported_not_measured():
    col = BY_NAME["reported_top1"]
    assert "timm" in col.label.lower() and "reported" in col.label.lower()
    assert "NOT measured" in col.help


def test_formatting_and_types():
    assert format_value("top1", 75.123) == "75.12"
    assert format_value("top1", None) == "—" and format_value("top1", float("nan")) == "—"
    assert format_value("int8_top1_delta", -0.5) == "-0.50"
    assert format_value("model", "x") == "x"
    assert gradio_datatype("model") == "markdown" and gradio_datatype("top1") == "number"
