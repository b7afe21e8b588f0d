"""Plotly figures of a leaderboard view (graph_objects; at most MAX_POINTS points go to the browser).

Plotly renders a subset of HTML in hover text, trace names and legends, so every record-supplied string
(model id, backend, precision, hardware profile, row labels) goes through ``markup.escape_plotly``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from leaderboard.columns import BY_NAME, DEFAULT_TASK, metric_fields, primary_metric
from leaderboard.filters import pareto_axes, pareto_front
from leaderboard.markup import escape_plotly

_LABELS = {
    "latency_p50_ms": "p50 latency at batch 1 (ms, lower is better)",
    "throughput_ips": "best throughput (images/s)",
    **{m: f"measured {BY_NAME[m].label.removesuffix(' %')} (%)" for m in metric_fields()},
    "top1": "measured top-1 (%)",
}
_SHORT = {
    "throughput_ips": "Throughput",
    "latency_p50_ms": "p50 latency",
    **{m: BY_NAME[m].label.removesuffix(" %") for m in metric_fields()},
    "top1": "Top-1 accuracy",
}
# what the points can be coloured by (a picker offers these); the front is always per hardware profile
COLOR_BY = {
    "family": "Family",
    "backend": "Backend",
    "precision": "Precision",
    "hardware_profile": "Hardware",
}
PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
    "#eeca3b", "#1f77b4", "#2ca02c",
)  # fmt: skip
LOG_SPAN = 10.0  # an axis whose positive values span this factor or more is drawn on a log scale


def colour_of(values: list[str]) -> dict[str, str]:
    """A stable colour per distinct value (sorted, then the palette in order, cycling)."""
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(sorted(set(values)))}


def axis_type(values: pd.Series) -> str:
    """``"log"`` when every value is positive and they span at least :data:`LOG_SPAN`, else ``"linear"``."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty or (v <= 0).any():
        return "linear"
    return "log" if v.max() / v.min() >= LOG_SPAN else "linear"


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why there is nothing to plot."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=420, template="plotly_white")
    return fig


def _sizes(params: pd.Series) -> np.ndarray:
    p = params.to_numpy(dtype=float)
    s = np.sqrt(np.nan_to_num(p, nan=1.0).clip(0.01, None))
    return np.clip(6 + 4 * s, 6, 40)


MAX_POINTS = 1000


def chart_fields(task: str = DEFAULT_TASK) -> tuple[str, ...]:
    """The columns a scatter of ``task`` reads (its axes, every colour choice, hover text, marker sizes):
    a view hands over only these, not all forty."""
    return ("latency_p50_ms", primary_metric(task), "throughput_ips", *COLOR_BY, "model", "params_m")


def _hover(part: pd.DataFrame) -> pd.Series:
    return (
        "<b>"
        + part["model"].map(escape_plotly)
        + "</b><br>"
        + part["backend"].map(escape_plotly)
        + "/"
        + part["precision"].map(escape_plotly)
        + " · "
        + part["hardware_profile"].map(escape_plotly)
        + "<br>params "
        + part["params_m"].map(lambda v: "—" if pd.isna(v) else f"{v:.2f} M")
    )


