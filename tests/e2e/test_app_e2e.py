"""End to end: the real app (subprocess) in headless Chromium, on a temp data dir.

Records come from the real harness (tiny timm archs, PyTorch only, min-duration 0.1 s) and from the real
queue: a model submitted in the UI, approved by a maintainer (admin token) and measured by the in-process
worker. Screenshots of every tab go to ``test-artifacts/`` (gitignored).

Skipped when /usr/bin/chromium is missing, unless REQUIRE_E2E=1 (CI), where that is a failure
(fixtures in conftest.py, helpers in _app.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import LocalDatasetStore, layout
from tests.e2e._app import (
    ROOT,
    open_board,
    open_chart,
    require_browser,
    rows_shown,
    running_app,
    shot,
    wait_status,
)

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "e2e-admin-token"
SEEDED = ("test_vit", "mobilenetv3_small_050")
SUBMITTED = "test_efficientnet"


def _harness_records(out_dir: Path) -> list[Path]:
    """Measure the seeded archs with the real harness CLI (both at once: they are tiny)."""
    procs = []
    for arch in SEEDED:
        out = out_dir / f"{arch}.json"
        cmd = [
            sys.executable,
            "-m",
            "harness",
            arch,
            "--backends",
            "pytorch",
            "--batch-sizes",
            "1,2",
            "--min-duration",
            "0.1",
            "--threads",
            "1",
            "--output",
            str(out),
            "--quiet",
        ]
        procs.append((subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True), out))
    paths = []
    for proc, out in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"harness failed: {err[-2000:]}"
        paths.append(out)
    return paths


def _load_into_store(data_dir: Path, records: list[dict]) -> None:
    results = LocalDatasetStore(data_dir / "results", "results")
    LocalDatasetStore(data_dir / "queue", "queue")
    for rec in records:
        results.write_json(layout.record_path(rec["key"]), rec)


def _speed(record: dict) -> tuple[float, float]:
    """(batch-1 p50 latency, best throughput) of a record: the board's x and y when there is no accuracy."""
    runs = record["runs"]
    p50 = next(r["latency_ms"]["p50"] for r in runs if r["batch_size"] == 1)
    return p50, max(r["throughput_ips"] for r in runs)


def pareto_rows(records: list[dict]) -> int:
    """How many records no other one dominates (lower or equal latency and higher or equal throughput,
    one of them strictly)."""

    def dominated(a: tuple[float, float]) -> bool:
        return any(b[0] <= a[0] and b[1] >= a[1] and b != a for b in map(_speed, records))

    return sum(not dominated(_speed(r)) for r in records)


@pytest.fixture(scope="module")
def server_records(tmp_path_factory) -> list[dict]:
    """The seeded models' records, measured by the real harness."""
    require_browser()
    return [json.loads(p.read_text()) for p in _harness_records(tmp_path_factory.mktemp("records"))]


@pytest.fixture(scope="module")
def server(tmp_path_factory, server_records):
    base = tmp_path_factory.mktemp("e2e")
    data_dir = base / "data"
    _load_into_store(data_dir, server_records)
    with running_app(
        data_dir,
        base / "app.log",
        LEADERBOARD_WORKER="1",
        LEADERBOARD_WORKER_INTERVAL="1",
        LEADERBOARD_QUEUE_REFRESH_S="2",
        LEADERBOARD_ADMIN_TOKEN=ADMIN_TOKEN,
    ) as url:
        yield url


def search_box(page):
    return page.locator("#lb-search textarea, #lb-search input").first


