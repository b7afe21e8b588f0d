"""Task registry, built-in synthetic sets, loaders and category mapping (harness.tasks, issue 13).

No network, no models: the sets are generated, the files under test are written here.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import BadConfig, BadDataset, HarnessError
from harness.tasks import TASK_NAMES, TaskSpec, get_task, task_specs
from harness.tasks import synthetic as syn
from harness.tasks.datasets import load_task_dataset, map_categories

# ---- registry ---------------------------------------------------------------------------------------


def test_registry_lists_the_four_tasks_with_their_metrics():
    assert TASK_NAMES == ("classification", "detection", "segmentation", "pose")
    assert tuple(s.name for s in task_specs()) == TASK_NAMES
    det = get_task("detection")
    assert isinstance(det, TaskSpec)
    assert det.primary_metric == "box_map" and det.metric_names[0] == "box_map"
    assert det.metric_names == (
        "box_map",
        "box_ap50",
        "box_ap75",
        "box_ap_small",
        "box_ap_medium",
        "box_ap_large",
    )
    assert get_task("segmentation").metric_names == ("miou", "pixel_accuracy")
    assert get_task("pose").metric_names == ("kp_ap", "kp_ap50", "kp_ap75")
    assert get_task("classification").metric_names == ("top1", "top5")
    assert {s.builtin_dataset for s in task_specs()} == {
        "digits",
        "synthetic-detection",
        "synthetic-segmentation",
        "synthetic-pose",
    }


@pytest.mark.parametrize("bad", ["Detection", "", "det\nection", None, 3, "x" * 10_000, "<b>pose</b>"])
def test_unknown_task_is_a_one_line_harness_error(bad):
    with pytest.raises(HarnessError) as info:
        get_task(bad)
    assert isinstance(info.value, BadConfig)
    text = str(info.value)
    assert "\n" not in text and len(text) < 200 and "detection" in text


# ---- synthetic sets ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    return {t: load_task_dataset(t, f"synthetic-{t}") for t in ("detection", "segmentation", "pose")}


def test_synthetic_sets_are_deterministic(synthetic):
    fresh = syn.detection_samples()  # drawn again, not the loader's cached copy
    first = synthetic["detection"]
    assert len(first) == len(fresh) >= 24
    for a, b in zip(first.samples, fresh, strict=True):
        assert a.image_id == b["image_id"] and a.image.tobytes() == b["image"].tobytes()
        np.testing.assert_array_equal(a.boxes, b["boxes"])
    # every load gets its own copy: changing one set does not change the next
    mine = load_task_dataset("segmentation", "synthetic-segmentation")
    mine.samples[0].mask[:] = 0
    mine.samples[0].image.paste((1, 2, 3), (0, 0, 10, 10))
    again = load_task_dataset("segmentation", "synthetic-segmentation")
    assert (again.samples[0].mask != 0).any()
    assert again.samples[0].image.getpixel((0, 0)) != (1, 2, 3)


def test_synthetic_detection_boxes_fit_their_pixels(synthetic):
    ds = synthetic["detection"]
    assert ds.task == "detection" and set(ds.categories) == set(syn.DETECTION_CATEGORIES)
    areas = []
    for s in ds.samples:
        w, h = s.image.size
        assert 128 <= w <= 160 and 128 <= h <= 160 and s.image.mode == "RGB"
        assert s.boxes.dtype == np.float32 and s.boxes.shape == (len(s.labels), 4) and len(s.labels) >= 1
        assert np.all(s.boxes[:, 2:] > s.boxes[:, :2]) and np.all(s.boxes >= 0)
        assert np.all(s.boxes[:, [0, 2]] <= w) and np.all(s.boxes[:, [1, 3]] <= h)
        assert set(s.labels.tolist()) <= set(ds.categories)
        box_area = (s.boxes[:, 2] - s.boxes[:, 0]) * (s.boxes[:, 3] - s.boxes[:, 1])
        assert np.all(s.areas <= box_area) and np.all(s.areas > 0.3 * box_area)
        areas += s.areas.tolist()
    # COCO's small / medium / large ranges are all represented
    assert min(areas) < 32**2 and any(32**2 < a < 96**2 for a in areas) and max(areas) > 96**2


def test_synthetic_segmentation_masks_have_classes_and_ignore_edges(synthetic):
    ds = synthetic["segmentation"]
    assert ds.categories[0] == "background" and ds.num_classes == len(syn.SEGMENTATION_CLASSES)
    seen = set()
    for s in ds.samples:
        assert s.mask.shape == s.image.size[::-1] and s.mask.dtype == np.int64
        values = set(np.unique(s.mask).tolist())
        assert ds.ignore_index in values  # edges of every object are void
        seen |= values
    assert seen == set(range(ds.num_classes)) | {ds.ignore_index}


def test_synthetic_pose_has_coco_keypoints(synthetic):
    ds = synthetic["pose"]
    assert ds.keypoint_names == syn.COCO_KEYPOINT_NAMES and len(ds.keypoint_sigmas) == 17
    assert ds.categories == {1: "person"}
    vis = []
    for s in ds.samples:
        assert s.keypoints.shape == (len(s.boxes), 17, 3)
        v = s.keypoints[..., 2]
        assert np.isin(v, (0, 1, 2)).all() and (v > 0).any(axis=1).all()
        labelled = v > 0
        xy = s.keypoints[..., :2][labelled]
        w, h = s.image.size
        assert np.all(xy >= 0) and np.all(xy[:, 0] < w) and np.all(xy[:, 1] < h)
        assert np.all(s.keypoints[..., :2][~labelled] == 0)
        vis += v.ravel().tolist()
    assert {0, 1, 2} <= set(vis)  # visible, occluded and out-of-frame keypoints all occur


def test_max_samples_keeps_a_fixed_subset():
    a = load_task_dataset("pose", "synthetic-pose", max_samples=5)
    b = load_task_dataset("pose", "synthetic-pose", max_samples=5)
    assert len(a) == 5 and [s.image_id for s in a.samples] == [s.image_id for s in b.samples]
    assert [s.image_id for s in a.samples] == sorted(s.image_id for s in a.samples)


@pytest.mark.parametrize(
    ("task", "spec", "max_samples", "needle"),
    [
        ("segmentation", "synthetic-detection", None, "detection set"),
        ("detection", "", None, "empty"),
        ("detection", "synthetic-detection", 0, "positive integer"),
        ("detection", "synthetic-detection", True, "positive integer"),
        ("detection", "a\x00b", None, "not a usable"),
        ("classification", "synthetic-detection", None, "harness.data"),
        ("tracking", "synthetic-detection", None, "unknown task"),
    ],
)
def test_bad_requests_are_one_line_errors(task, spec, max_samples, needle):
    with pytest.raises(HarnessError) as info:
        load_task_dataset(task, spec, max_samples)
    assert needle in str(info.value) and "\n" not in str(info.value)


# ---- category mapping -------------------------------------------------------------------------------


def _torchvision_categories(weights_name: str) -> list[str]:
    import torchvision.models.detection as det
    import torchvision.models.segmentation as seg

    weights = getattr(det, weights_name, None) or getattr(seg, weights_name)
    return list(weights.DEFAULT.meta["categories"])


def test_synthetic_detection_maps_onto_torchvision_coco_labels(synthetic):
    cats = _torchvision_categories("SSDLite320_MobileNet_V3_Large_Weights")
    mapping = map_categories(dict(enumerate(cats)), synthetic["detection"])
    # torchvision's COCO list is indexed by COCO category id, so every name maps to its own id
    assert mapping == {cid: cid for cid in syn.DETECTION_CATEGORIES}


def test_synthetic_segmentation_maps_onto_torchvision_voc_labels(synthetic):
    cats = _torchvision_categories("DeepLabV3_MobileNet_V3_Large_Weights")
    mapping = map_categories(dict(enumerate(cats)), synthetic["segmentation"])
    assert mapping == {0: 0, 15: 1, 7: 2, 8: 3, 12: 4}  # __background__, person, car, cat, dog


def test_pose_maps_onto_keypoint_rcnn_and_transformers_labels(synthetic):
    cats = _torchvision_categories("KeypointRCNN_ResNet50_FPN_Weights")
    assert map_categories(dict(enumerate(cats)), synthetic["pose"]) == {1: 1}
    assert map_categories({0: "Person"}, synthetic["pose"]) == {0: 1}


def test_mapping_ignores_case_spaces_and_generic_names(synthetic):
    labels = {0: "N/A", 1: " PERSON ", 2: "Car", 3: "cat", 4: "Dog", 5: "bot_tle", 6: "N/A"}
    assert map_categories(labels, synthetic["detection"]) == {1: 1, 2: 3, 3: 17, 4: 18, 5: 44}
    unnamed = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=1)
    unnamed.categories = {i: f"class_{i}" for i in range(5)}
    assert map_categories({i: f"LABEL_{i}" for i in range(5)}, unnamed) == {i: i for i in range(5)}


def test_voc_labels_map_onto_coco_names():
    """torchvision's VOC segmenters say aeroplane/motorbike/tvmonitor/sofa where COCO says airplane/..."""
    voc = _torchvision_categories("DeepLabV3_MobileNet_V3_Large_Weights")
    ds = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=1)
    ds.categories = {0: "background", 1: "airplane", 2: "motorcycle", 3: "tv", 4: "couch", 5: "dining table"}
    assert map_categories(dict(enumerate(voc)), ds) == {0: 0, 1: 1, 14: 2, 20: 3, 18: 4, 11: 5}


