"""The Leaderboard as a person uses it, in headless Chromium at 1440x900 and on a 390x844 phone: search by
typing, pasting and clearing (debounced, URL follows), Reset view, the no-match message, table first with
numbers right-aligned and no sideways scroll, the clicked row marked and its details in view, the chart
(log axis, colour by family, legend text without entities), Compare's warning and best values. Every tab is
photographed at both viewports into test-artifacts/ (view-*.png)."""

from __future__ import annotations

import re

import pytest

from store import LocalDatasetStore, layout
from tests._leaderboard_helpers import make_record, make_run
from tests.e2e._app import open_chart, require_browser, running_app, shot, wait_status

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
ARCHS = ("resnet18", "resnet50", "efficientnet_b0", "tf_mobilenetv3_small_050", "vit_tiny_patch16_224")
N_MODELS = 40  # x2 backends: 80 rows, two pages
# hardware profiles as the harness names them (long ones: every default column must read in full)
HW_A, HW_B = "cpu-amd-epyc-7b13-2c", "cpu-intel-xeon-8375c-4c"


def _plant(data_dir) -> None:
    results = LocalDatasetStore(data_dir / "results", "results")
    LocalDatasetStore(data_dir / "queue", "queue")
    for i in range(N_MODELS):
        arch = ARCHS[i % len(ARCHS)]
        p50 = 0.5 * (1.25**i)  # 0.5 ms .. ~3 s: spans decades
        name = f'org/"{arch}"-{i:02d}' if i == 0 else f"org/{arch}-{i:02d}"
        rec = make_record(
            model=name,
            source="hf-hub",
            revision=f"{i:040x}",
            arch=arch,
            pretrained=True,
            accuracy={"top1": 60.0 + i * 0.5, "top5": 90.0},
            hw='cpu-"q"-1c' if i == 0 else (HW_A if i % 2 else HW_B),
            runs=[
                make_run(p50=p50, threads=1 + i % 2),
                make_run("onnxruntime", p50=p50 / 2, threads=1 + i % 2),
            ],
        )
        results.write_json(layout.record_path(rec["key"]), rec)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    base = tmp_path_factory.mktemp("e2e-view")
    _plant(base / "data")
    with running_app(base / "data", base / "app.log", LEADERBOARD_WORKER="0") as url:
        yield url


@pytest.fixture()
def desk(browser):
    ctx = browser.new_context(viewport=DESKTOP)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


@pytest.fixture()
def phone(browser):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#lb-status:has-text('Showing'), #lb-status:has-text('No rows')")


def _search(page):
    return page.locator("#lb-search textarea, #lb-search input").first


def _status(page) -> str:
    return page.inner_text("#lb-status")


def _matched(page, n: int) -> None:
    wait_status(page, f"of {n} rows")


def test_search_by_paste_and_backspace_refilters_and_the_url_follows(server, desk):
    _open(desk, server)
    _matched(desk, 2 * N_MODELS)
    box = _search(desk)
    box.click()
    desk.evaluate("() => navigator.clipboard === undefined")  # paste = one input event with all the text
    box.fill("resnet50-")  # fill() sets the value at once, as a paste does (no per-key events)
    _matched(desk, 16)
    desk.wait_for_function("() => location.search.includes('q=resnet50-')")
    box.press("Control+a")
    box.press("Backspace")  # Backspace to empty: every row back and ?q= gone
    _matched(desk, 2 * N_MODELS)
    desk.wait_for_function("() => !location.search.includes('q=')")
    box.press_sequentially("efficientnet_b0-0", delay=20)  # typed fast: debounced, last text wins
    _matched(desk, 4)
    assert "efficientnet_b0-0" in desk.evaluate("() => decodeURIComponent(location.search)")


def test_no_match_names_the_filter_and_reset_view_restores_everything(server, desk):
    _open(desk, server + "?q=vit_tiny&backend=onnxruntime&lmax=0.01&pareto=1")
    status = _status(desk)
    assert "No rows match" in status and "p50 ms" in status and "Reset view" in status
    shot(desk, "view-no-match")
    desk.click("#lb-reset")
    _matched(desk, 2 * N_MODELS)
    desk.wait_for_function("() => location.search === ''")
    assert _search(desk).input_value() == "" and not desk.locator("#lb-pareto input").is_checked()


