"""The board's first page comes with the page itself (its config), in headless Chromium: with every event
request refused, so no load event can run, a visitor still sees the rows, the status line and the
right-aligned numbers, and a result added meanwhile appears on the next page load; a shared link's view is
never stood in for by the default rows (hidden until its load has drawn it), and draws once it has."""

from __future__ import annotations

import pytest

from store import LocalDatasetStore, layout
from tests._leaderboard_helpers import make_record, make_run
from tests.e2e._app import require_browser, rows_shown, running_app, wait_status

MODELS = ("org/resnet18", "org/vit_tiny_patch16_224", "org/efficientnet_b0")
EVENTS = "**/gradio_api/queue/join*"  # where the page starts every server event, the load included


def _add(data_dir, model: str) -> None:
    rec = make_record(model=model, source="hf-hub", revision="0" * 40, runs=[make_run(p50=4.0)])
    LocalDatasetStore(data_dir / "results", "results").write_json(layout.record_path(rec["key"]), rec)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    base = tmp_path_factory.mktemp("e2e-first-paint")
    LocalDatasetStore(base / "data" / "queue", "queue")
    for model in MODELS:
        _add(base / "data", model)
    with running_app(base / "data", base / "app.log", LEADERBOARD_WORKER="0") as url:
        yield url, base / "data"


@pytest.fixture()
def no_events(browser):
    """A page whose server events (the page's load among them) are all refused."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    refused: list[str] = []
    ctx.route(EVENTS, lambda route: (refused.append(route.request.url), route.abort()))
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.refused = refused  # type: ignore[attr-defined]
    yield pg
    ctx.close()


def test_rows_are_on_the_first_paint_without_any_event_and_stay_fresh(server, no_events):
    url, data_dir = server
    page = no_events
    page.goto(url)
    wait_status(page, "of 3 rows")
    assert rows_shown(page) == 3
    table = page.inner_text("#lb-table")
    assert all(m.split("/")[1] in table for m in MODELS)
    assert "flex-end" in page.inner_text("#lb-dynamic-style")  # numbers right-aligned (no server needed)
    assert page.refused, "the page's load event was not refused: this test would prove nothing"

    _add(data_dir, "org/convnext_tiny")
    page.wait_for_timeout(2500)  # the board looks for new results every 2 s
    page.goto(url)
    wait_status(page, "of 4 rows")
    assert rows_shown(page) == 4 and "convnext_tiny" in page.inner_text("#lb-table")


def test_a_shared_link_never_shows_the_default_rows_in_its_place(server, no_events, browser):
    url, _ = server
    no_events.goto(url + "?q=vit")
    no_events.wait_for_selector("#lb-table", state="attached")
    no_events.wait_for_timeout(1500)
    assert no_events.locator("#lb-status").is_hidden() and no_events.locator("#lb-table").is_hidden()

    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    page.goto(url + "?q=vit")
    wait_status(page, "of 1 rows")
    assert rows_shown(page) == 1 and "vit_tiny" in page.inner_text("#lb-table")
    ctx.close()