def test_mapping_errors_name_the_unmatched_classes(synthetic):
    with pytest.raises(BadDataset) as info:
        map_categories({0: "person", 1: "car"}, synthetic["detection"])
    text = str(info.value)
    assert "'cat'" in text and "'dog'" in text and "'bottle'" in text and "\n" not in text
    with pytest.raises(BadDataset, match="match none"):
        map_categories({i: f"LABEL_{i}" for i in range(91)}, synthetic["detection"])
    with pytest.raises(BadDataset, match="no class names"):
        map_categories({}, synthetic["detection"])
    # a segmenter without a background class (ADE-style) still maps the named classes
    ade = {0: "wall", 1: "person", 2: "car", 3: "cat", 4: "dog", 5: "sky"}
    assert map_categories(ade, synthetic["segmentation"]) == {1: 1, 2: 2, 3: 3, 4: 4}


# ---- loaders: COCO JSON, mask folders, Parquet, save_to_disk, Hub -------------------------------------

import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image  # noqa: E402

from harness.tasks import sources  # noqa: E402
from harness.tasks.export import write_coco, write_mask_folder  # noqa: E402
from harness.tasks.metrics import detection_metrics, pose_metrics  # noqa: E402


@pytest.fixture()
def coco_det(tmp_path, synthetic):
    ds = load_task_dataset("detection", "synthetic-detection", max_samples=6)
    return write_coco(ds, tmp_path), ds


