"""Nothing a record supplies renders as markup: table cells, details, compare, charts, report.

Each test plants hostile strings in every record field that reaches an output and checks that the output
carries them only in inert form (escaped, or inside a code fence it cannot close).
"""

from __future__ import annotations

import re

import pytest

from leaderboard import charts, markup, present, report
from leaderboard.load import build_frames
from tests._leaderboard_helpers import make_record, make_run

IMG = "<img src=x onerror=alert(1)>"
LINK = "[x](javascript:alert(1))"
PIPE = "a|b`c`*d*_e_"
HOSTILE = (IMG, LINK, PIPE, "<script>alert(1)</script>", "![i](http://evil/x.png)", "$\\href{x}{y}$")


def _hostile_record(text: str) -> dict:
    rec = make_record(
        model=text,
        source="timm",
        revision=text,
        arch=text,
        hw=text,
        runs=[make_run(bs=1, p50=5.0, noise={"noisy": True, "cv": 0.5, "reasons": [text]})],
    )
    rec["dataset"] = {"name": text, "num_samples": 10}
    rec["config"] = None  # the reproduce command is rebuilt from the runs and carries the model id
    return rec


def _no_live_markup(md: str) -> None:
    """Outside code fences: no raw tag, no unescaped link/image/code/emphasis/pipe opener."""
    outside = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", md)
    assert "<" not in outside and ">" not in outside, outside
    for m in re.finditer(r"(?<!\\)[\[`*_$]", outside):
        pytest.fail(f"unescaped {m.group()!r} at {outside[max(0, m.start() - 20) : m.start() + 20]!r}")


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_markdown_leaves_no_markup(text):
    out = markup.escape_markdown(text + "\nsecond line")
    _no_live_markup(out.replace("\\|", ""))
    assert "\n" not in out and "|" not in out.replace("\\|", "")


def test_escape_html_and_plain_text():
    assert markup.escape_html(IMG) == "&lt;img src=x onerror=alert(1)&gt;"
    assert markup.escape_html("\"&'") == "&quot;&amp;&#39;"
    assert markup.plain_text("a\nb\x00c\u2028d") == "a b c d"
    assert len(markup.plain_text("x" * 10_000)) == 2000


def test_links_only_from_validated_ids():
    assert markup.model_link("hf-hub:org/name@main") == "https://huggingface.co/org/name"
    assert (
        markup.model_link("resnet50.a1_in1k", "timm") == "https://huggingface.co/timm?search_models=resnet50"
    )
    for bad in (
        IMG,
        LINK,
        "hf-hub:org/na me",
        "hf-hub:../x",
        "hf-hub:org/a--b",
        "javascript:alert(1)",
        ["x"],
    ):
        assert markup.model_link(bad) is None and markup.model_link(bad, "hf-hub") is None
    assert markup.model_link("local-dir:/models/x", "local-dir") is None
    assert markup.markdown_link("x", "javascript:alert(1)") == "x"  # a URL not built here is never linked
    assert (
        markup.markdown_link("a_b", "https://huggingface.co/org/a_b")
        == "[a\\_b](https://huggingface.co/org/a_b)"
    )


def test_code_block_cannot_be_closed_by_its_content():
    lines = markup.code_block("echo 1\n```\n<b>x</b>\n````", "sh")
    fence = lines[0].removesuffix("sh")
    assert set(fence) == {"`"} and len(fence) == 5 and lines[-1] == fence
    assert all(not line.startswith(fence) for line in lines[1:-1])


@pytest.mark.parametrize("text", HOSTILE)
def test_table_cells_details_and_compare_are_inert(text):
    wide, _ = build_frames([_hostile_record(text), make_record(model="resnet18")])
    frame, dtypes, *_ = present.display_page(wide, [c for c in wide.columns], page=1)
    model_cells = frame["Model"].tolist()
    for cell in model_cells:
        _no_live_markup(cell.split("](https://huggingface.co/")[0].lstrip("["))
    assert any(c.startswith("[resnet18](https://huggingface.co/") for c in model_cells)  # valid ids linked
    assert not any(re.search(r"(?<!\\)\]\(javascript", c) for c in model_cells)
    other = [d for d, name in zip(dtypes, frame.columns, strict=True) if name != "Model"]
    assert set(other) == {"str"}  # every other cell is plain text, never rendered as Markdown or HTML
    row = wide[wide.model == text].iloc[0].to_dict()
    details = present.row_details(row)
    _no_live_markup(details)
    assert "⚠ noisy" in details
    compare = present.compare_table(wide, wide.row_id.tolist())
    assert all("\n" not in str(v) for v in [*compare.columns, *compare.to_numpy().ravel()])


def test_chart_hover_and_legend_text_are_escaped():
    recs = [_hostile_record(IMG), make_record(model="resnet18")]
    wide, long = build_frames(recs)
    fig = charts.accuracy_latency_scatter(wide)
    texts = [t for tr in fig.data if tr.text is not None for t in tr.text]
    names = [tr.name for tr in fig.data]
    assert texts and all("<img" not in t for t in texts) and any("&lt;img" in t for t in texts)
    assert all("<img" not in n for n in names) and any("&lt;img" in n for n in names)
    labels = {rid: present.row_label(r) for rid, r in wide.set_index("row_id").iterrows()}
    curves = charts.latency_batch_curves(long, wide.row_id.tolist(), labels)
    assert all("<img" not in tr.name for tr in curves.data)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_report_is_inert(text):
    recs = [_hostile_record(text), make_record(model="resnet18")]
    wide, _ = build_frames(recs)
    envs = report.environments_from_records(recs)
    for env in envs.values():
        env[0]["cpu"] = text
    md = report.render_report(wide, envs, filter_note=f"q={text}")
    ours = (report.BAND_LEGEND, "Noisy marker")  # the report's own sentences (with their own bold text)
    planted = "\n".join(line for line in md.splitlines() if not line.startswith(ours))
    _no_live_markup(planted.replace("### ", "").replace("## ", "").replace("# ", ""))
    tables = [line for line in md.splitlines() if line.startswith("| ")]
    widths = {line.count(" | ") - line.count("\\|") for line in tables if "| Model |" in line}
    assert len(widths) == 1  # a pipe in a value never adds a table column
    for line in tables:
        assert line.count("|") - line.count("\\|") in {3, len(report.table_columns("classification")) + 1}
