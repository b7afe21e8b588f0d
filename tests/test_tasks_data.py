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
    again = load_task_dataset("detection", "synthetic-detection")
    first = synthetic["detection"]
    assert len(first) == len(again) >= 24
    for a, b in zip(first.samples, again.samples, strict=True):
        assert a.image_id == b.image_id and a.image.tobytes() == b.image.tobytes()
        np.testing.assert_array_equal(a.boxes, b.boxes)


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