def test_coco_json_round_trip_scores_its_own_ground_truth_100(coco_det, tmp_path):
    ann, ds = coco_det
    for spec in (str(ann), str(tmp_path), f"{ann}::{tmp_path / 'images'}"):
        got = load_task_dataset("detection", spec)
        assert got.task == "detection" and got.categories == ds.categories and len(got) == len(ds)
        for a, b in zip(got.samples, ds.samples, strict=True):
            assert a.image_id == b.image_id and a.image.size == b.image.size
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
            np.testing.assert_array_equal(a.labels, b.labels)
            np.testing.assert_allclose(a.areas, b.areas)
            assert a.image.tobytes() == b.image.tobytes()
    preds = [
        {"image_id": s.image_id, "boxes": s.boxes, "scores": np.ones(len(s.boxes)), "labels": s.labels}
        for s in got.samples
    ]
    assert set(detection_metrics(got, preds).values()) == {100.0}


def test_coco_layout_with_split_folder_and_crowd_regions(tmp_path):
    """annotations/instances_val2017.json + val2017/ as COCO ships it; a crowd region is neither a hit
    nor a miss, as in the official evaluation."""
    ds = load_task_dataset("detection", "synthetic-detection", max_samples=3)
    ann = write_coco(ds, tmp_path, images_dir="val2017", name="instances_val2017.json")
    (tmp_path / "annotations").mkdir()
    ann = ann.rename(tmp_path / "annotations" / ann.name)
    coco = json.loads(ann.read_text())
    coco["annotations"][0]["iscrowd"] = 1
    ann.write_text(json.dumps(coco))
    got = load_task_dataset("detection", str(ann))
    assert got.samples[0].iscrowd[0] and not got.samples[0].iscrowd[1:].any()
    preds = [
        {
            "image_id": s.image_id,
            "boxes": s.boxes[~s.iscrowd],
            "scores": np.ones((~s.iscrowd).sum()),
            "labels": s.labels[~s.iscrowd],
        }
        for s in got.samples
    ]
    assert detection_metrics(got, preds)["box_map"] == 100.0


