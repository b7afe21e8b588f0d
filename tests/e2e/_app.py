"""Helpers of the browser tests: start the real app (``python app.py``) on a data folder, find rows,
take screenshots. Fixtures are in conftest.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail(f"REQUIRE_E2E=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(data_dir: Path, log_path: Path, **env_overrides: str | None) -> Iterator[str]:
    """The app serving ``data_dir`` on a free loopback port; yields its URL, stops it afterwards.

    ``env_overrides`` set variables of the app's environment; ``None`` unsets one."""
    port = free_port()
    env = {
        **os.environ,
        "LEADERBOARD_DATA_DIR": str(data_dir),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "LEADERBOARD_SEED": "0",
    }
    for name in ("RESULTS_REPO", "QUEUE_REPO", "SYSTEM", "SPACE_ID"):
        env.pop(name, None)
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read(10)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("app did not start:\n" + log_path.read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rows_shown(page) -> int:
    """Data rows in the leaderboard grid (aria-rowcount counts the header row too)."""
    return int(page.get_attribute("#lb-table [role=grid]", "aria-rowcount")) - 1


def wait_status(page, text: str, timeout_ms: float = 30_000) -> None:
    """Wait until the board's status line contains ``text``; a timeout names what it said instead."""
    try:
        page.wait_for_selector(f"#lb-status:has-text({text!r})", timeout=timeout_ms)
    except Exception as exc:  # playwright's TimeoutError does not say what the page showed
        shown = page.locator("#lb-status").first.inner_text(timeout=2_000)
        raise AssertionError(f"status never said {text!r}; it says {shown!r} (url {page.url})") from exc


def open_board(page, url: str) -> None:
    """Open the board and wait until it answers: rows (or the no-match message) drawn and its start-up
    load event done (view_ready.js marks the page), so a click is never lost to a page still wiring up."""
    page.goto(url)
    page.wait_for_selector("#lb-status:has-text('Showing'), #lb-status:has-text('No rows match')")
    page.wait_for_selector("html[data-lb-ready]", state="attached")


def open_chart(page) -> None:
    """Open the chart's accordion (closed by default: the chart is built only while it is open)."""
    page.locator("#lb-chart").get_by_text("Chart:", exact=False).first.click()
    page.wait_for_selector("#lb-plot .js-plotly-plot")
