"""Switching tasks on the Leaderboard in headless Chromium, at 1440x900 and on a 390x844 phone: each task
shows its own metric columns and chart axis, the URL follows (and a shared ``?task=`` URL opens on that
task), the selector and the first rows stay in the first screen. Screenshots: test-artifacts/tasks-*.png."""

from __future__ import annotations

import pytest

from store import LocalDatasetStore, layout
from tests._leaderboard_helpers import make_record, make_run
from tests.e2e._app import open_board, open_chart, require_browser, running_app, shot

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# task -> (its selector label, its primary metric's column header, metrics of its records)
TASKS = {
    "classification": ("Image classification", "Top-1 %", None),
    "detection": ("Object detection", "Box mAP %", {"box_map": 31.0, "box_ap50": 50.0, "box_ap75": 30.0}),
    "segmentation": ("Semantic segmentation", "mIoU %", {"miou": 41.0, "pixel_accuracy": 88.0}),
    "pose": ("Pose estimation", "Keypoint AP %", {"kp_ap": 55.0, "kp_ap50": 80.0, "kp_ap75": 60.0}),
}
PER_TASK = 3


def _plant(data_dir) -> None:
    results = LocalDatasetStore(data_dir / "results", "results")
    LocalDatasetStore(data_dir / "queue", "queue")
    for task, (_, _, metrics) in TASKS.items():
        for i in range(PER_TASK):
            rec = make_record(
                model=f"org/{task}-{i}",
                source="hf-hub",
                revision=f"{i:040x}",
                arch=f"{task}net{i}",
                pretrained=True,
                accuracy={"top1": 70.0 + i, "top5": 90.0} if task == "classification" else None,
                runs=[make_run(p50=2.0 * (i + 1)), make_run("onnxruntime", p50=1.5 * (i + 1))],
            )
            if task != "classification":  # classification records stay as old records were: no task
                rec["task"] = task
                rec["metrics"] = {k: v + i for k, v in metrics.items()}
                rec["model"]["input_size"] = [3, 320, 320]
            results.write_json(layout.record_path(rec["key"]), rec)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    base = tmp_path_factory.mktemp("e2e-tasks")
    _plant(base / "data")
    with running_app(base / "data", base / "app.log", LEADERBOARD_WORKER="0") as url:
        yield url


def _page(browser, viewport, **kw):
    ctx = browser.new_context(viewport=viewport, **kw)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page


def _headers(page) -> list[str]:
    return [h.strip() for h in page.locator("#lb-table [role=columnheader]").all_inner_texts()]


def _wait_header(page, header: str) -> None:
    page.wait_for_function(
        "(h) => [...document.querySelectorAll('#lb-table [role=columnheader]')]"
        ".some(e => e.innerText.trim() === h)",
        arg=header,
    )


def _pick_task(page, task: str) -> None:
    label, header, _ = TASKS[task]
    page.locator("#lb-task").get_by_text(label, exact=True).click()
    _wait_header(page, header)
    page.wait_for_selector(f"#lb-status:has-text('of {2 * PER_TASK} rows')")


def _only_its_metrics(page, task: str) -> None:
    headers = _headers(page)
    for other, (_, header, _) in TASKS.items():
        assert (header in headers) == (other == task), (task, headers)


@pytest.mark.parametrize(
    ("name", "viewport", "extra"),
    [("desktop", DESKTOP, {}), ("phone", PHONE, {"is_mobile": True, "has_touch": True})],
)
def test_switching_tasks_shows_each_tasks_columns_chart_and_url(server, browser, name, viewport, extra):
    ctx, page = _page(browser, viewport, **extra)
    try:
        open_board(page, server)
        open_chart(page)  # it stays open while the task changes, and redraws for each
        _wait_header(page, "Top-1 %")
        _only_its_metrics(page, "classification")
        assert page.locator("#lb-task input[value='classification']").is_checked()
        for task in ("detection", "segmentation", "pose"):
            _pick_task(page, task)
            _only_its_metrics(page, task)
            page.wait_for_function("(t) => location.search.includes('task=' + t)", arg=task)
            models = page.locator("#lb-table [data-col='1']").all_inner_texts()
            assert models and all(f"{task}-" in m for m in models), models
            selector = page.locator("#lb-task").bounding_box()
            assert selector["x"] >= 0 and selector["x"] + selector["width"] <= viewport["width"] + 1
            first = page.locator("#lb-table [data-row='0']").first.bounding_box()
            assert first["y"] < viewport["height"], f"{name}: the first row is below the first screen"
            page.wait_for_function(
                "(h) => { const p = document.querySelector('#lb-plot .js-plotly-plot');"
                " return p && p.layout && p.layout.title && p.layout.title.text.startsWith(h) }",
                arg=TASKS[task][1].removesuffix(" %"),
            )
            page.screenshot(path=_artifact(f"tasks-{task}-{name}.png"))
        page.locator("#lb-task").get_by_text("Image classification", exact=True).click()
        _wait_header(page, "Top-1 %")
        page.wait_for_function("() => !location.search.includes('task=')")
    finally:
        ctx.close()


def test_a_shared_task_url_opens_on_that_task_with_its_rank(server, browser):
    ctx, page = _page(browser, DESKTOP)
    try:
        open_board(page, server + "?task=segmentation&sort=miou&desc=1")
        _wait_header(page, "mIoU %")
        _only_its_metrics(page, "segmentation")
        assert page.locator("#lb-task input[value='segmentation']").is_checked()
        headers = _headers(page)
        miou = headers.index("mIoU %")
        cells = page.locator(f"#lb-table [data-col='{miou}']").all_inner_texts()
        assert cells == ["43.00", "43.00", "42.00", "42.00", "41.00", "41.00"], cells  # fp32 of both backends
        page.locator("#lb-table [data-testid='cell-0-1']").click()
        page.wait_for_selector("#lb-details:has-text('mIoU %')")
        assert "Top-1" not in page.inner_text("#lb-details")
        shot(page, "tasks-segmentation-details")
    finally:
        ctx.close()


def _artifact(name: str) -> str:
    from tests.e2e._app import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)
