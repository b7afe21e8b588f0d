"""Browser-test fixtures: headless Chromium and a page per test (helpers in _app.py).

Skipped when /usr/bin/chromium is missing, unless REQUIRE_E2E=1 (CI), where that is a failure.
"""

from __future__ import annotations

import pytest

from tests.e2e._app import BROWSER_ARGS, CHROMIUM, require_browser


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()