def test_leaderboard_filter_sort_url_and_details(server, server_records, page):
    open_board(page, server)
    assert rows_shown(page) == 2
    assert page.locator("#lb-table [role=gridcell] a:has-text('test_vit')").count() == 1  # links out
    open_chart(page)  # the chart draws both rows' points
    page.wait_for_function("() => document.querySelectorAll('#lb-plot .scatterlayer .point').length >= 2")
    shot(page, "leaderboard")

    search_box(page).press_sequentially("mobilenet")
    page.wait_for_function("() => location.search.includes('q=mobilenet')")
    wait_status(page, "of 1 rows")
    assert rows_shown(page) == 1

    # the URL carries the view: opening it again restores the filter controls and the rows
    page.goto(page.url)
    wait_status(page, "Showing")
    assert search_box(page).input_value() == "mobilenet" and rows_shown(page) == 1

    # sort by p50 latency, both ways (server-side, from the URL state)
    lat = {}
    for desc in ("0", "1"):
        page.goto(server + f"?sort=latency_p50_ms&desc={desc}&cols=latency_p50_ms")
        wait_status(page, "Showing")
        cells = page.locator("#lb-table [role=gridcell][data-col='1']").all_inner_texts()
        lat[desc] = [float(c) for c in cells if re.fullmatch(r"[\d.]+", c.strip())]
    assert len(lat["0"]) == 2 and lat["0"] == sorted(lat["0"]) and lat["1"] == sorted(lat["1"], reverse=True)

    # a bad regex is a message, not a crash
    page.goto(server + "?q=%28&re=1")
    wait_status(page, "invalid regular expression")

    # Pareto only: test_vit is usually faster with the higher throughput, dominating mobilenet; both are
    # measured on a busy machine, so the rows on the front are worked out from the records themselves
    open_board(page, server)
    page.locator("#lb-pareto input").check()
    wait_status(page, f"of {pareto_rows(server_records)} rows")
    page.wait_for_function("() => location.search.includes('pareto=1')")

    # CSV of the current view
    page.click("#lb-csv")
    page.wait_for_selector("#lb-export:has-text('.csv')")

    # row details show the reproduce command
    open_board(page, server)
    page.locator("#lb-table [data-testid='cell-0-3']").click()
    page.wait_for_selector("#lb-details:has-text('python -m harness')")
    shot(page, "leaderboard-details")


def test_compare_two_models(server, page):
    open_board(page, server)
    page.get_by_role("tab", name="Compare").click()
    pick = page.locator("#cmp-pick input").first
    for name in SEEDED:
        pick.click()
        page.get_by_role("option", name=re.compile(name)).first.click()
    for name in SEEDED:
        page.wait_for_selector(f"#cmp-table thead:has-text('{name}')")
    headers = page.locator("#cmp-table thead th").all_inner_texts()  # the header row is a real table
    assert sum(any(n in h for n in SEEDED) for h in headers) == 2
    shot(page, "compare")


def test_submit_approve_and_see_the_measured_row(server, page):
    open_board(page, server)
    page.get_by_role("tab", name="About").click()
    page.wait_for_selector("text=How every number is measured")
    shot(page, "about")

    page.get_by_role("tab", name="Submit").click()
    page.locator("#sub-model input, #sub-model textarea").first.fill(SUBMITTED)
    page.locator("#sub-name input, #sub-name textarea").first.fill("e2e-user")
    page.locator("#sub-backends").get_by_label("onnxruntime", exact=True).uncheck()
    page.get_by_label("Batch sizes").fill("1")
    page.locator("#sub-mindur input").fill("0.1")
    page.click("#sub-btn")
    page.wait_for_selector("#sub-out:has-text('Queued')", timeout=60_000)
    entry_id = re.search(r"as (\S+) — status", page.inner_text("#sub-out")).group(1)
    shot(page, "submit")

    # submitting the same thing again is refused with the reason
    page.click("#sub-btn")
    page.wait_for_selector("#sub-out:has-text('Refused')", timeout=60_000)

    page.get_by_role("tab", name="Queue").click()
    page.wait_for_selector(f"#q-table:has-text('{entry_id}')")
    assert "PENDING_REVIEW" in page.inner_text("#q-table")
    shot(page, "queue")

    page.get_by_role("tab", name="Review").click()
    page.locator("#rev-token input").fill("not-the-token")
    page.click("#rev-load")
    page.wait_for_selector("#rev-who:has-text('Maintainers only')")
    assert page.locator("#rev-approve").is_disabled() and page.locator("#rev-reject").is_disabled()
    # (the server still checks every action: tests/test_app_review.py)

    page.locator("#rev-token input").fill(ADMIN_TOKEN)
    page.click("#rev-load")
    page.wait_for_selector("#rev-who:has-text('Signed in as maintainer')")
    page.wait_for_selector("#rev-entry:has-text('batch')")  # the submission's settings are shown
    page.click("#rev-approve")
    page.wait_for_selector("#rev-out:has-text('APPROVED')")
    shot(page, "review")

    # the in-process worker measures it; the row appears on the leaderboard
    deadline = time.time() + 150
    while time.time() < deadline:
        open_board(page, server + f"?q={SUBMITTED}")
        if rows_shown(page) == 1:
            break
        time.sleep(3)
    assert rows_shown(page) == 1, "the approved submission never appeared on the leaderboard"
    shot(page, "leaderboard-after-worker")
    page.get_by_role("tab", name="Queue").click()
    page.wait_for_selector("#q-table:has-text('FINISHED')")
