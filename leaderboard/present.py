"""Turn frames into what the UI shows: formatted pages, row details, compare tables (no Gradio here).

Record-supplied text never renders as markup: Markdown outputs (the Model cell, row details) escape every
value with :mod:`leaderboard.markup` and link only validated model ids; the table's other cells and the
compare table are plain text (control characters removed) and must be shown with Gradio datatype "str".
"""

from __future__ import annotations

import math

import pandas as pd

from leaderboard.columns import BY_NAME, COLUMNS, COMPARE_FIELDS, EXPORT_FIELDS, format_value, visible_columns
from leaderboard.markup import code_block, escape_markdown, markdown_link, plain_text

PAGE_SIZE = 50
MISSING = "—"


def model_markdown(model: object, url: object) -> str:
    """The Model cell: the escaped id, linked only when ``url`` is a link built from a validated id."""
    return markdown_link(model, url)


def display_page(
    view: pd.DataFrame, columns: list[str] | tuple[str, ...] | None, page: int = 1, page_size: int = PAGE_SIZE
) -> tuple[pd.DataFrame, list[str], list[str], int, int]:
    """One page of the view as display strings with column labels.

    Returns (frame, gradio datatypes, row_ids of the page, page actually shown, number of pages).
    Only ``page_size`` rows ever go to the browser.
    """
    cols = visible_columns(columns)
    pages = max(1, math.ceil(len(view) / page_size))
    page = min(max(1, int(page or 1)), pages)
    part = view.iloc[(page - 1) * page_size : page * page_size]
    out = {}
    for name in cols:
        col = BY_NAME[name]
        if name == "model":
            out[col.label] = [
                model_markdown(m, u) for m, u in zip(part["model"], part["model_url"], strict=True)
            ]
        else:
            out[col.label] = [plain_text(cell_text(name, v)) for v in part[name]]
    frame = pd.DataFrame(out, columns=[BY_NAME[n].label for n in cols])
    dtypes = ["markdown" if BY_NAME[n].dtype == "markdown" else "str" for n in cols]
    return frame, dtypes, part["row_id"].tolist(), page, pages


def _py(v):
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def cell_text(name: str, value) -> str:
    """Display text of one cell of a frame (numpy/pandas scalars and NaN/NA included); missing -> '—'."""
    return format_value(name, _py(value))


def row_label(row: pd.Series | dict) -> str:
    """Short unique-ish name of a leaderboard row for pickers (plain text, one line)."""
    return plain_text(
        f"{row['model']} · {row['backend']}/{row['device']}/{row['precision']} · {row['hardware_profile']}",
        limit=200,
    )


def row_details(row: pd.Series | dict) -> str:
    """Markdown with every column of one row and its reproduce command; every value escaped."""
    lines = [f"### {escape_markdown(row_label(row))}", ""]
    link = markdown_link(row.get("model"), row.get("model_url"))
    if "](" in link:
        lines += [f"Model page: {link}", ""]
    lines.append("| field | value |")
    lines.append("|---|---|")
    for c in COLUMNS:
        if c.name == "reproduce":
            continue
        lines.append(
            f"| {escape_markdown(c.label)} | {escape_markdown(cell_text(c.name, row.get(c.name)))} |"
        )
    lines += ["", "Reproduce this row on your machine:", ""]
    lines += code_block(row.get("reproduce") or "", "bash")
    return "\n".join(lines)


def compare_table(wide: pd.DataFrame, row_ids: list[str]) -> pd.DataFrame:
    """Metrics side by side: one column per picked row, one line per metric."""
    rows = wide.set_index("row_id")
    picked = [r for r in row_ids if r in rows.index]
    data: dict[str, list[str]] = {"metric": [BY_NAME[f].label for f in COMPARE_FIELDS]}
    for rid in picked:
        r = rows.loc[rid]
        name = plain_text(f"{r['model']} ({r['backend']}/{r['precision']})", limit=120)
        while name in data:
            name += "'"
        data[name] = [plain_text(cell_text(f, r[f])) for f in COMPARE_FIELDS]
    return pd.DataFrame(data)


def compare_choices(wide: pd.DataFrame, ranked: bool = True) -> list[tuple[str, str]]:
    """(label, row_id) pairs for the Compare picker, in rank order (or in the frame's order)."""
    if wide.empty:
        return []
    w = wide.sort_values("rank") if ranked else wide
    return [(row_label(r), r["row_id"]) for r in w.to_dict("records")]


def export_frame(view: pd.DataFrame) -> pd.DataFrame:
    """The current view with raw (unformatted) values and machine-friendly column names."""
    return view[[c for c in EXPORT_FIELDS if c in view]].reset_index(drop=True)