def accuracy_latency_scatter(
    df: pd.DataFrame, max_points: int = MAX_POINTS, color_by: str = "family", task: str = DEFAULT_TASK
) -> go.Figure:
    """The task's primary metric (top-1, box mAP, mIoU, keypoint AP; throughput when no row has it) vs
    p50 latency of the rows of a view.

    One colour per ``color_by`` value (:data:`COLOR_BY`), marker size = params, the model name on hover,
    log axes where values span decades, and the Pareto front of each hardware profile drawn as a line with
    ringed points (so a front of one point shows too). At most ``max_points`` points are sent to the
    browser: every front point, then the view's first rows in its order; the title says when points were
    left out.
    """
    if color_by not in COLOR_BY:
        color_by = "family"
    if df.empty:
        return empty_figure("No rows in this view.")
    x, y = pareto_axes(df, task)
    pts = df[df[x].notna() & df[y].notna()]
    if pts.empty:
        return empty_figure("No row in this view has both a batch-1 latency and an accuracy or throughput.")
    fig = go.Figure()
    front = pareto_front(pts, x, y)
    n_all = len(pts)
    if n_all > max_points:
        others = (~front).cumsum()  # position among the non-front rows, in view order
        keep = front | (~front & (others <= max(0, max_points - int(front.sum()))))
        pts, front = pts[keep], front[keep]
    groups = pts[color_by].fillna("—").astype(str)
    colours = colour_of(groups.tolist())
    for value in sorted(colours):
        part = pts[groups == value]
        fig.add_trace(
            go.Scatter(
                x=part[x],
                y=part[y],
                mode="markers",
                name=escape_plotly(value),
                legendgroup=escape_plotly(value),
                text=_hover(part),
                hovertemplate="%{text}<br>x=%{x:.3g} y=%{y:.3g}<extra></extra>",
                marker={
                    "size": _sizes(part["params_m"]),
                    "color": colours[value],
                    "opacity": 0.75,
                    "line": {"width": 0},
                },
            )
        )
    for hw, part in pts[front].groupby("hardware_profile", sort=True):
        f = part.sort_values(x)
        fig.add_trace(
            go.Scatter(
                x=f[x],
                y=f[y],
                mode="lines+markers",
                name=f"Pareto front · {escape_plotly(hw)}",
                line={"dash": "dot", "width": 2, "color": "#333333", "shape": "hv"},
                marker={"symbol": "circle-open", "size": 14, "color": "#333333", "line": {"width": 2}},
                text=f["model"].map(escape_plotly),
                hovertemplate="front: %{text}<extra></extra>",
            )
        )
    title = f"{_SHORT[y]} vs p50 latency · colour: {COLOR_BY[color_by].lower()}"
    if y == "throughput_ips":
        title += " (no accuracy measured in this view)"
    if len(pts) < n_all:
        title += f" — {len(pts):,} of {n_all:,} points (front + first rows of the view)"
    fig.update_layout(
        title={"text": title, "font": {"size": 15}},
        xaxis={"title": _LABELS[x], "type": axis_type(pts[x])},
        yaxis={"title": _LABELS[y], "type": axis_type(pts[y])},
        height=460,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def latency_batch_curves(long: pd.DataFrame, row_ids: list[str], labels: dict[str, str]) -> go.Figure:
    """p50 latency (and throughput on a second axis) vs batch size, one line per selected row."""
    part = long[long["row_id"].isin(row_ids)]
    if part.empty:
        return empty_figure("Pick models to compare their latency across batch sizes.")
    fig = go.Figure()
    for i, rid in enumerate(row_ids):
        r = part[part["row_id"] == rid].sort_values("batch_size")
        if r.empty:
            continue
        name = escape_plotly(labels.get(rid, rid))
        colour = PALETTE[i % len(PALETTE)]  # one colour per model across both curves
        fig.add_trace(
            go.Scatter(
                x=r["batch_size"],
                y=r["latency_p50_ms"],
                mode="lines+markers",
                name=f"{name} · p50 ms",
                legendgroup=rid,
                line={"color": colour},
                marker={"color": colour},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=r["batch_size"],
                y=r["throughput_ips"],
                mode="lines+markers",
                name=f"{name} · img/s",
                legendgroup=rid,
                yaxis="y2",
                line={"dash": "dash", "color": colour},
                marker={"color": colour, "symbol": "square"},
            )
        )
    fig.update_layout(
        title="Latency and throughput vs batch size",
        xaxis={
            "title": "batch size",
            "type": "log",
            "tickvals": sorted(part["batch_size"].dropna().unique().tolist()),
        },
        yaxis={"title": "p50 latency per batch (ms)", "type": axis_type(part["latency_p50_ms"])},
        yaxis2={
            "title": "throughput (images/s)",
            "overlaying": "y",
            "side": "right",
            "type": axis_type(part["throughput_ips"]),
        },
        height=460,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def latency_resolution_curves(
    points: dict[str, list[tuple[int, float]]], row_ids: list[str], labels: dict[str, str]
) -> go.Figure:
    """Batch-1 p50 latency vs square input resolution (the records' input-size scaling), one line per
    selected row, in the same colour per row as :func:`latency_batch_curves`."""
    if not any(points.get(rid) for rid in row_ids):
        return empty_figure(
            "No input-size scaling in the picked rows (measured with --input-sizes, e.g. 160,224,288,384)."
        )
    fig = go.Figure()
    all_x: set[int] = set()
    all_y: list[float] = []
    for i, rid in enumerate(row_ids):
        pts = points.get(rid) or []
        if not pts:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        all_x.update(xs)
        all_y += ys
        colour = PALETTE[i % len(PALETTE)]  # same index, same colour as the batch-size curves
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=escape_plotly(labels.get(rid, rid)),
                legendgroup=rid,
                line={"color": colour},
                marker={"color": colour},
                hovertemplate="%{x} px: %{y:.3g} ms<extra></extra>",
            )
        )
    fig.update_layout(
        title="Latency vs input resolution (batch 1)",
        xaxis={"title": "input resolution (px, square)", "tickvals": sorted(all_x)},
        yaxis={"title": "p50 latency (ms)", "type": axis_type(pd.Series(all_y))},
        height=420,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
