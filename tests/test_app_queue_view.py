"""eval_queue.view: the Queue tab's table, pure pandas (order, positions, failure reasons, odd entries)."""

from eval_queue.entry import make_entry, utc_now
from eval_queue.view import QUEUE_COLUMNS, STATUS_ORDER, queue_frame, queue_summary


def test_queue_frame_positions_and_failure_reasons():
    entries = [
        {"id": "b", "model": "m2", "status": "APPROVED", "submitted_at": "2026-01-02", "submitted_by": "x"},
        {"id": "a", "model": "m1", "status": "APPROVED", "submitted_at": "2026-01-01", "submitted_by": "x"},
        {
            "id": "c",
            "model": "m3",
            "status": "FAILED",
            "submitted_at": "2026-01-01",
            "error": {"kind": "timeout", "message": "took too long"},
        },
        {"id": "d", "model": "m4", "status": "RUNNING", "progress": {"stage": "measure", "message": "bs=8"}},
        {
            "id": "e",
            "model": "m5",
            "status": "PENDING_REVIEW",
            "events": [{"status": "PENDING_REVIEW", "by": "u"}],
        },
    ]
    df = queue_frame(entries)
    assert list(df.columns) == list(QUEUE_COLUMNS)
    assert df.Entry.tolist() == ["d", "a", "b", "e", "c"]  # running, then the run order, then review...
    assert df.Position.tolist() == ["", "1", "2", "", ""]
    assert "timeout: took too long" in df.Failure.tolist()
    assert (
        "bs=8" in df["Progress / last event"].tolist()
        and "PENDING_REVIEW by u" in df["Progress / last event"].tolist()
    )
    assert (
        queue_summary(df)
        == "RUNNING: 1 · APPROVED: 2 · PENDING_REVIEW: 1 · FAILED: 1 · FINISHED: 0 · REJECTED: 0"
    )


def test_queue_entries_as_dataclasses_read_the_same():
    e = make_entry("resnet18", "timm", None, {}, "alice", utc_now())
    df = queue_frame([e])
    assert (
        df.Model.tolist() == ["resnet18"] and df.By.tolist() == ["alice"] and df.Status.tolist() == [e.status]
    )


def test_odd_values_become_one_line_text_and_unknown_statuses_sort_last():
    entries = [
        {
            "id": "x",
            "model": "evil\n<img src=x>",
            "status": "WHATEVER",
            "events": "not a list",
            "error": ["not", "a", "dict"],
            "progress": 42,
            "attempts": None,
        },
        {"id": "y", "status": "FINISHED", "events": [None], "submitted_at": 5},
    ]
    df = queue_frame(entries)
    assert df.Entry.tolist() == ["y", "x"]
    row = df.iloc[1]
    assert row.Model == "evil <img src=x>" and row.Failure == "" and row["Progress / last event"] == "42"
    assert row.Tries == "" and df.iloc[0]["Submitted (UTC)"] == "5"


def test_empty_queue():
    df = queue_frame([])
    assert df.empty and queue_summary(df) == "The queue is empty."
    assert STATUS_ORDER[0] == "RUNNING"
