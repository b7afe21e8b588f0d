from leaderboard.charts import accuracy_latency_scatter, latency_batch_curves
from leaderboard.load import build_frames
from tests._leaderboard_helpers import make_record, make_run


def _traces(fig, kind):
    return [t for t in fig.data if (t.mode or "") == kind]


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
    (pts,) = _traces(fig, "markers")
    assert sorted(pts.y) == [60.0, 70.0, 80.0]
    sizes = dict(zip(pts.y, pts.marker.size, strict=True))
    assert sizes[80.0] > sizes[60.0] > sizes[70.0]  # bigger model, bigger point
    (front,) = _traces(fig, "lines")
    assert list(front.x) == [2.0, 9.0] and list(front.y) == [70.0, 80.0]  # c is dominated
    assert "top-1" in fig.layout.yaxis.title.text


def test_scatter_without_accuracy_shows_throughput_and_empty_view_explains():
    fig = accuracy_latency_scatter(build_frames([make_record(runs=[make_run(p50=4.0)])])[0])
    assert "throughput" in fig.layout.yaxis.title.text.lower()
    assert list(_traces(fig, "markers")[0].y) == [250.0]
    empty = accuracy_latency_scatter(build_frames([])[0])
    assert not empty.data and "No results" in empty.layout.annotations[0].text
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
    (pts,) = _traces(fig, "markers")
    assert len(pts.x) == 30  # every point here is on the front: all kept
    few = build_frames([make_record(model=f"n{i}", runs=[make_run(p50=2.0 + i)]) for i in range(30)])[0]
    fig = accuracy_latency_scatter(few, max_points=10)
    (pts,) = _traces(fig, "markers")
    assert len(pts.x) == 10 and "10 of 30 points" in fig.layout.title.text
