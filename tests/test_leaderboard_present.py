import pandas as pd

from leaderboard.cache import LeaderboardCache
from leaderboard.load import build_frames
from leaderboard.present import compare_choices, compare_table, display_page, export_frame, row_details
from leaderboard.reference import DATA_FILE, load_reference, select_default_tags
from store import LocalDatasetStore
from tests._leaderboard_helpers import make_record, make_run


def test_display_page_sends_only_one_page_with_labels_and_missing_marks():
    recs = [make_record(model=f"m{i}", runs=[make_run(p50=1.0 + i)]) for i in range(25)]
    wide = build_frames(recs)[0]
    frame, dtypes, row_ids, page, pages = display_page(wide, ["top1", "latency_p50_ms"], page=3, page_size=10)
    assert (page, pages, len(frame)) == (3, 3, 5)
    assert list(frame.columns) == ["Model", "Top-1 %", "p50 ms (bs1)"]
    assert dtypes[0] == "markdown" and frame["Top-1 %"].tolist() == ["—"] * 5
    assert frame["Model"].iloc[0].startswith("[m") and row_ids == wide.row_id.tolist()[20:]
    assert display_page(wide, None, page=99, page_size=10)[3] == 3  # clamped
    assert len(display_page(wide.iloc[0:0], None)[0]) == 0


def test_details_show_the_reproduce_command_and_compare_table():
    wide = build_frames([make_record(model="a"), make_record(model="b")])[0]
    md = row_details(wide.iloc[0].to_dict())
    assert "python -m harness" in md and "Reported top-1 (timm)" in md
    table = compare_table(wide, wide.row_id.tolist())
    assert table.shape[1] == 3 and "p50 ms (bs1)" in table.metric.tolist()
    assert [rid for _, rid in compare_choices(wide)] == wide.sort_values("rank").row_id.tolist()
    exp = export_frame(wide)
    assert list(exp.columns[:3]) == ["rank", "model", "model_url"] and "reproduce" in exp


def test_reference_subset_picks_the_default_tag():
    rows = [
        {"model": "net.b_tag", "top1": "80", "top5": "95", "img_size": "224", "param_count": "1"},
        {"model": "net.a_tag", "top1": "70", "top5": "90", "img_size": "224", "param_count": "1"},
        {"model": "other.x", "top1": "60", "top5": "80", "img_size": "224", "param_count": "1"},
        {"model": "unknown.y", "top1": "60", "top5": "80", "img_size": "224", "param_count": "1"},
    ]
    chosen = select_default_tags(rows, {"net": ["a_tag", "b_tag"], "other": ["z"]})
    assert [(r["model"], r["top1"]) for r in chosen] == [("net", "70"), ("other", "60")]


def test_shipped_reference_data_is_small_and_per_arch():
    ref = load_reference()
    assert DATA_FILE.stat().st_size < 200_000
    assert 60 < ref["resnet18"]["top1"] < 90 and "." not in next(iter(ref))


def test_cache_reloads_only_when_the_table_changes(tmp_path):
    store = LocalDatasetStore(tmp_path / "results", "results")
    calls = []

    def read_table(s):
        calls.append(1)
        return (
            pd.read_json(tmp_path / "results" / "results.parquet")
            if s.exists("results.parquet")
            else pd.DataFrame()
        )

    cache = LeaderboardCache(store, read_table, check_every_s=0)
    assert cache.get().wide.empty
    cache.get()
    assert len(calls) == 1  # unchanged: no reload
    store.write_bytes(
        "results.parquet", pd.DataFrame([{"model.id": "m", "runs": "[]"}]).to_json(orient="records").encode()
    )
    cache.get()
    assert len(calls) == 2


def test_reference_regeneration_needs_an_explicit_source(tmp_path, capsys):
    from leaderboard.reference import main

    assert main([]) == 2 and "usage" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.csv")]) == 2
