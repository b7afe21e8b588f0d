"""Nothing a record or queue entry carries renders as markup (issue 10 §5), checked in a real browser.

A record whose model id, architecture, hardware profile and dataset name each hold an ``<img>`` pointing at
a tiny HTTP server this test runs is shown in the table, its details, the Compare tab and both charts; a
failed queue entry with the tag in its model, submitter and error is shown in the Queue tab; a record
the schema refuses with the tag in the refused value is listed in the Review tab's problems note. The
server must receive no request, and the text must be on the page as text. A canary page that does embed
the image proves the counter sees a fetch.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eval_queue.entry import FAILED, make_entry, utc_now
from store import LocalDatasetStore, layout
from tests._leaderboard_helpers import make_record, make_run
from tests.e2e._app import open_board, open_chart, require_browser, running_app, shot, wait_status

pytestmark = pytest.mark.e2e
ADMIN_TOKEN = "markup-admin"


class _Counter(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def trap():
    """(payload, hits): an <img> tag aimed at a local server, and the paths that server was asked for."""
    require_browser()
    _Counter.hits = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    payload = f'<img src="http://127.0.0.1:{srv.server_address[1]}/pwned.png">'
    yield payload, _Counter.hits
    srv.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, trap):
    payload, _ = trap
    base = tmp_path_factory.mktemp("markup")
    results = LocalDatasetStore(base / "data" / "results", "results")
    queue = LocalDatasetStore(base / "data" / "queue", "queue")
    evil = make_record(
        model=f"org/evil{payload}",
        source="hf-hub",
        arch=f"arch{payload}",
        hw=f"cpu{payload}",
        accuracy={"top1": 70.0, "top5": 90.0},
        runs=[make_run(bs=1, p50=3.0, accuracy_top1=70.0), make_run(bs=4, p50=8.0, accuracy_top1=70.0)],
    )
    evil["dataset"] = {"name": f"ds{payload}", "split": "test", "num_samples": 100}
    plain = make_record(model="resnet18", runs=[make_run(bs=1, p50=5.0), make_run(bs=4, p50=12.0)])
    refused = make_record(model="resnet34")
    refused["runs"][0]["backend"] = payload  # the schema refuses it; the reason quotes the value
    for rec in (evil, plain, refused):
        results.write_json(layout.record_path(rec["key"]), rec)
    entry = make_entry(f"org/evil{payload}", "hf-hub", None, {}, f"user{payload}", utc_now()).to_dict()
    entry["status"] = FAILED
    entry["error"] = {"kind": "crashed", "message": f"boom{payload}", "traceback": None}
    queue.write_json(layout.entry_path(entry["id"]), entry)
    with running_app(
        base / "data", base / "app.log", LEADERBOARD_WORKER="0", LEADERBOARD_ADMIN_TOKEN=ADMIN_TOKEN
    ) as url:
        yield url


def test_planted_markup_is_shown_as_text_and_never_fetched(server, trap, page):
    payload, hits = trap
    shown_cols = "architecture,dataset,hardware_profile,top1,latency_p50_ms"
    open_board(page, server + f"?cols={shown_cols}")
    table_text = page.inner_text("#lb-table")
    for prefix in ("org/evil", "arch", "cpu", "ds"):
        assert prefix + payload in table_text, f"{prefix}<img ...> is not visible as text in the table"

    # the chart (hover labels are built from the same strings)
    open_chart(page)
    page.wait_for_function("() => document.querySelectorAll('#lb-plot .scatterlayer .point').length >= 1")
    for point in page.locator("#lb-plot .scatterlayer .point").all():
        point.hover(force=True)
        page.wait_for_timeout(200)

    # the evil row's details
    row = page.locator("#lb-table [role=row]", has_text="org/evil").first
    row.locator("[role=gridcell]").nth(2).click()
    page.wait_for_selector("#lb-details:has-text('python -m harness')")
    details = page.inner_text("#lb-details")
    for prefix in ("arch", "cpu", "ds"):
        assert prefix + payload in details, f"{prefix}<img ...> is not visible as text in the details"
    shot(page, "markup-details")

    # Compare both rows: the picker, the side-by-side table and the curves
    page.get_by_role("tab", name="Compare").click()
    pick = page.locator("#cmp-pick input").first
    for name in ("evil", "resnet18"):
        pick.click()
        page.get_by_role("option", name=re.compile(name)).first.click()
    page.wait_for_selector("#cmp-table:has-text('resnet18')")
    page.wait_for_selector("#cmp-plot .js-plotly-plot")
    assert "org/evil" + payload in page.inner_text("#cmp-table")
    for point in page.locator("#cmp-plot .scatterlayer .point").all():
        point.hover(force=True)
        page.wait_for_timeout(200)
    shot(page, "markup-compare")

    # the queue (model, submitter, failure) and the maintainers' problems note
    page.get_by_role("tab", name="Queue").click()
    page.wait_for_selector("#q-table:has-text('FAILED')")
    queue_text = page.inner_text("#q-table")
    for prefix in ("org/evil", "user", "boom"):
        assert prefix + payload in queue_text, f"{prefix}<img ...> is not visible as text in the queue"
    page.get_by_role("tab", name="Review").click()
    page.locator("#rev-token input").fill(ADMIN_TOKEN)
    page.click("#rev-load")
    page.wait_for_selector("#rev-problems:has-text('runs[0].backend')")
    assert "<img src=" in page.inner_text("#rev-problems")
    shot(page, "markup-review")

    # a shared URL whose (invalid) regex is the tag: the status quotes it as text
    page.goto(server + "?" + urllib.parse.urlencode({"q": payload + "(", "re": "1"}))
    wait_status(page, "Filter problem")
    assert payload in page.inner_text("#lb-status")

    page.wait_for_timeout(1000)  # anything the browser was going to fetch has been asked for by now
    assert page.locator("img[src*='pwned']").count() == 0
    assert hits == [], f"the planted image was fetched: {hits}"

    # canary: the counter does see a browser that embeds the image
    page.set_content(f"<html><body>{payload}</body></html>")
    page.wait_for_function("() => document.images.length === 1 && document.images[0].complete")
    assert hits, "the counter server saw nothing: this test could not have caught a fetch"
