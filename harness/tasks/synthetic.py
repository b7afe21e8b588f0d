"""Built-in synthetic sets, one per task, so every task runs offline: coloured shapes on textured
backgrounds with exact boxes, masks and COCO keypoints, generated from a fixed seed (same bytes every run).

Category names are real COCO / Pascal VOC names (person, car, cat, dog, bottle) so that
:func:`harness.tasks.datasets.map_categories` maps them onto torchvision's COCO/VOC label lists and a
transformers ``config.id2label``. Boxes and areas come from the drawn pixels, so they are exact.
"""

from __future__ import annotations

import numpy as np

SYNTHETIC_SEED = 13
NUM_IMAGES = 32
SIZE_RANGE = (128, 161)  # width and height drawn independently from [128, 160]
IGNORE_INDEX = 255

# COCO category ids and names (the ids of COCO's 80-class annotation files).
DETECTION_CATEGORIES = {1: "person", 3: "car", 17: "cat", 18: "dog", 44: "bottle"}
# Class index -> name; index 0 is background (VOC's "__background__" and ADE-style lists match it by name).
SEGMENTATION_CLASSES = ("background", "person", "car", "cat", "dog")
COCO_KEYPOINT_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# COCO's per-keypoint OKS sigmas (pycocotools' COCOeval.Params.kpt_oks_sigmas).
COCO_KEYPOINT_SIGMAS = (
    0.026,
    0.025,
    0.025,
    0.035,
    0.035,
    0.079,
    0.079,
    0.072,
    0.072,
    0.062,
    0.062,
    0.107,
    0.107,
    0.087,
    0.087,
    0.089,
    0.089,
)
COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
# A standing person facing the viewer, (x, y) in units of body height, origin at the top centre; the
# person's left side is on the image's right.
_POSE_TEMPLATE = np.array(
    [
        (0.00, 0.07), (0.025, 0.05), (-0.025, 0.05), (0.05, 0.065), (-0.05, 0.065),
        (0.12, 0.20), (-0.12, 0.20), (0.17, 0.36), (-0.17, 0.36), (0.19, 0.50), (-0.19, 0.50),
        (0.08, 0.52), (-0.08, 0.52), (0.09, 0.73), (-0.09, 0.73), (0.10, 0.95), (-0.10, 0.95),
    ],
    dtype=np.float64,
)  # fmt: skip
_PERSON_LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 11), (6, 12))
_TORSO = (5, 6, 12, 11)


