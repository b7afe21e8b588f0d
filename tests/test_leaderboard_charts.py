import pandas as pd

from leaderboard.charts import PALETTE, accuracy_latency_scatter, axis_type, latency_batch_curves
from leaderboard.load import build_frames
from tests._leaderboard_helpers import make_record, make_run


def _traces(fig, kind):
    return [t for t in fig.data if (t.mode or "") == kind]


def _points(fig):
    """Every scatter point as (x, y, size) over the colour groups' traces."""
    out = []
    for t in _traces(fig, "markers"):
        sizes = t.marker.size if t.marker.size is not None else [None] * len(t.x)
        out += list(zip(t.x, t.y, sizes, strict=True))
    return out


def test_scatter_with_accuracy_draws_points_sized_by_params_and_the_front():
    recs = [
        make_record(
            model="a", pretrained=True, accuracy={"top1": 70.0}, params=1_000_000, runs=[make_run(p50=2.0)]
        ),
        make_record(
            model="b", pretrained=True, accuracy={"top1": 80.0}, params=50_000_000, runs=[make_run(p50=9.0)]
        ),
        make_record(
            model="c", pretrained=True, accuracy={"top1": 60.0}, params=5_000_000, runs=[make_run(p50=5.0)]
        ),
    ]
    fig = accuracy_latency_scatter(build_frames(recs)[0])
    pts = _points(fig)
    assert sorted(y for _, y, _ in pts) == [60.0, 70.0, 80.0]
    sizes = {y: s for _, y, s in pts}
    assert sizes[80.0] > sizes[60.0] > sizes[70.0]  # bigger model, bigger point
    (front,) = _traces(fig, "lines+markers")
    assert list(front.x) == [2.0, 9.0] and list(front.y) == [70.0, 80.0]  # c is dominated
    assert "top-1" in fig.layout.yaxis.title.text
    assert fig.layout.title.text.startswith("Top-1 accuracy vs p50 latency")


def test_scatter_without_accuracy_shows_throughput_and_empty_view_explains():
    fig = accuracy_latency_scatter(build_frames([make_record(runs=[make_run(p50=4.0)])])[0])
    assert "throughput" in fig.layout.yaxis.title.text.lower()
    assert [y for _, y, _ in _points(fig)] == [250.0]
    assert fig.layout.title.text.startswith("Throughput vs p50 latency")
    (front,) = _traces(fig, "lines+markers")  # a front of one point is still drawn (a ringed marker)
    assert list(front.y) == [250.0]
    empty = accuracy_latency_scatter(build_frames([])[0])
    assert not empty.data and "No rows" in empty.layout.annotations[0].text
    nolat = accuracy_latency_scatter(build_frames([make_record(runs=[make_run(bs=8)])])[0])
    assert not nolat.data and nolat.layout.annotations


def test_latency_vs_batch_size_curves():
    rec = make_record(runs=[make_run(bs=1, p50=2.0), make_run(bs=8, p50=8.0), make_run(bs=4, p50=5.0)])
    wide, long = build_frames([rec])
    rid = wide.row_id.iloc[0]
    fig = latency_batch_curves(long, [rid], {rid: "resnet18"})
    lat = [t for t in fig.data if t.name.endswith("p50 ms")][0]
    assert list(lat.x) == [1, 4, 8] and list(lat.y) == [2.0, 5.0, 8.0]
    assert any(t.yaxis == "y2" for t in fig.data)
    assert not latency_batch_curves(long, [], {}).data


def test_scatter_caps_points_but_keeps_the_front():
    recs = [
        make_record(model=f"m{i}", pretrained=True, accuracy={"top1": 50.0 + i}, runs=[make_run(p50=1.0 + i)])
        for i in range(30)
    ]
    wide = build_frames(recs)[0].sort_values("latency_p50_ms", ascending=False)  # front rows come last
    fig = accuracy_latency_scatter(wide, max_points=10)
    assert len(_points(fig)) == 30  # every point here is on the front: all kept
    few = build_frames([make_record(model=f"n{i}", runs=[make_run(p50=2.0 + i)]) for i in range(30)])[0]
    fig = accuracy_latency_scatter(few, max_points=10)
    assert len(_points(fig)) == 10 and "10 of 30 points" in fig.layout.title.text


def _mixed():
    archs = [("resnet18", 1.0, 70.0), ("resnet50", 4.0, 76.0), ("vit_tiny_patch16_224", 30.0, 75.0)]
    recs = [
        make_record(
            model=a,
            pretrained=True,
            accuracy={"top1": t},
            runs=[make_run(p50=p), make_run("onnxruntime", p50=p / 2)],
        )
        for a, p, t in archs
    ]
    return build_frames(recs)[0]


def test_scatter_colours_by_family_or_a_picked_field_and_names_models_on_hover():
    wide = _mixed()
    fig = accuracy_latency_scatter(wide)
    groups = {t.name: t for t in _traces(fig, "markers")}
    assert set(groups) == set(wide["family"]), groups.keys()  # one trace (one colour) per family
    assert len({t.marker.color for t in groups.values()}) == len(groups)
    hovers = " ".join(h for t in groups.values() for h in t.text)
    assert all(m in hovers for m in wide["model"])
    by_backend = accuracy_latency_scatter(wide, color_by="backend")
    assert {t.name for t in _traces(by_backend, "markers")} == {"pytorch", "onnxruntime"}
    assert "backend" in by_backend.layout.title.text
    assert accuracy_latency_scatter(wide, color_by="<script>").layout.title.text.endswith("family")


def test_log_axis_only_where_values_span_decades():
    fig = accuracy_latency_scatter(_mixed())  # latencies 0.5 .. 30 ms: a log x axis; top-1 70-76: linear
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"
    assert axis_type(pd.Series([1.0, 9.0])) == "linear"
    assert axis_type(pd.Series([0.0, 100.0])) == "linear"  # log of zero is impossible: stay linear
    assert axis_type(pd.Series([float("nan"), 1.0, 10.0])) == "log"
    assert axis_type(pd.Series([], dtype=float)) == "linear"


def test_legend_text_is_escaped_for_plotly_without_literal_entities_for_quotes():
    rec = make_record(model='org/"quoted"&<b>', runs=[make_run(p50=3.0)])
    wide = build_frames([rec])[0]
    wide["family"] = 'fam "x" <i>'
    fig = accuracy_latency_scatter(wide)
    (pts,) = _traces(fig, "markers")
    assert pts.name == 'fam "x" &lt;i&gt;'  # a quote shows as a quote, markup as text
    assert "&quot;" not in pts.text[0] and "&lt;b&gt;" in pts.text[0] and "&amp;" in pts.text[0]


def test_compare_curves_share_one_colour_per_model():
    wide, long = build_frames(
        [
            make_record(model="a", runs=[make_run(bs=1, p50=2.0), make_run(bs=8, p50=8.0)]),
            make_record(model="b", runs=[make_run(bs=1, p50=3.0), make_run(bs=8, p50=9.0)]),
        ]
    )
    ids = wide.row_id.tolist()
    fig = latency_batch_curves(long, ids, {r: r for r in ids})
    colours = {}
    for t in fig.data:
        colours.setdefault(t.legendgroup, set()).add(t.line.color)
    assert all(len(c) == 1 for c in colours.values()) and len(colours) == 2
    assert {c for s in colours.values() for c in s} <= set(PALETTE)
