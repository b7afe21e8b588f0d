"""Does skipping Gradio's queue shorten a browser event? One minimal Gradio app with two identical
buttons that redraw a 20x10 Dataframe page: one through the queue (queue join + event stream), one
direct (``queue=False``: one HTTP request). Chromium clicks them alternately (interleaved A/B, so host
noise hits both alike) and times click -> new first cell drawn; prints medians, maxima and the ratio.

    .venv/bin/python bench/event_path.py [--rounds 30]

Why it matters: the board's view changes (filter, search, sort, page, reset, details) run direct.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
APP = textwrap.dedent(
    """
    import gradio as gr
    import pandas as pd

    def page(n):
        n = int(n or 0) + 1
        frame = pd.DataFrame({f"c{j}": [f"{n}-{i}-{j}" for i in range(20)] for j in range(10)})
        return frame, n

    with gr.Blocks() as demo:
        count = gr.State(0)
        table = gr.Dataframe(page(-1)[0], elem_id="t")  # shows 0-*, the first click 1-*
        queued = gr.Button("queued", elem_id="queued")
        direct = gr.Button("direct", elem_id="direct")
        queued.click(page, count, [table, count], show_progress="hidden")
        direct.click(page, count, [table, count], show_progress="hidden", queue=False)
    demo.launch(server_name="127.0.0.1", server_port=int(__import__("os").environ["PORT"]))
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_click(page, button: str, expected: str) -> float:
    start = time.perf_counter()
    page.click(f"#{button}")
    page.wait_for_function(
        "(want) => { const c = document.querySelector('#t [role=gridcell]'); return c && c.innerText.trim() === want; }",
        arg=expected,
        polling="raf",
    )
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, "-c", APP], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read(10)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    sys.exit("the app did not start")
                time.sleep(0.3)
        times: dict[str, list[float]] = {"queued": [], "direct": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            page.wait_for_selector("#t [role=gridcell]")
            n = 0
            for i in range(2 + args.rounds):  # two warm-up rounds, not counted
                order = ("queued", "direct") if i % 2 else ("direct", "queued")
                for button in order:
                    n += 1
                    ms = time_click(page, button, f"{n}-0-0")
                    if i >= 2:
                        times[button].append(ms)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    for name, xs in times.items():
        print(
            f"{name:7s} click -> drawn: median {statistics.median(xs):6.1f} ms, max {max(xs):6.1f} ms ({len(xs)} clicks)"
        )
    ratio = statistics.median(times["direct"]) / statistics.median(times["queued"])
    print(f"direct / queued (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
