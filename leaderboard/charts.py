"""Plotly figures of a leaderboard view (graph_objects; at most MAX_POINTS points go to the browser).

Plotly renders a subset of HTML in hover text, trace names and legends, so every record-supplied string
(model id, backend, precision, hardware profile, row labels) goes through ``markup.escape_html``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from leaderboard.filters import pareto_axes, pareto_front
from leaderboard.markup import escape_html

_LABELS = {
    "latency_p50_ms": "p50 latency at batch 1 (ms, lower is better)",
    "top1": "measured top-1 (%)",
    "throughput_ips": "best throughput (images/s)",
}


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


def accuracy_latency_scatter(df: pd.DataFrame, max_points: int = MAX_POINTS) -> go.Figure:
    """Accuracy (or throughput when no row has accuracy) vs p50 latency; size = params; front drawn.

    At most ``max_points`` points are sent to the browser: every Pareto-front point, then the view's
    first rows in its current order; the title says when points were left out.
    """
    if df.empty:
        return empty_figure("No results in this view yet.")
    x, y = pareto_axes(df)
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
    for hw, part in pts.groupby("hardware_profile", sort=True):
        text = (
            part["model"].map(escape_html)
            + " · "
            + part["backend"].map(escape_html)
            + "/"
            + part["precision"].map(escape_html)
            + "<br>params "
            + part["params_m"].map(lambda v: "—" if pd.isna(v) else f"{v:.2f} M")
        )
        name = escape_html(hw)
        fig.add_trace(
            go.Scatter(
                x=part[x],
                y=part[y],
                mode="markers",
                name=name,
                text=text,
                hovertemplate="%{text}<br>x=%{x:.3g} y=%{y:.3g}<extra>%{fullData.name}</extra>",
                marker={"size": _sizes(part["params_m"]), "opacity": 0.7, "line": {"width": 0}},
            )
        )
        f = part[front.loc[part.index]].sort_values(x)
        fig.add_trace(
            go.Scatter(
                x=f[x],
                y=f[y],
                mode="lines",
                name=f"Pareto front · {name}",
                line={"dash": "dot", "width": 2},
                hoverinfo="skip",
            )
        )
    title = (
        "Accuracy vs latency" if y == "top1" else "Throughput vs latency (no accuracy measured in this view)"
    )
    if len(pts) < n_all:
        title += f" — {len(pts):,} of {n_all:,} points (front + first rows of the view)"
    fig.update_layout(
        title=title,
        xaxis_title=_LABELS[x],
        yaxis_title=_LABELS[y],
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
    for rid in row_ids:
        r = part[part["row_id"] == rid].sort_values("batch_size")
        if r.empty:
            continue
        name = escape_html(labels.get(rid, rid))
        fig.add_trace(
            go.Scatter(x=r["batch_size"], y=r["latency_p50_ms"], mode="lines+markers", name=f"{name} p50 ms")
        )
        fig.add_trace(
            go.Scatter(
                x=r["batch_size"],
                y=r["throughput_ips"],
                mode="lines+markers",
                name=f"{name} img/s",
                yaxis="y2",
                line={"dash": "dash"},
            )
        )
    fig.update_layout(
        title="Latency and throughput vs batch size",
        xaxis={
            "title": "batch size",
            "type": "log",
            "tickvals": sorted(part["batch_size"].dropna().unique().tolist()),
        },
        yaxis={"title": "p50 latency per batch (ms)"},
        yaxis2={"title": "throughput (images/s)", "overlaying": "y", "side": "right"},
        height=460,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