def test_coco_keypoints_round_trip(tmp_path):
    ds = load_task_dataset("pose", "synthetic-pose", max_samples=4)
    ann = write_coco(ds, tmp_path, name="person_keypoints_val.json")
    got = load_task_dataset("pose", str(ann))
    assert got.keypoint_names == syn.COCO_KEYPOINT_NAMES and got.keypoint_sigmas == syn.COCO_KEYPOINT_SIGMAS
    np.testing.assert_allclose(got.samples[0].keypoints, ds.samples[0].keypoints, atol=1e-4)
    preds = [
        {"image_id": s.image_id, "keypoints": s.keypoints, "scores": np.ones(len(s.boxes))}
        for s in got.samples
    ]
    assert pose_metrics(got, preds)["kp_ap"] == 100.0
    with pytest.raises(BadDataset, match="no category with 'keypoints'"):
        load_task_dataset(
            "pose", str(write_coco(load_task_dataset("detection", "synthetic-detection", 2), tmp_path / "d"))
        )
    # COCO's own files carry no sigmas: 17 keypoints get COCO's; another count must bring its own
    _edit(ann, lambda c: c["categories"][0].pop("sigmas"))
    assert load_task_dataset("pose", str(ann)).keypoint_sigmas == syn.COCO_KEYPOINT_SIGMAS
    _edit(ann, lambda c: c["categories"][0].update(keypoints=["a", "b"]))
    with pytest.raises(BadDataset, match="add 'sigmas'"):
        load_task_dataset("pose", str(ann))
    _edit(ann, lambda c: c["categories"][0].update(sigmas=[0.1, -0.1]))
    with pytest.raises(BadDataset, match="sigmas must be positive"):
        load_task_dataset("pose", str(ann))
    _edit(ann, lambda c: c["categories"][0].update(sigmas=[0.1, 0.1]))
    with pytest.raises(BadDataset, match="keypoints must be a list of 6 numbers"):
        load_task_dataset("pose", str(ann))