def test_table_first_fits_without_sideways_scroll_and_numbers_align_right(server, desk):
    _open(desk, server)
    table = desk.locator("#lb-table").bounding_box()
    assert table["y"] < 450, f"the table starts at {table['y']:.0f} px of 900"
    first = desk.locator("#lb-table [data-row='0']").first.bounding_box()
    assert first["y"] + first["height"] < DESKTOP["height"], "the first row is below the fold"
    scroll = desk.evaluate(
        "() => { const g = document.querySelector('#lb-table [role=grid]'); let e = g;"
        " while (e && e.scrollWidth <= e.clientWidth + 1 && e.id !== 'lb-table') e = e.parentElement;"
        " return e && e.id !== 'lb-table' ? [e.scrollWidth, e.clientWidth] : null }"
    )
    assert scroll is None, f"the default columns scroll sideways: {scroll}"
    # a numeric column right-aligned, a text column not (the registry decides)
    headers = desk.locator("#lb-table [role=columnheader]").all_inner_texts()
    top1 = next(i for i, h in enumerate(headers) if "Top-1" in h)
    family = next(i for i, h in enumerate(headers) if "Family" in h)
    just = "(s) => getComputedStyle(document.querySelector(s)).justifyContent"
    assert desk.evaluate(just, f"#lb-table [data-row='0'][data-col='{top1}'] .cell-wrap") == "flex-end"
    assert desk.evaluate(just, f"#lb-table [data-row='0'][data-col='{family}'] .cell-wrap") != "flex-end"
    assert desk.locator("#lb-more").is_visible() and not desk.locator("#lb-columns").is_visible()  # folded
    assert _clipped(desk) == [], "default columns clipped at 1440x900"
    assert "3009.27" in desk.inner_text("#lb-table")  # a 4-digit latency, shown whole (the page is sorted)
    shot(desk, "view-leaderboard-desktop")


# every header and cell of the table whose text does not fit its box (shown with an ellipsis); on a
# phone the Model column (data-col 1, fixed 150px) may end long ids in an ellipsis
_CLIPPED = """(skipModel) => [...document.querySelectorAll(
    '#lb-table [role=gridcell] span, #lb-table [role=columnheader] span')]
  .filter(e => !(skipModel && e.closest("[data-col='1']")))
  .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())
  .filter(t => t).slice(0, 10)"""


def _clipped(page, skip_model: bool = False) -> list[str]:
    return page.evaluate(_CLIPPED, skip_model)


def test_default_columns_fit_unclipped_on_a_phone_too(server, phone):
    _open(phone, server + "?sort=latency_p50_ms&desc=1")  # the 4-digit latencies first
    assert "3009.27" in phone.inner_text("#lb-table")
    assert _clipped(phone, skip_model=True) == [], "default columns clipped at 390x844"
    shot(phone, "view-leaderboard-phone-sorted")


def test_chart_is_built_only_while_its_accordion_is_open(server, desk):
    _open(desk, server)
    desk.wait_for_timeout(500)
    assert desk.locator("#lb-plot .scatterlayer .point").count() == 0  # closed: nothing drawn or sent
    open_chart(desk)
    desk.wait_for_function("() => document.querySelectorAll('#lb-plot .scatterlayer .point').length >= 40")
    assert desk.evaluate(_PLOTTED) == 2 * N_MODELS  # the same rows as the table
    desk.locator("#lb-pareto input").click()  # open: a filter redraws it with the table's rows
    desk.wait_for_selector("#lb-status:has-text('Pareto only')")
    shown = int(re.search(r"of (\d+) rows", _status(desk)).group(1))
    assert 0 < shown < 2 * N_MODELS
    desk.wait_for_function(f"() => ({_PLOTTED})() === {shown}")


