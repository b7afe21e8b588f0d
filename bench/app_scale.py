"""How the leaderboard scales: 10,000 SYNTHETIC result records in a temp store (never committed).

Times (1) the server side, with the leaderboard package alone: loading the consolidated table into the
leaderboard frames, the first render (page + chart), filter changes, and hostile searches (catastrophic
regexes, over-long text) that must be refused or answered in bounded time; (2) through the running app:
the read API (/query) through gradio_client and, in headless Chromium when ``/usr/bin/chromium`` exists,
first paint (from a blank tab, as a visitor arrives), reload (from the same page), filter change (Pareto
only), sort (Descending), page change (Next/Previous) and a debounced search, each repeated (medians and
maxima), next to the floor: a minimal Gradio Blocks app with one Dataframe holding the same first page,
whose first paint, reload and page re-send every figure is a ratio to.

    .venv/bin/python bench/app_scale.py [--records 10000] [--rounds 5] [--no-http]

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
        """What the app does for a view, without its per-snapshot memo (a fresh index every time)."""
        view = apply_filters(wide, fs)
        present.display_page(view, fs.columns, 1, task=fs.task)
        charts.accuracy_latency_scatter(view.take(charts.chart_fields(fs.task)), task=fs.task)

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


def through_app(data_dir: Path, n: int, rounds: int = 5) -> dict[str, float]:
    """The real app and the floor (a bare Gradio app showing the same first page), both running: /query
    round trips through gradio_client, then (when /usr/bin/chromium exists) the browser figures of both,
    interleaved round by round so machine load hits both alike."""
    port = free_port()
    proc = _serve([sys.executable, str(ROOT / "app.py")], data_dir, port)
    floor_proc, floor_url, floor_tmp = _start_floor(data_dir)
    out: dict[str, float] = {}
    try:
        url = f"http://127.0.0.1:{port}/"
        t0 = time.perf_counter()
        _wait_http(url, 900)
        out["server_start_s"] = time.perf_counter() - t0
        _wait_http(floor_url, 300)
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
            out.update(_in_browser(url, floor_url, n, rounds))
    finally:
        for p in (proc, floor_proc):
            p.terminate()
            p.wait(20)
        shutil.rmtree(floor_tmp, ignore_errors=True)
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


# the probes read innerText, i.e. text a person can see: textContent holds the status 30-50 ms before it
# is visible (measured on a board load); the floor's probes see its first cell's text likewise
_STATUS = "(document.querySelector('#lb-status')?.innerText || '')"
_PAINTED = (
    "() => document.querySelectorAll('#lb-table [role=gridcell]').length > 0 && "
    + _STATUS
    + ".includes('Showing')"
)
_FLOOR_CELL = "(document.querySelector('#floor-table [role=gridcell]')?.innerText || '').trim()"
_FLOOR_PAINTED = "() => " + _FLOOR_CELL + " !== ''"
_FLOOR_UPDATED = "(i) => " + _FLOOR_CELL + ".startsWith(i + ':')"


def _in_browser(url: str, floor_url: str, n: int, rounds: int) -> dict[str, float]:
    """``rounds`` rounds, each: first paint of the board then of the floor (navigation from a blank tab to
    the first rows drawn, as a visitor arrives), their reload (navigation from the same page: its
    teardown counts too), a filter change (Pareto only, on and off), a sort (Descending, on and off), a page change
    (Next, Previous) and a typed, debounced search on the board, each followed by the floor re-sending
    its page, so both see the same machine load."""
    from playwright.sync_api import sync_playwright

    keys = (
        "first_paint",
        "reload",
        "filter",
        "sort",
        "page",
        "search",
        "floor_first_paint",
        "floor_reload",
        "floor_update",
    )
    res: dict[str, list[float]] = {k: [] for k in keys}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        board = browser.new_page(viewport={"width": 1440, "height": 900})
        floor = browser.new_page(viewport={"width": 1440, "height": 900})
        board.goto(url)  # warm the servers' and the browser's caches once
        board.wait_for_selector("#lb-table [role=gridcell]", timeout=300_000)
        floor.goto(floor_url)
        floor.wait_for_selector("#floor-table [role=gridcell]", timeout=120_000)
        updates = 0

        def floor_update() -> None:
            nonlocal updates
            updates += 1
            res["floor_update"].append(
                _timed_until(floor, lambda: floor.click("#floor-again"), _FLOOR_UPDATED, updates)
            )

        def arrive(page, target: str, painted: str, key: str) -> None:
            page.goto("about:blank")  # untimed: the tab holds nothing to tear down
            page.wait_for_timeout(150)
            res[key].append(_timed_until(page, lambda: page.goto(target, wait_until="commit"), painted))
            page.wait_for_timeout(300)  # the work after a paint must not land on the next measure

        def reload(page, target: str, painted: str, key: str) -> None:
            res[key].append(_timed_until(page, lambda: page.goto(target, wait_until="commit"), painted))
            page.wait_for_timeout(300)

        for r in range(rounds):
            arrive(board, url, _PAINTED, "first_paint")
            arrive(floor, floor_url, _FLOOR_PAINTED, "floor_first_paint")
            reload(board, url, _PAINTED, "reload")
            reload(floor, floor_url, _FLOOR_PAINTED, "floor_reload")
            updates = 0
            board.wait_for_timeout(300)
            pareto = board.locator("#lb-pareto input")
            for on in (True, False):
                cond = (
                    "() => " + _STATUS + ".includes('Pareto only')"
                    if on
                    else "(t) => " + _STATUS + ".includes(t) && !" + _STATUS + ".includes('Pareto only')"
                )
                res["filter"].append(
                    _timed_until(board, pareto.click, cond, None if on else f"of {2 * n} rows")
                )
                floor_update()
            board.click("#lb-more")  # the accordion with sort and columns
            desc = board.locator("#lb-desc input")
            for want in (True, False):
                res["sort"].append(
                    _timed_until(
                        board, desc.click, "(want) => (location.search.includes('desc=1')) === want", want
                    )
                )
                floor_update()
            for button, want in (("Next", "51–100"), ("Previous", "1–50")):
                res["page"].append(
                    _timed_until(
                        board,
                        lambda b=button: board.click(f"#lb-pager button:has-text('{b}')"),
                        "(t) => " + _STATUS + ".includes(t)",
                        want,
                    )
                )
                floor_update()
            box = board.locator("#lb-search textarea, #lb-search input").first
            query = ("resnet", "efficientnet")[r % 2]
            res["search"].append(
                _timed_until(
                    board,
                    lambda q=query, b=box: b.fill(q),
                    "(q) => location.search.includes('q=' + q) && " + _STATUS + ".includes('Showing')",
                    query,
                )
            )
            floor_update()
        browser.close()
    out = {}
    for k, v in res.items():
        name = k if k.startswith("floor_") else f"browser_{k}"
        out[f"{name}_s_median"] = median(v)
        out[f"{name}_s_max"] = max(v)
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


def _start_floor(data_dir: Path) -> tuple[subprocess.Popen, str, Path]:
    """A minimal Gradio Blocks app with one Dataframe holding the board's first page (same rows, same
    columns, as display strings) and a button that re-sends the page: (process, URL, its temp folder)."""
    from harness.record import check_record_dict
    from leaderboard import present
    from leaderboard.filters import apply_filters
    from leaderboard.load import frames_from_table
    from store import LocalDatasetStore
    from store.table import read_results_table

    wide, _ = frames_from_table(
        read_results_table(LocalDatasetStore(data_dir / "results", "results"), validate=check_record_dict)
    )
    view = apply_filters(wide, DEFAULT_STATE)
    frame = present.display_page(view, DEFAULT_STATE.columns, 1, task=DEFAULT_STATE.task)[0]
    tmp = Path(tempfile.mkdtemp(prefix="floor-"))
    frame.to_pickle(tmp / "page.pkl")
    (tmp / "floor.py").write_text(_FLOOR_APP)
    port = free_port()
    proc = _serve([sys.executable, str(tmp / "floor.py"), str(tmp / "page.pkl"), str(port)], data_dir, port)
    return proc, f"http://127.0.0.1:{port}/", tmp


# each browser figure's floor: a page load to the same kind of page load, a change to the floor's round trip
_FLOOR_OF = {"first_paint": "floor_first_paint", "reload": "floor_reload"}


def report(web: dict[str, float]) -> list[str]:
    """Lines of the browser figures, each with its ratio to the floor (first paint and reload to the
    floor's, every change to the floor's round trip that re-sends one page)."""
    lines = []
    for what in ("first_paint", "reload", "filter", "sort", "page", "search"):
        key = f"browser_{what}_s_median"
        if key not in web:
            continue
        floor = web.get(f"{_FLOOR_OF.get(what, 'floor_update')}_s_median")
        ratio = f" ({web[key] / floor:.2f}x the floor)" if floor else ""
        lines.append(
            f"  {what:<12} median {web[key] * 1000:6.0f} ms, max {web[f'browser_{what}_s_max'] * 1000:6.0f} ms"
            + ratio
        )
    if "floor_first_paint_s_median" in web:
        lines.append(
            f"  floor        first paint median {web['floor_first_paint_s_median'] * 1000:.0f} ms, max"
            f" {web['floor_first_paint_s_max'] * 1000:.0f} ms; reload median"
            f" {web['floor_reload_s_median'] * 1000:.0f} ms, max {web['floor_reload_s_max'] * 1000:.0f} ms;"
            f" page re-sent median {web['floor_update_s_median'] * 1000:.0f} ms, max"
            f" {web['floor_update_s_max'] * 1000:.0f} ms"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--rounds", type=int, default=5, help="browser rounds (board and floor interleaved)")
    ap.add_argument(
        "--data-dir",
        type=Path,
        help="reuse (or, when missing, write and keep) the synthetic store in this folder: 100k records take"
        " minutes to write",
    )
    args = ap.parse_args()
    keep = args.data_dir is not None
    tmp = args.data_dir if keep else Path(tempfile.mkdtemp(prefix="leaderboard-scale-"))
    try:
        if keep and (tmp / "results" / "results.parquet").exists():
            print(f"synthetic store: reusing {tmp}")
        else:
            t0 = time.perf_counter()
            t_table = write_store(tmp, args.records)
            print(
                f"synthetic store: {args.records} records in {tmp} (written in "
                f"{time.perf_counter() - t0:.1f} s, table rebuilt in {t_table:.2f} s)"
            )
        print(f"load average before: {_load()}")
        srv = server_side(tmp)
        print(
            f"server side: {srv['rows']} leaderboard rows ({srv['noisy_rows']} noisy) | load "
            f"{srv['load_s'] * 1000:.0f} ms | first render {srv['first_render_s'] * 1000:.0f} ms | filter change "
            f"mean {srv['filter_s_mean'] * 1000:.0f} ms, max {srv['filter_s_max'] * 1000:.0f} ms | page + chart max "
            f"{srv['chart_s_max'] * 1000:.0f} ms | hostile search max {srv['hostile_search_s_max'] * 1000:.0f} ms"
        )
        if not args.no_http:
            web = through_app(tmp, args.records, args.rounds)
            print(
                f"through the app: server start {web['server_start_s']:.1f} s | /query median "
                f"{web['api_query_s_median'] * 1000:.0f} ms, max {web['api_query_s_max'] * 1000:.0f} ms"
            )
            print(f"in Chromium (1440x900), board and floor interleaved, {args.rounds} rounds:")
            print("\n".join(report(web)) or "  (no /usr/bin/chromium)")
        print(f"load average after: {_load()}")
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


if __name__ == "__main__":
    main()