def _edit(ann: Path, change) -> None:
    coco = json.loads(ann.read_text())
    change(coco)
    ann.write_text(json.dumps(coco))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda c: c.update(images="all of them"), "'images' must be a list of objects"),
        (lambda c: c.pop("categories"), "'categories' must be a list"),
        (lambda c: c["images"][0].update(id="1"), "images[0].id must be an integer"),
        (lambda c: c["images"][0].update(width=-5), "width must be an integer >= 1"),
        (lambda c: c["images"].append(dict(c["images"][0])), "twice"),
        (lambda c: c["categories"].append(dict(c["categories"][0])), "twice"),
        (lambda c: c["categories"][0].update(name=""), "name must be a non-empty string"),
        (lambda c: c["annotations"][0].update(bbox=["1", 2, 3, 4]), "bbox must be a list of 4 numbers"),
        (lambda c: c["annotations"][0].update(bbox=[1, 2, 3]), "bbox must be a list of 4 numbers"),
        (lambda c: c["annotations"][0].update(bbox=[1, 2, -3, 4]), "negative width"),
        (lambda c: c["annotations"][0].update(bbox=[1e308 * 10, 2, 3, 4]), "not valid JSON"),
        (lambda c: c["annotations"][0].update(area=-1), "area is negative"),
        (lambda c: c["annotations"][0].update(iscrowd=True), "iscrowd must be 0 or 1"),
        (lambda c: c["annotations"][0].update(image_id=99999), "not in 'images'"),
        (lambda c: c["annotations"][0].update(category_id=777), "not in 'categories'"),
        (lambda c: c["annotations"][0].update(bbox=[500, 500, 10, 10]), "lies outside"),
        (lambda c: c["images"][0].update(file_name="../../../etc/passwd"), "leaves the image folder"),
        (lambda c: c["images"][0].update(file_name="/etc/passwd"), "leaves the image folder"),
        (lambda c: c["images"][0].update(file_name=["a.png"]), "must be a relative path"),
        (lambda c: c["images"][0].update(width=c["images"][0]["width"] + 1), "annotations say"),
        (lambda c: c["images"][0].update(file_name="missing.png"), "cannot be read"),
    ],
)
def test_hostile_coco_annotations_are_one_line_errors(coco_det, change, needle):
    ann, _ = coco_det
    text = ann.read_text()
    if "not valid JSON" in needle:
        ann.write_text(text.replace('"bbox": [', '"bbox": [NaN, ', 1))
    else:
        _edit(ann, change)
    with pytest.raises(BadDataset) as info:
        load_task_dataset("detection", str(ann))
    assert needle in str(info.value), str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_hostile_files_are_refused_without_blocking(tmp_path, coco_det, monkeypatch):
    ann, ds = coco_det
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(BadDataset, match="not a regular file"):
        load_task_dataset("detection", str(fifo))
    # an image that is a FIFO is never opened either
    img = tmp_path / "images" / f"{ds.samples[0].image_id:06d}.png"
    img.unlink()
    os.mkfifo(img)
    with pytest.raises(BadDataset, match="not a regular file"):
        load_task_dataset("detection", str(ann))
    img.unlink()
    img.write_text("<html>not an image</html>")
    with pytest.raises(BadDataset, match="cannot read image"):
        load_task_dataset("detection", str(ann))
    # only the kept subset is decoded: a broken image outside it does not matter
    kept = load_task_dataset("detection", str(ann), max_samples=2)
    assert ds.samples[0].image_id not in [s.image_id for s in kept.samples] and len(kept) == 2
    # a decompression bomb (400 M pixels in 48 kB) is refused before it is decoded
    from PIL import Image

    Image.new("1", (20_000, 20_000)).save(img, format="PNG")
    with pytest.raises(BadDataset, match="too large"):
        load_task_dataset("detection", str(ann))
    # a link that leaves the image folder
    img.unlink()
    img.symlink_to("/etc/hostname")
    with pytest.raises(BadDataset, match="outside the image folder"):
        load_task_dataset("detection", str(ann))
    monkeypatch.setattr(sources, "MAX_ANNOTATION_BYTES", 100)
    with pytest.raises(BadDataset, match="over the 100-byte limit"):
        load_task_dataset("detection", str(ann))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests"),
        (b"\xff\xfe not utf-8", "not valid JSON"),
        (
            b'{"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}',
            "lists no images",
        ),
        (b"[1, 2, 3]", "must hold a JSON object"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_json_files(tmp_path, content, needle):
    path = tmp_path / "ann.json"
    path.write_bytes(content)
    with pytest.raises(BadDataset, match=needle):
        load_task_dataset("detection", str(path))


def test_missing_paths_and_wrong_task_formats(tmp_path, coco_det):
    ann, _ = coco_det
    with pytest.raises(BadDataset, match="does not exist"):
        load_task_dataset("detection", str(tmp_path / "nope.json"))
    with pytest.raises(BadDataset, match="image folder .* does not exist"):
        load_task_dataset("detection", f"{ann}::{tmp_path / 'nowhere'}")
    with pytest.raises(BadDataset, match="not segmentation"):
        load_task_dataset("segmentation", str(ann))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadDataset, match="is not one of"):
        load_task_dataset("detection", str(tmp_path / "empty"))
    for spec in ("digits", "synthetic-detektion", "org/name:sp lit", "a b/c", "<b>x<b>/y"):
        with pytest.raises(BadDataset, match="is not a built-in set"):
            load_task_dataset("detection", spec)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BadDataset, match="neither COCO"):
        load_task_dataset("detection", str(tmp_path / "notes.txt"))


# ---- segmentation folders ---------------------------------------------------------------------------


def test_mask_folder_round_trip(tmp_path):
    ds = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=4)
    root = write_mask_folder(ds, tmp_path / "seg")
    got = load_task_dataset("segmentation", str(root))
    assert got.categories == ds.categories and got.ignore_index == 255 and len(got) == 4
    for a, b in zip(got.samples, ds.samples, strict=True):
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.image.size == b.image.size


def test_mask_folder_with_a_palette_png_and_id2label(tmp_path):
    from PIL import Image

    ds = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=2)
    root = write_mask_folder(ds, tmp_path / "seg")
    (root / "classes.txt").unlink()
    (root / "id2label.json").write_text(json.dumps({str(i): n for i, n in ds.categories.items()}))
    mask = Image.fromarray(ds.samples[0].mask.astype(np.uint8), mode="P")
    mask.putpalette([0, 0, 0, 128, 0, 0] * 128)
    mask.save(root / "masks" / f"{ds.samples[0].image_id:06d}.png")
    got = load_task_dataset("segmentation", str(root))
    np.testing.assert_array_equal(got.samples[0].mask, ds.samples[0].mask)