# how many rows the chart plots (its marker traces; the front's line repeats some of them)
_PLOTTED = """() => (document.querySelector('#lb-plot .js-plotly-plot')?.data || [])
  .filter(t => t.mode === 'markers').reduce((n, t) => n + (t.text || []).length, 0)"""


def test_clicked_row_is_marked_and_its_details_are_in_view(server, desk):
    _open(desk, server)
    desk.locator("#lb-table [data-testid='cell-6-1']").click()
    desk.wait_for_selector("#lb-details:has-text('python -m harness')")
    desk.wait_for_function(
        "() => { const r = document.getElementById('lb-details').getBoundingClientRect();"
        " return r.top < innerHeight && r.bottom > 0 }"
    )
    marked = desk.evaluate(
        "() => getComputedStyle(document.querySelector(\"#lb-table [data-row='6']\")).backgroundColor"
    )
    other = desk.evaluate(
        "() => getComputedStyle(document.querySelector(\"#lb-table [data-row='5']\")).backgroundColor"
    )
    assert marked != other, (marked, other)
    shot(desk, "view-details")


def test_chart_log_axis_family_colours_hover_names_and_plain_legend(server, desk):
    _open(desk, server)
    open_chart(desk)
    desk.locator("#lb-plot").scroll_into_view_if_needed()
    desk.wait_for_function("() => document.querySelectorAll('#lb-plot .scatterlayer .point').length >= 40")
    layout_ = desk.evaluate("() => document.querySelector('#lb-plot .js-plotly-plot').layout")
    assert layout_["xaxis"]["type"] == "log" and layout_["title"]["text"].startswith("Top-1 accuracy vs p50")
    legend = desk.evaluate(
        "() => [...document.querySelectorAll('#lb-plot .legendtext')].map(e => e.textContent)"
    )
    assert {"resnet", "vit", "efficientnet"} <= set(legend), legend
    assert 'Pareto front · cpu-"q"-1c' in legend and not any("&quot;" in t for t in legend)  # one-point front
    texts = desk.evaluate(
        "() => document.querySelector('#lb-plot .js-plotly-plot').data.flatMap(t => t.text || [])"
    )
    assert any('org/"resnet18"-00' in t for t in texts)  # the model name on hover, quote as a quote
    desk.locator("#lb-color input").click()
    desk.get_by_role("option", name="Backend").click()
    desk.wait_for_function(
        "() => [...document.querySelectorAll('#lb-plot .legendtext')].some(e => e.textContent === 'onnxruntime')"
    )
    shot(desk, "view-chart")


def test_compare_warns_about_hardware_and_threads_and_marks_the_best(server, desk):
    _open(desk, server + "?q=resnet18-")
    desk.get_by_role("tab", name="Compare").click()
    pick = desk.locator("#cmp-pick input").first
    for name in ("resnet18-05", "resnet18-10"):  # HW_A with 2 threads, HW_B with 1
        pick.click()
        desk.get_by_role("option", name=re.compile(name)).first.click()
    desk.wait_for_selector("#cmp-note:has-text('Not like for like')")
    note = desk.inner_text("#cmp-note")
    assert "hardware profiles" in note and "thread counts" in note
    assert desk.locator("#cmp-table strong").count() >= 3  # best latency, throughput, accuracy...
    shot(desk, "view-compare-picked")


@pytest.mark.parametrize("tab", ["Leaderboard", "Compare", "Submit", "Queue", "Review", "About"])
def test_every_tab_at_both_viewports(server, desk, phone, tab):
    for name, page in (("desktop", desk), ("phone", phone)):
        _open(page, server)
        more = page.locator("button[aria-label='More tabs']")
        assert not (more.count() and more.first.is_visible()), f"{name}: tabs hidden behind a menu"
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(600)
        page.screenshot(path=str(_artifact(f"view-{tab.lower()}-{name}.png")))  # the first screen
        if tab == "Leaderboard" and name == "phone":
            first = page.locator("#lb-table [data-row='0']").first.bounding_box()
            assert first["y"] < PHONE["height"], "on a phone the first rows are below the first screen"


def _artifact(name: str):
    from tests.e2e._app import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
