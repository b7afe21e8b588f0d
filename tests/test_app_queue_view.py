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


# --- Hugging Face Jobs (issue 12) -------------------------------------------------------------------
def _job(**kw):
    base = {"flavor": "cpu-basic", "status": "RUNNING", "attempts": 1}
    return {**base, **kw}


def test_jobs_frame_flavor_stage_elapsed_cost_and_logs():
    from datetime import UTC, datetime

    from eval_queue.view import JOB_COLUMNS, jobs_frame

    now = datetime(2026, 1, 1, 1, 0, 0, tzinfo=UTC)
    entries = [
        {"id": "a", "model": "m1", "status": "RUNNING", "submitted_at": "2026-01-01T00:00:00Z", "jobs": [
            _job(started_at="2026-01-01T00:30:00Z", usd_per_hour=0.6, stage="RUNNING",
                 job_url="https://huggingface.co/jobs/org/abc"),
            _job(flavor="t4-small", status="QUEUED", attempts=0, waiting="waiting: 1 of 1 Jobs already running"),
            _job(flavor="l4x1", status="FAILED", started_at="2026-01-01T00:00:00Z",
                 finished_at="2026-01-01T00:06:00Z", usd_per_hour=0.8, job_url="javascript:alert(1)",
                 error={"kind": "job_error", "message": "the Job ended ERROR"}),
        ]},
        {"id": "b", "model": "m2", "status": "APPROVED"},  # a local-worker entry: no jobs rows
    ]  # fmt: skip
    df = jobs_frame(entries, now)
    assert list(df.columns) == list(JOB_COLUMNS) and len(df) == 3
    first = df.iloc[0]
    assert (first.Flavor, first.Elapsed, first["Est. cost ($)"]) == ("cpu-basic", "0:30:00", "0.3000")
    assert first.Logs == "https://huggingface.co/jobs/org/abc"
    by = df.set_index("Flavor")
    assert by.loc["t4-small", "Stage / waiting"].startswith("waiting: 1 of 1")
    assert by.loc["l4x1", "Est. cost ($)"] == "0.0800" and by.loc["l4x1", "Logs"] == ""
    assert by.loc["l4x1", "Failure"] == "job_error: the Job ended ERROR"


def test_jobs_frame_hostile_values_never_raise():
    from eval_queue.view import jobs_frame

    entries = [
        {"id": "x", "jobs": "not a list"},
        {"id": "y", "jobs": [None, 5, {"flavor": ["a"], "usd_per_hour": "9", "started_at": 3}]},
        {"id": "z", "jobs": [{"usd_per_hour": float("nan"), "started_at": "not a time"}]},
    ]
    df = jobs_frame(entries)
    assert len(df) == 2 and set(df["Est. cost ($)"]) == {""}


def test_queue_position_counts_open_entries_before():
    from eval_queue.view import queue_position

    entries = [
        {"id": "old-done", "status": "FINISHED", "submitted_at": "2026-01-01"},
        {"id": "a", "status": "RUNNING", "submitted_at": "2026-01-02"},
        {"id": "b", "status": "PENDING_REVIEW", "submitted_at": "2026-01-03"},
        {"id": "c", "status": "PENDING_REVIEW", "submitted_at": "2026-01-04"},
    ]
    assert [queue_position(entries, i) for i in ("a", "b", "c", "old-done", "nope")] == [1, 2, 3, None, None]


def test_entry_with_jobs_shows_them_as_progress():
    from eval_queue.view import queue_frame

    e = {"id": "a", "model": "m", "status": "RUNNING",
         "jobs": [_job(), _job(flavor="t4-small", status="QUEUED")]}  # fmt: skip
    assert queue_frame([e])["Progress / last event"][0] == "cpu-basic: RUNNING · t4-small: QUEUED"


def test_queue_tab_jobs_table_escapes_text_and_links_only_hub_pages(tmp_path):
    from dataclasses import replace
    from types import SimpleNamespace

    from eval_queue.entries import create_entry
    from eval_queue.entry import APPROVED
    from eval_queue.flavors import Flavor
    from tests._queue_helpers import make_stores
    from ui.queue_tab import queue_and_jobs

    stores = make_stores(tmp_path)
    flavors = (Flavor("cpu-basic", "CPU", None, 0.01), Flavor("t4-small", "T4", "T4", 0.4))
    e = make_entry("<img src=x>", "timm", None, {}, "alice", utc_now(), APPROVED, "t", flavors=flavors)
    jobs = (
        replace(
            e.jobs[0], status="RUNNING", job_url="https://huggingface.co/jobs/org/abc", stage="*RUNNING*"
        ),
        replace(e.jobs[1], job_url="javascript:alert(1)"),
    )
    create_entry(stores.queue, replace(e, jobs=jobs))
    frame, table = queue_and_jobs(SimpleNamespace(stores=stores))
    assert len(frame) == 1 and len(table) == 2
    assert table.Logs.tolist() == ["[logs](https://huggingface.co/jobs/org/abc)", ""]
    assert all("<img" not in m for m in table.Model) and "\\*RUNNING\\*" in table["Stage / waiting"][0]
