"""How the leaderboard scales: 10,000 SYNTHETIC result records in a temp store (never committed).

Times (1) the server side, with the leaderboard package alone: loading the consolidated table into the
leaderboard frames, the first render (page + chart), filter changes, and hostile searches (catastrophic
regexes, over-long text) that must be refused or answered in bounded time; (2) through the running app:
an HTTP round-trip of a filter change via the Gradio API, and the first paint in headless Chromium when
``/usr/bin/chromium`` exists.

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
    port = free_port()
    env = {
        **os.environ,
        "LEADERBOARD_DATA_DIR": str(data_dir),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "LEADERBOARD_WORKER": "0",
        "LEADERBOARD_SEED": "0",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out: dict[str, float] = {}
    try:
        url = f"http://127.0.0.1:{port}/"
        t0 = time.perf_counter()
        _wait_http(url, 120)
        out["server_start_s"] = time.perf_counter() - t0
        from gradio_client import Client

        client = Client(url, verbose=False)
        args = [
            "resnet",
            False,
            [],
            [],
            [],
            [],
            [],
            [],
            None,
            None,
            None,
            None,
            "rank",
            False,
            False,
            ["top1", "latency_p50_ms"],
            1,
        ]
        client.predict(*args, api_name="/filter")  # warm
        times = []
        for q in ("resnet", "vit", "model-1", "efficientnet", ""):
            args[0] = q
            t0 = time.perf_counter()
            client.predict(*args, api_name="/filter")
            times.append(time.perf_counter() - t0)
        out["http_filter_s_max"] = max(times)
        out["http_filter_s_mean"] = sum(times) / len(times)
        if Path("/usr/bin/chromium").exists():
            expected = 2 * sum(ARCHS[i % len(ARCHS)].startswith("resnet") for i in range(n))
            out.update(_first_paint(url, expected))
    finally:
        proc.terminate()
        proc.wait(20)
    return out


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


_WATCH_JS = """() => {
  window.__start = null; window.__done = null; window.__want = null;
  const box = document.querySelector('#lb-search textarea, #lb-search input');
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__start = performance.now(); }, true);
  const status = document.querySelector('#lb-status');
  new MutationObserver(() => {
    if (window.__want && window.__done === null && status.innerText.includes(window.__want))
      window.__done = performance.now();
  }).observe(status, {subtree: true, childList: true, characterData: true});
}"""


def _first_paint(url: str, expected_rows: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        res = {}
        for label, q in (("first_paint_s", ""), ("first_paint_filtered_url_s", "?q=vit&sort=latency_p50_ms")):
            t0 = time.perf_counter()
            page.goto(url + q)
            page.wait_for_selector("#lb-table [role=gridcell]", timeout=60_000)  # rows are drawn
            page.wait_for_selector("#lb-status:has-text('Showing')", timeout=60_000)
            res[label] = time.perf_counter() - t0
            page.wait_for_selector("#lb-plot .js-plotly-plot .scatterlayer .point", timeout=60_000)
            res[label.replace("first_paint", "chart_drawn")] = time.perf_counter() - t0
        box = page.locator("#lb-search textarea, #lb-search input").first
        # measured inside the page: from the Enter keydown to the status line showing the new row count
        page.evaluate(_WATCH_JS)
        times = []
        for i in range(6):  # alternate two searches with different row counts (the view before: vit)
            query, rows = ("resnet", expected_rows) if i % 2 == 0 else ("efficientnet", expected_rows // 2)
            box.fill(query)
            page.evaluate("(text) => { window.__want = text; window.__done = null; }", f"of {rows} rows")
            box.press("Enter")
            page.wait_for_function("() => window.__done !== null", timeout=30_000)
            times.append(page.evaluate("() => (window.__done - window.__start) / 1000"))
            page.wait_for_timeout(1500)  # let the chart that follows the table finish drawing
        res["browser_filter_s_median"] = sorted(times)[len(times) // 2]
        res["browser_filter_s_max"] = max(times)
        browser.close()
    return res


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
            print("through the app: " + " | ".join(f"{k} {v * 1000:.0f} ms" for k, v in web.items()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