def background(rng: np.random.Generator, width: int, height: int):
    """A textured RGB background: a colour gradient, low-frequency blobs and pixel noise."""
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = rng.uniform(40, 200, size=3)
    slope = rng.uniform(-0.4, 0.4, size=(2, 3))
    img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    for _ in range(3):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(15, 50)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        img += blob[..., None] * rng.uniform(-50, 50, size=3)
    img += rng.normal(0, 12, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB")


def _draw_shape(draw, kind: str, box: tuple[int, int, int, int], fill) -> None:
    x0, y0, x1, y1 = box
    if kind == "person":  # head over a rounded body
        head = max(2, (x1 - x0) // 2)
        cx = (x0 + x1) // 2
        draw.ellipse((cx - head // 2, y0, cx + head // 2, y0 + head), fill=fill)
        draw.rounded_rectangle((x0, y0 + head, x1, y1), radius=max(1, (x1 - x0) // 4), fill=fill)
    elif kind == "car":  # body with a cabin
        mid = y0 + (y1 - y0) // 3
        draw.rectangle((x0, mid, x1, y1), fill=fill)
        draw.rectangle((x0 + (x1 - x0) // 4, y0, x1 - (x1 - x0) // 4, mid), fill=fill)
    elif kind == "cat":
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], fill=fill)
    elif kind == "dog":
        draw.ellipse(box, fill=fill)
    else:  # bottle, and anything else: a rectangle
        draw.rectangle(box, fill=fill)


_ASPECT = {"person": 2.2, "car": 0.55, "cat": 1.0, "dog": 0.7, "bottle": 2.8}  # height / width


def _place(rng, width, height, kind, taken: list[tuple[int, int, int, int]]):
    """A box for one object that overlaps no earlier one (objects stay whole, so boxes are exact), with
    sizes spread over COCO's small/medium/large area ranges; None when the image is full."""
    for _ in range(40):
        side = float(rng.choice([rng.uniform(12, 28), rng.uniform(34, 80), rng.uniform(100, 130)]))
        aspect = _ASPECT[kind]
        w = int(np.clip(side / np.sqrt(aspect), 6, width - 2))
        h = int(np.clip(side * np.sqrt(aspect), 6, height - 2))
        x0 = int(rng.integers(0, width - w))
        y0 = int(rng.integers(0, height - h))
        box = (x0, y0, x0 + w - 1, y0 + h - 1)
        if all(
            box[2] < t[0] - 2 or t[2] < box[0] - 2 or box[3] < t[1] - 2 or t[3] < box[1] - 2 for t in taken
        ):
            return box
    return None


def _scene(rng: np.random.Generator, names: tuple[str, ...], max_objects: int):
    """One image of non-overlapping shapes: (PIL image, instance-id mask, [class name per instance])."""
    from PIL import Image, ImageDraw

    width, height = (int(v) for v in rng.integers(*SIZE_RANGE, size=2))
    image = background(rng, width, height)
    inst = Image.new("I", (width, height), 0)
    draw, mdraw = ImageDraw.Draw(image), ImageDraw.Draw(inst)
    kinds: list[str] = []
    taken: list[tuple[int, int, int, int]] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        kind = str(rng.choice(names))
        box = _place(rng, width, height, kind, taken)
        if box is None:
            break
        taken.append(box)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        _draw_shape(draw, kind, box, colour)
        _draw_shape(mdraw, kind, box, len(kinds) + 1)
        kinds.append(kind)
    return image, np.asarray(inst, dtype=np.int64), kinds


def _tight_box(mask: np.ndarray) -> tuple[np.ndarray, float]:
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
    return box, float(mask.sum())


def detection_samples(seed: int = SYNTHETIC_SEED, n: int = NUM_IMAGES) -> list[dict]:
    """Per image: image, boxes (xyxy pixels), labels (COCO ids of DETECTION_CATEGORIES), areas."""
    rng = np.random.default_rng(seed)
    id_of = {name: cid for cid, name in DETECTION_CATEGORIES.items()}
    out = []
    for i in range(n):
        image, inst, kinds = _scene(rng, tuple(DETECTION_CATEGORIES.values()), 4)
        boxes, areas = zip(*(_tight_box(inst == k + 1) for k in range(len(kinds))), strict=True)
        out.append(
            {
                "image_id": i + 1,
                "image": image,
                "boxes": np.stack(boxes).astype(np.float32),
                "labels": np.array([id_of[k] for k in kinds], dtype=np.int64),
                "areas": np.array(areas, dtype=np.float32),
            }
        )
    return out


def _ignore_band(inst: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels within ``width`` of an instance boundary (where VOC-style annotations mark 'void')."""
    edge = np.zeros(inst.shape, dtype=bool)
    edge[:, 1:] |= inst[:, 1:] != inst[:, :-1]
    edge[1:, :] |= inst[1:, :] != inst[:-1, :]
    for _ in range(width):
        grown = edge.copy()
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        grown[1:, :] |= edge[:-1, :]
        grown[:-1, :] |= edge[1:, :]
        edge = grown
    return edge


def segmentation_samples(seed: int = SYNTHETIC_SEED + 1, n: int = NUM_IMAGES) -> list[dict]:
    """Per image: image and an (H, W) int64 mask of SEGMENTATION_CLASSES indices, IGNORE_INDEX on edges."""
    rng = np.random.default_rng(seed)
    index_of = {name: i for i, name in enumerate(SEGMENTATION_CLASSES)}
    out = []
    for i in range(n):
        image, inst, kinds = _scene(rng, SEGMENTATION_CLASSES[1:], 4)
        lut = np.array([0] + [index_of[k] for k in kinds], dtype=np.int64)
        mask = lut[inst]
        mask[_ignore_band(inst)] = IGNORE_INDEX
        out.append({"image_id": i + 1, "image": image, "mask": mask})
    return out


def _person(rng: np.random.Generator, height: float, cx: float, top: float) -> np.ndarray:
    """17 keypoints (x, y) of one stick figure: the template, scaled, with jittered limbs."""
    pts = _POSE_TEMPLATE * height
    pts = pts + rng.normal(0, 0.02 * height, size=pts.shape)
    pts[[9, 10], 1] -= rng.uniform(0, 0.3 * height, size=2)  # raise the wrists a little, differently
    return pts + np.array([cx, top])


def pose_samples(seed: int = SYNTHETIC_SEED + 2, n: int = NUM_IMAGES) -> list[dict]:
    """Per image: image, person boxes, labels (COCO person = 1), keypoints (N, 17, 3), areas.

    Visibility follows COCO: 2 visible, 1 labelled but occluded, 0 not labelled (x = y = 0), which is what
    a keypoint that falls outside the image gets.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        width, height = (int(v) for v in rng.integers(*SIZE_RANGE, size=2))
        image = background(rng, width, height)
        draw = ImageDraw.Draw(image)
        count = int(rng.integers(1, 4))
        slots = np.linspace(0, width, count + 1)
        boxes, kps, areas = [], [], []
        for p in range(count):
            h = float(rng.uniform(0.45, 1.05) * height)
            cx = float(
                rng.uniform(
                    slots[p] + 0.2 * (slots[1] - slots[0]), slots[p + 1] - 0.2 * (slots[1] - slots[0])
                )
            )
            top = float(rng.uniform(-0.1 * h, max(1.0, height - 0.85 * h)))
            pts = _person(rng, h, cx, top)
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            silhouette = Image.new("L", (width, height), 0)
            sdraw = ImageDraw.Draw(silhouette)
            thick = max(2, int(h / 16))
            for d in (draw, sdraw):
                fill = colour if d is draw else 255
                d.polygon([tuple(pts[j]) for j in _TORSO], fill=fill)
                for a, b in _PERSON_LIMBS:
                    d.line([tuple(pts[a]), tuple(pts[b])], fill=fill, width=thick)
                r = 0.07 * h
                d.ellipse((pts[0, 0] - r, pts[0, 1] - r, pts[0, 0] + r, pts[0, 1] + r), fill=fill)
            sil = np.asarray(silhouette) > 0
            if sil.sum() < 16:
                continue
            inside = (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)
            vis = np.where(inside, np.where(rng.random(17) < 0.15, 1, 2), 0)
            if not (vis > 0).any():
                continue
            kp = np.zeros((17, 3), dtype=np.float32)
            kp[:, :2] = np.where(inside[:, None], pts, 0.0)
            kp[:, 2] = vis
            box, area = _tight_box(sil)
            boxes.append(box)
            kps.append(kp)
            areas.append(area)
        if not boxes:  # no figure stayed inside the frame: skip the image (ids keep their numbers)
            continue
        out.append(
            {
                "image_id": i + 1,
                "image": image,
                "boxes": np.stack(boxes).astype(np.float32),
                "labels": np.ones(len(boxes), dtype=np.int64),
                "keypoints": np.stack(kps).astype(np.float32),
                "areas": np.array(areas, dtype=np.float32),
            }
        )
    return out
