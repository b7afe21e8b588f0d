"""The reference suite: a few small models per task, queued pre-approved on an empty board, so a new
local board fills itself (``python app.py``) and ``bench/reference_suite.py`` can time the whole suite."""

from __future__ import annotations

import logging

from eval_queue import entries as queue_entries
from eval_queue.entry import QueueError
from store import StoreError, Stores, layout

log = logging.getLogger(__name__)

# Small models per task (random weights: efficiency only, like the timm suite); each queued for its task.
SEED_MODELS = (
    "resnet18",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "vit_tiny_patch16_224",
    "torchvision:ssdlite320_mobilenet_v3_large",
    "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
    "torchvision:lraspp_mobilenet_v3_large",
    "torchvision:deeplabv3_mobilenet_v3_large",
    "torchvision:keypointrcnn_resnet50_fpn",
)
# Detectors and keypoint models run at 320-800 px: per-frame latency (batch 1) keeps a CPU seed short.
TASK_SEED_CONFIG = {"batch_sizes": [1]}


def seed_config(arch: str) -> dict | None:
    """The config a seed is queued with (None: the board's defaults)."""
    return TASK_SEED_CONFIG if arch.startswith("torchvision:") else None


def seed_reference_suite(stores: Stores) -> int:
    """Enqueue the suite, pre-approved by ``system``, on an empty board (no record, no entry); returns how
    many were queued."""
    if stores.results.list_files(layout.RECORDS_DIR) or stores.queue.list_files(layout.ENTRIES_DIR):
        return 0
    n = 0
    for arch in SEED_MODELS:
        try:
            queue_entries.enqueue_approved(stores.queue, arch, by="system", config=seed_config(arch))
            n += 1
        except (QueueError, StoreError, ValueError) as exc:  # a seed that cannot be queued is not fatal
            log.warning("could not seed %s: %s", arch, exc)
    return n