def test_an_unnamed_class_index_is_ignored(tmp_path):
    """ADE-style sets leave index 0 ("other") out of the class list: its pixels are not scored, and a
    model need not know it."""
    ds = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=2)
    root = write_mask_folder(ds, tmp_path / "seg")
    (root / "classes.txt").write_text("\nperson\ncar\ncat\ndog\n")
    got = load_task_dataset("segmentation", str(root))
    assert got.categories == {1: "person", 2: "car", 3: "cat", 4: "dog"} and got.num_classes == 5
    for a, b in zip(got.samples, ds.samples, strict=True):
        np.testing.assert_array_equal(a.mask, np.where(b.mask == 0, 255, b.mask))
    assert map_categories({0: "wall", 1: "person", 2: "car", 3: "cat", 4: "dog"}, got) == {
        1: 1,
        2: 2,
        3: 3,
        4: 4,
    }


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda r, s: (r / "classes.txt").unlink(), "no class names"),
        (lambda r, s: (r / "masks" / f"{s.image_id:06d}.png").unlink(), "have no mask"),
        (lambda r, s: _save(r, s, lambda m: m[:-3]), "mask is"),
        (lambda r, s: _save(r, s, lambda m: np.stack([m] * 3, axis=-1)), "mode RGB"),
        (
            lambda r, s: _save(r, s, lambda m: np.where(np.arange(m.size).reshape(m.shape) == 0, 9, m)),
            "outside 0..4",
        ),
        (
            lambda r, s: (r / "masks" / f"{s.image_id:06d}.png").write_bytes(b"GIF89a junk"),
            "cannot read mask",
        ),
        (lambda r, s: (r / "classes.txt").write_bytes(b"\xff\xfe"), "cannot be read"),
        (lambda r, s: (r / "classes.txt").write_text("\n\n"), "between 1 and"),
        (
            lambda r, s: Image.new("1", (20_000, 20_000)).save(r / "masks" / f"{s.image_id:06d}.png"),
            "cannot read mask",
        ),
    ],
)
def test_hostile_mask_folders(tmp_path, damage, needle):
    ds = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=2)
    root = write_mask_folder(ds, tmp_path / "seg")
    damage(root, ds.samples[0])
    with pytest.raises(BadDataset) as info:
        load_task_dataset("segmentation", str(root))
    assert needle in str(info.value) and "\n" not in str(info.value)


def _save(root: Path, s, change) -> None:
    Image.fromarray(change(s.mask).astype(np.uint8)).save(root / "masks" / f"{s.image_id:06d}.png")


# ---- tables -----------------------------------------------------------------------------------------


