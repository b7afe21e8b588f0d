"""The Compare tab in-process: best value per metric bold, a warning when the rows are not like for like
(hardware profile, dataset, threads read from the records), every record-supplied value escaped."""

from __future__ import annotations

import pytest

from harness.record import check_record_dict
from leaderboard import present
from leaderboard.load import build_frames
from store import LocalDatasetStore, Stores, layout
from store.table import rebuild_results_table
from tests._leaderboard_helpers import make_record, make_run
from ui import compare_tab, state


@pytest.fixture()
def st(tmp_path):
    stores = Stores(
        results=LocalDatasetStore(tmp_path / "results", "results"),
        queue=LocalDatasetStore(tmp_path / "queue", "queue"),
        backend="local",
    )
    previous = state.install(state.AppState.open(stores))
    yield state.current()
    state.install(previous)


def _add(st, *records):
    for rec in records:
        st.stores.results.write_json(layout.record_path(rec["key"]), rec)
    rebuild_results_table(st.stores.results, validate=check_record_dict)
    st.cache.check_every_s = 0
    return st.snapshot().wide


def _ids(wide, *models):
    return [wide[wide.model == m].row_id.iloc[0] for m in models]


def test_best_value_per_metric_is_bold_and_facts_are_not(st):
    wide = _add(
        st,
        make_record(model="fast", runs=[make_run(p50=2.0, rss=900.0)]),
        make_record(model="slow", runs=[make_run(p50=8.0, rss=300.0)]),
    )
    c = compare_tab.compare(st, _ids(wide, "fast", "slow"))
    table = c.table.set_index("metric")
    fast, slow = (next(col for col in table.columns if col.startswith(m)) for m in ("fast", "slow"))
    assert table.loc["p50 ms (bs1)", fast].startswith("**") and not table.loc[
        "p50 ms (bs1)", slow
    ].startswith("**")
    assert table.loc["Peak MiB", slow].startswith("**") and not table.loc["Peak MiB", fast].startswith("**")
    assert not any(str(v).startswith("**") for v in table.loc["Hardware"])  # a fact, not a score
    assert c.note == ""  # same hardware, dataset and threads


def test_ties_are_all_best_and_one_number_is_no_contest():
    assert present.best_of([1.0, 3.0, 3.0]) == {1, 2}
    assert present.best_of([None, 2.0]) == set() and present.best_of([]) == set()
    assert present.best_of([float("nan"), 1.0, True]) == set()  # NaN and booleans are not numbers


def test_warns_when_hardware_dataset_or_threads_differ(st):
    wide = _add(
        st,
        make_record(model="a", hw="cpu-x-2c", runs=[make_run(p50=2.0, threads=2)]),
        make_record(model="b", hw="<b>gpu</b>", runs=[make_run(p50=3.0, threads=8)]),
    )
    note = compare_tab.compare(st, _ids(wide, "a", "b")).note
    assert "Not like for like" in note and "hardware profiles" in note and "thread counts: 2; 8" in note
    assert "<b>" not in note and "&lt;b&gt;" in note


def test_thread_lookup_survives_missing_or_hostile_records(st, tmp_path):
    wide = _add(st, make_record(model="a"), make_record(model="b"))
    rows = wide.to_dict("records")
    assert compare_tab.run_threads(st, {**rows[0], "key": "../../etc/passwd"}) == set()
    path = tmp_path / "results" / layout.record_path(rows[1]["key"])
    path.unlink()
    path.symlink_to(path)  # a symlink loop where the record was
    assert compare_tab.run_threads(st, rows[1]) == set()
    assert compare_tab.run_threads(st, rows[0]) == {1}


def test_compare_markdown_escapes_record_text():
    wide = build_frames([make_record(model="<img src=x>", revision="*bold*|pipe"), make_record(model="ok")])[
        0
    ]
    table = present.compare_table(wide, wide.row_id.tolist(), mark_best=True)
    cells = " ".join(str(v) for v in table.to_numpy().ravel())
    assert "<img" not in cells and r"\*bold\*" in cells and r"\|" in cells
    plain = present.compare_table(wide, wide.row_id.tolist())
    assert "*bold*|pipe" in " ".join(str(v) for v in plain.to_numpy().ravel())
