"""How the leaderboard scales: 10,000 SYNTHETIC result records in a temp store (never committed).

Times (1) the server side, with the leaderboard package alone: loading the consolidated table into the
leaderboard frames, the first render (page + chart), filter changes, and hostile searches (catastrophic
regexes, over-long text) that must be refused or answered in bounded time; (2) through the running app:
the read API (/query) through gradio_client and, in headless Chromium when ``/usr/bin/chromium`` exists,
first paint, filter change (Pareto only), sort (Descending), page change (Next/Previous) and a debounced
search, each repeated (medians and maxima), next to the floor: a minimal Gradio Blocks app with one
Dataframe holding the same first page, whose first paint and page re-send every figure is a ratio to.

    .venv/bin/python bench/app_scale.py [--records 10000] [--no-http]

The records are clearly synthetic (model ids ``synthetic/model-N``, hardware ``synthetic-cpu``) and live in
a temporary directory that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leaderboard.filters import DEFAULT_STATE, FilterError, FilterState  # noqa: E402

ARCHS = [
    "resnet18",
    "resnet50",
    "efficientnet_b0",
    "mobilenetv3_large_100",
    "vit_tiny_patch16_224",
    "convnext_tiny",
    "regnety_040",
    "densenet121",
    "deit_small_patch16_224",
    "swin_tiny_patch4_window7_224",
]


def synthetic_record(i: int, rng: random.Random) -> dict:
    arch = ARCHS[i % len(ARCHS)]
    base = rng.uniform(2, 80)
    pretrained = i % 3 != 0
    top1 = rng.uniform(55, 85) if pretrained else None
    runs = []
    for backend in ("pytorch", "onnxruntime"):
        for bs in (1, 8):
            p50 = base * (0.7 if backend == "onnxruntime" else 1.0) * (bs**0.8)
            samples = [round(p50 * rng.uniform(0.95, 1.2), 4) for _ in range(50)]
            runs.append(
                {
                    "backend": backend,
                    "device": "cpu",
                    "provider": None,
                    "precision": "fp32",
                    "batch_size": bs,
                    "threads": 2,
                    "status": "ok",
                    "error": None,
                    "warmup": 5,
                    "iterations": 50,
                    "duration_s": 1.0,
                    "latency_ms": {
                        "mean": p50 * 1.03,
                        "std": p50 * 0.05,
                        "min": p50 * 0.95,
                        "p50": p50,
                        "p90": p50 * 1.1,
                        "p95": p50 * 1.15,
                        "p99": p50 * 1.3,
                        "max": p50 * 1.5,
                    },
                    "throughput_ips": bs * 1000 / p50,
                    "peak_rss_mb": rng.uniform(300, 2000),
                    "peak_gpu_mb": None,
                    "load_ms": 100.0,
                    "accuracy_top1": None,
                    "latency_samples_ms": samples,
                    "noise": _noise(samples, p50),
                }
            )
    return {
        "schema_version": 1,
        "key": f"synthetic{i:07d}",
        "created_at": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "harness_version": "synthetic",
        "model": {
            "id": f"synthetic/model-{i}",
            "source": "synthetic",
            "revision": f"{i:040x}",
            "architecture": arch,
            "pretrained": pretrained,
            "params": rng.randint(1, 300) * 1_000_000,
            "gmacs": rng.uniform(0.1, 30),
            "gflops": None,
            "size_mb": rng.uniform(5, 1200),
            "input_size": [3, 224, 224],
            "data_config": {"input_size": [3, 224, 224]},
        },
        "dataset": {"name": "synthetic", "split": "val", "num_samples": 500} if pretrained else None,
        "accuracy": {"top1": top1, "top5": min(100.0, top1 + 12)} if pretrained else None,
        "runs": runs,
        "robustness": None,
        "environment": {"hardware_profile": f"synthetic-cpu-{i % 3}", "cpu": "synthetic", "cores": 2},
        "config": {
            "dataset": None,
            "max_samples": 500,
            "backends": ["pytorch", "onnxruntime"],
            "device": "cpu",
            "batch_sizes": [1, 8],
            "precisions": ["fp32"],
            "min_duration_s": 1.0,
            "robustness": False,
            "extra": {},
        },
    }


def _noise(samples: list[float], p50: float) -> dict:
    """The run's noise block (contract 4) by the harness's own rule; every 7th run as if the machine was busy."""
    from harness.noise import assess

    busy = int(p50 * 1000) % 7 == 0
    return assess(samples, 4.0 if busy else 0.5, 4.0 if busy else 0.5, 2)


def write_store(data_dir: Path, n: int) -> float:
    from store import LocalDatasetStore

    results = LocalDatasetStore(data_dir / "results", "results")
    LocalDatasetStore(data_dir / "queue", "queue")
    rng = random.Random(0)
    rec_dir = data_dir / "results" / "records"
    rec_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n):  # plain files (the store's atomic write per file is not what is measured here)
        (rec_dir / f"synthetic{i:07d}.json").write_text(json.dumps(synthetic_record(i, rng)))
    t0 = time.perf_counter()
    from harness.record import check_record_dict
    from store.table import rebuild_results_table

    rebuild_results_table(results, validate=check_record_dict)
    return time.perf_counter() - t0


def timed(fn, repeat: int = 1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def server_side(data_dir: Path) -> dict[str, float]:
    """What one request costs on the server, measured on the leaderboard package (no app, no HTTP)."""
    from harness.record import check_record_dict
    from leaderboard import charts, present
    from leaderboard.filters import apply_filters
    from leaderboard.load import frames_from_table
    from store import LocalDatasetStore
    from store.table import read_results_table

    results = LocalDatasetStore(data_dir / "results", "results")
    t_load, (wide, _) = timed(
        lambda: frames_from_table(read_results_table(results, validate=check_record_dict))
    )

    def render(fs: FilterState) -> None:
        view = apply_filters(wide, fs).frame
        present.display_page(view, fs.columns, 1)
        charts.accuracy_latency_scatter(view)

    t_first, _ = timed(lambda: render(DEFAULT_STATE))
    states = [
        replace(DEFAULT_STATE, search="resnet"),
        replace(DEFAULT_STATE, family=("vit",), sort_by="latency_p50_ms"),
        replace(DEFAULT_STATE, params_max=50.0, latency_max=20.0, descending=True, sort_by="top1"),
        replace(DEFAULT_STATE, pareto=True),
        replace(DEFAULT_STATE, search="model-9.*", regex=True, backend=("onnxruntime",)),
        replace(DEFAULT_STATE, sort_by="noisy", descending=True),
    ]
    filt = [timed(lambda s=s: apply_filters(wide, s), repeat=3)[0] for s in states]
    chart = [timed(lambda s=s: render(s), repeat=3)[0] for s in states]
    hostile = [
        replace(DEFAULT_STATE, search=r"(a+)+$", regex=True),
        replace(DEFAULT_STATE, search=r"(.|.)*(?=!)", regex=True),  # refused: lookahead
        replace(DEFAULT_STATE, search=r"(x+x+)+y", regex=True),
        replace(DEFAULT_STATE, search="a" * 100_000),  # refused: too long
    ]
    worst = 0.0
    for fs in hostile:
        t0 = time.perf_counter()
        with contextlib.suppress(FilterError):
            apply_filters(wide, fs)
        worst = max(worst, time.perf_counter() - t0)
    return {
        "rows": len(wide),
        "noisy_rows": int(wide["noisy"].fillna(False).sum()),
        "load_s": t_load,
        "first_render_s": t_first,
        "filter_s_max": max(filt),
        "filter_s_mean": sum(filt) / len(filt),
        "chart_s_max": max(chart),
        "hostile_search_s_max": worst,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def through_app(data_dir: Path, n: int) -> dict[str, float]:
    """The real app in a subprocess: /query round trips through gradio_client, then the browser figures
    (when /usr/bin/chromium exists) next to the floor: a bare Gradio app showing the same first page."""
    port = free_port()
    proc = _serve([sys.executable, str(ROOT / "app.py")], data_dir, port)
    out: dict[str, float] = {}
    try:
        url = f"http://127.0.0.1:{port}/"
        t0 = time.perf_counter()
        _wait_http(url, 300)
        out["server_start_s"] = time.perf_counter() - t0
        from gradio_client import Client

        client = Client(url, verbose=False)
        client.predict(q="resnet", api_name="/query")  # warm
        times = []
        for q in ("resnet", "vit", "model-1", "efficientnet", ""):
            t0 = time.perf_counter()
            client.predict(q=q, page_size=50, api_name="/query")
            times.append(time.perf_counter() - t0)
        out["api_query_s_median"] = median(times)
        out["api_query_s_max"] = max(times)
        if Path(CHROMIUM).exists():
            out.update(_board_in_browser(url, n))
    finally:
        proc.terminate()
        proc.wait(20)
    if Path(CHROMIUM).exists():
        out.update(_floor(data_dir))
    return out


CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPEAT = 5


def median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def _serve(cmd: list[str], data_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "LEADERBOARD_DATA_DIR": str(data_dir),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "LEADERBOARD_WORKER": "0",
        "LEADERBOARD_SEED": "0",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read(100)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"app did not start at {url}")


def _timed_until(page, action, condition: str, arg=None) -> float:
    """Seconds from ``action()`` until the JS ``condition`` holds (checked every animation frame)."""
    t0 = time.perf_counter()
    action()
    page.wait_for_function(condition, arg=arg, polling="raf", timeout=120_000)
    return time.perf_counter() - t0


_STATUS_HAS = "(t) => (document.querySelector('#lb-status')?.innerText || '').includes(t)"


def _board_in_browser(url: str, n: int) -> dict[str, float]:
    """First paint (navigation to the first rows drawn), filter change (Pareto only, on and off), sort
    (Descending), page change (Next/Previous) and a search (typed, debounced), REPEAT times each."""
    from playwright.sync_api import sync_playwright

    res: dict[str, list[float]] = {k: [] for k in ("first_paint", "filter", "sort", "page", "search")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)  # warm the server's and the browser's caches once
        page.wait_for_selector("#lb-table [role=gridcell]", timeout=120_000)
        for _ in range(REPEAT):
            res["first_paint"].append(
                _timed_until(
                    page,
                    lambda: page.goto(url, wait_until="commit"),
                    "() => document.querySelectorAll('#lb-table [role=gridcell]').length > 0 &&"
                    " (document.querySelector('#lb-status')?.innerText || '').includes('Showing')",
                )
            )
        page.wait_for_timeout(1500)  # the chart follows the first paint
        total = f"of {2 * n} rows"
        pareto = page.locator("#lb-pareto input")
        for i in range(REPEAT * 2):
            want = "Pareto only" if i % 2 == 0 else total
            cond = (
                "() => (document.querySelector('#lb-status')?.innerText || '').includes('Pareto only')"
                if i % 2 == 0
                else "(t) => { const s = document.querySelector('#lb-status')?.innerText || '';"
                " return s.includes(t) && !s.includes('Pareto only') }"
            )
            res["filter"].append(_timed_until(page, pareto.click, cond, None if i % 2 == 0 else want))
            page.wait_for_timeout(300)
        page.click("#lb-more")  # the accordion with sort and columns
        desc = page.locator("#lb-desc input")
        for i in range(REPEAT * 2):
            res["sort"].append(
                _timed_until(
                    page,
                    desc.click,
                    "(want) => (location.search.includes('desc=1')) === want",
                    i % 2 == 0,
                )
            )
            page.wait_for_timeout(300)
        for i in range(REPEAT * 2):
            button, want = (
                ("#lb-pager button:has-text('Next')", "51–100")
                if i % 2 == 0
                else (
                    "#lb-pager button:has-text('Previous')",
                    "1–50",
                )
            )
            res["page"].append(_timed_until(page, lambda b=button: page.click(b), _STATUS_HAS, want))
            page.wait_for_timeout(300)
        box = page.locator("#lb-search textarea, #lb-search input").first
        for i in range(REPEAT):
            query = ("resnet", "efficientnet")[i % 2]
            res["search"].append(
                _timed_until(
                    page,
                    lambda q=query: box.fill(q),
                    "(q) => location.search.includes('q=' + q) &&"
                    " (document.querySelector('#lb-status')?.innerText || '').includes('Showing')",
                    query,
                )
            )
            page.wait_for_timeout(300)
        browser.close()
    out = {}
    for k, v in res.items():
        out[f"browser_{k}_s_median"] = median(v)
        out[f"browser_{k}_s_max"] = max(v)
    return out


_FLOOR_APP = """
import sys, pandas as pd, gradio as gr
frame = pd.read_pickle(sys.argv[1])
with gr.Blocks() as demo:
    table = gr.Dataframe(value=frame, interactive=False, elem_id="floor-table")
    again = gr.Button("again", elem_id="floor-again")
    n = gr.State(0)
    def redraw(i):
        i = i + 1
        return frame.assign(**{frame.columns[0]: [f"{i}:{v}" for v in frame[frame.columns[0]]]}), i
    again.click(redraw, inputs=n, outputs=[table, n])
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[2]), ssr_mode=False)
"""


def _floor(data_dir: Path) -> dict[str, float]:
    """A minimal Gradio Blocks app with one Dataframe holding the board's first page (same rows, same
    columns, as display strings): its first paint and a button that re-sends the page."""
    from harness.record import check_record_dict
    from leaderboard import present
    from leaderboard.filters import apply_filters
    from leaderboard.load import frames_from_table
    from store import LocalDatasetStore
    from store.table import read_results_table

    wide, _ = frames_from_table(
        read_results_table(LocalDatasetStore(data_dir / "results", "results"), validate=check_record_dict)
    )
    frame = present.display_page(apply_filters(wide, DEFAULT_STATE).frame, DEFAULT_STATE.columns, 1)[0]
    tmp = Path(tempfile.mkdtemp(prefix="floor-"))
    frame.to_pickle(tmp / "page.pkl")
    (tmp / "floor.py").write_text(_FLOOR_APP)
    port = free_port()
    proc = _serve([sys.executable, str(tmp / "floor.py"), str(tmp / "page.pkl"), str(port)], data_dir, port)
    res: dict[str, list[float]] = {"first_paint": [], "update": []}
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, 120)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            page.wait_for_selector("#floor-table [role=gridcell]", timeout=120_000)
            for _ in range(REPEAT):
                res["first_paint"].append(
                    _timed_until(
                        page,
                        lambda: page.goto(url, wait_until="commit"),
                        "() => document.querySelectorAll('#floor-table [role=gridcell]').length > 0",
                    )
                )
            for i in range(1, 2 * REPEAT + 1):
                res["update"].append(
                    _timed_until(
                        page,
                        lambda: page.click("#floor-again"),
                        "(i) => (document.querySelector('#floor-table [role=gridcell]')?.innerText || '')"
                        ".startsWith(i + ':')",
                        i,
                    )
                )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "floor_first_paint_s_median": median(res["first_paint"]),
        "floor_first_paint_s_max": max(res["first_paint"]),
        "floor_update_s_median": median(res["update"]),
        "floor_update_s_max": max(res["update"]),
    }


def report(web: dict[str, float]) -> list[str]:
    """Lines of the browser figures, each with its ratio to the floor (first paint to the floor's first
    paint, every change to the floor's round trip that re-sends one page)."""
    lines = []
    for what in ("first_paint", "filter", "sort", "page", "search"):
        key = f"browser_{what}_s_median"
        if key not in web:
            continue
        floor = web.get("floor_first_paint_s_median" if what == "first_paint" else "floor_update_s_median")
        ratio = f" ({web[key] / floor:.2f}x the floor)" if floor else ""
        lines.append(
            f"  {what:<12} median {web[key] * 1000:6.0f} ms, max {web[f'browser_{what}_s_max'] * 1000:6.0f} ms"
            + ratio
        )
    if "floor_first_paint_s_median" in web:
        lines.append(
            f"  floor        first paint median {web['floor_first_paint_s_median'] * 1000:.0f} ms, page re-sent"
            f" median {web['floor_update_s_median'] * 1000:.0f} ms"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="leaderboard-scale-"))
    try:
        t0 = time.perf_counter()
        t_table = write_store(tmp, args.records)
        print(
            f"synthetic store: {args.records} records in {tmp} (written in {time.perf_counter() - t0:.1f} s, "
            f"table rebuilt in {t_table:.2f} s)"
        )
        srv = server_side(tmp)
        print(
            f"server side: {srv['rows']} leaderboard rows ({srv['noisy_rows']} noisy) | load "
            f"{srv['load_s'] * 1000:.0f} ms | first render {srv['first_render_s'] * 1000:.0f} ms | filter change "
            f"mean {srv['filter_s_mean'] * 1000:.0f} ms, max {srv['filter_s_max'] * 1000:.0f} ms | page + chart max "
            f"{srv['chart_s_max'] * 1000:.0f} ms | hostile search max {srv['hostile_search_s_max'] * 1000:.0f} ms"
        )
        if not args.no_http:
            web = through_app(tmp, args.records)
            print(
                f"through the app: server start {web['server_start_s']:.1f} s | /query median "
                f"{web['api_query_s_median'] * 1000:.0f} ms, max {web['api_query_s_max'] * 1000:.0f} ms"
            )
            print("in Chromium (1440x900):")
            print("\n".join(report(web)) or "  (no /usr/bin/chromium)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