def _png(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _detection_table(ds):
    import datasets

    names = [ds.categories[c] for c in sorted(ds.categories)]
    index = {c: i for i, c in enumerate(sorted(ds.categories))}
    features = datasets.Features(
        {
            "image_id": datasets.Value("int64"),
            "image": datasets.Image(),
            "objects": {
                "bbox": datasets.List(datasets.List(datasets.Value("float32"), length=4)),
                "category": datasets.List(datasets.ClassLabel(names=names)),
            },
        }
    )
    rows = {
        "image_id": [s.image_id for s in ds.samples],
        "image": [{"bytes": _png(s.image), "path": None} for s in ds.samples],
        "objects": [
            {
                "bbox": [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in s.boxes],
                "category": [index[int(c)] for c in s.labels],
            }
            for s in ds.samples
        ],
    }
    return datasets.Dataset.from_dict(rows, features=features)


def test_parquet_and_save_to_disk_detection(tmp_path):
    import datasets

    ds = load_task_dataset("detection", "synthetic-detection", max_samples=3)
    table = _detection_table(ds)
    table.to_parquet(str(tmp_path / "det.parquet"))
    datasets.DatasetDict({"train": table, "validation": table}).save_to_disk(str(tmp_path / "saved"))
    for spec in (str(tmp_path / "det.parquet"), str(tmp_path / "saved"), f"{tmp_path / 'saved'}:validation"):
        got = load_task_dataset("detection", spec)
        assert sorted(got.categories.values()) == sorted(ds.categories.values())
        cid = {v: k for k, v in got.categories.items()}
        for a, b in zip(got.samples, ds.samples, strict=True):
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
            assert [got.categories[int(c)] for c in a.labels] == [ds.categories[int(c)] for c in b.labels]
            assert a.image.tobytes() == b.image.tobytes()
        assert (
            map_categories({0: "person", 1: "car", 2: "cat", 3: "dog", 4: "bottle"}, got)[0] == cid["person"]
        )
    with pytest.raises(BadDataset, match="no split 'test'"):
        load_task_dataset("detection", f"{tmp_path / 'saved'}:test")


def test_parquet_segmentation_with_a_mask_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ds = load_task_dataset("segmentation", "synthetic-segmentation", max_samples=3)
    from PIL import Image

    table = pa.table(
        {
            "image": [{"bytes": _png(s.image), "path": None} for s in ds.samples],
            "annotation": [
                {"bytes": _png(Image.fromarray(s.mask.astype(np.uint8))), "path": None} for s in ds.samples
            ],
        }
    )
    pq.write_table(table, tmp_path / "seg.parquet")
    with pytest.raises(BadDataset, match="no class names"):
        load_task_dataset("segmentation", str(tmp_path / "seg.parquet"))
    (tmp_path / "classes.txt").write_text("\n".join(ds.categories.values()))
    got = load_task_dataset("segmentation", str(tmp_path / "seg.parquet"))
    for a, b in zip(got.samples, ds.samples, strict=True):
        np.testing.assert_array_equal(a.mask, b.mask)


def test_hostile_tables(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(BadDataset, match="cannot read Parquet"):
        load_task_dataset("detection", str(tmp_path / "junk.parquet"))
    img = _png(load_task_dataset("detection", "synthetic-detection", 1).samples[0].image)
    pq.write_table(pa.table({"image": [img], "label": [1]}), tmp_path / "cls.parquet")
    with pytest.raises(BadDataset, match="no objects column"):
        load_task_dataset("detection", str(tmp_path / "cls.parquet"))
    bad_rows = [
        ({"bbox": [[1, 2, 3]], "category": [0]}, "4 numbers"),
        ({"bbox": [[1, 2, -3, 4]], "category": [0]}, "negative width"),
        ({"bbox": [[1, 2, 3, 4]], "category": []}, "1 boxes but 0"),
        ({"bbox": [[float("nan"), 2, 3, 4]], "category": [0]}, "non-finite"),
        ({"bbox": [[1, 2, 3, 4]], "category": [-1]}, "integer >= 0"),
    ]
    for objects, needle in bad_rows:
        pq.write_table(pa.table({"image": [img], "objects": [objects]}), tmp_path / "bad.parquet")
        (tmp_path / "id2label.json").write_text(json.dumps({"0": "person"}))
        with pytest.raises(BadDataset, match=needle):
            load_task_dataset("detection", str(tmp_path / "bad.parquet"))
    with pytest.raises(BadDataset, match="COCO keypoint JSON"):
        load_task_dataset("pose", str(tmp_path / "bad.parquet"))


def test_hub_id_offline_is_one_line(monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    # the Hub clients read these at import time, so the switches are set on the modules (no network wait)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BadDataset, match="cannot load Hub dataset 'nobody/nothing-here'") as info:
        load_task_dataset("detection", "nobody/nothing-here:validation")
    assert "\n" not in str(info.value)


# ---- python -m harness.tasks ------------------------------------------------------------------------


def test_cli_lists_checks_and_exports(tmp_path, capsys):
    from harness.tasks.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "detection: Object detection; metrics box_map" in out and "synthetic-pose" in out
    assert (
        main(
            ["export", "segmentation", "synthetic-segmentation", str(tmp_path / "seg"), "--max-samples", "3"]
        )
        == 0
    )
    assert (tmp_path / "seg" / "classes.txt").read_text().splitlines()[0] == "background"
    assert main(["check", "segmentation", str(tmp_path / "seg")]) == 0
    out = capsys.readouterr().out
    assert "3 images" in out and "miou 100.0, pixel_accuracy 100.0" in out
    assert (
        main(["export", "detection", "synthetic-detection", str(tmp_path / "det"), "--max-samples", "4"]) == 0
    )
    assert main(["check", "detection", str(tmp_path / "det" / "annotations.json")]) == 0
    out = capsys.readouterr().out
    assert "person:" in out and "box_map 100.0" in out and "sizes (COCO area ranges)" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "tracking", "synthetic-detection"],
        ["check", "detection", "/no/such/file.json"],
        ["check", "detection", "synthetic-detection", "--max-samples", "0"],
        ["export", "detection", "synthetic-detection", "/proc/version"],
        [],
    ],
)
def test_cli_errors_are_one_line(argv, capsys):
    from harness.tasks.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
