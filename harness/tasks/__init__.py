"""The vision tasks the benchmark knows, one :class:`TaskSpec` each: the one place a task is named.

A task fixes which quality metrics a record carries (all percentages 0-100, primary metric first, the one
the board ranks by) and which built-in dataset runs it offline. Data loading lives in
``harness.tasks.datasets``, metrics in ``harness.tasks.metrics``; this module imports neither, so the board
can ask for a task's columns without loading numpy, PIL or a COCO evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import BadConfig

TASK_NAMES = ("classification", "detection", "segmentation", "pose")
DEFAULT_TASK = "classification"


@dataclass(frozen=True)
class TaskSpec:
    name: str  # one of TASK_NAMES
    title: str  # "Object detection"
    primary_metric: str  # the metric the board ranks by
    metric_names: tuple[str, ...]  # every quality metric the task records, primary first
    builtin_dataset: str  # the dataset that runs the task offline


_SPECS = (
    TaskSpec("classification", "Image classification", "top1", ("top1", "top5"), "digits"),
    TaskSpec(
        "detection",
        "Object detection",
        "box_map",
        ("box_map", "box_ap50", "box_ap75", "box_ap_small", "box_ap_medium", "box_ap_large"),
        "synthetic-detection",
    ),
    TaskSpec(
        "segmentation",
        "Semantic segmentation",
        "miou",
        ("miou", "pixel_accuracy"),
        "synthetic-segmentation",
    ),
    TaskSpec("pose", "Pose estimation", "kp_ap", ("kp_ap", "kp_ap50", "kp_ap75"), "synthetic-pose"),
)


def _registry(specs: tuple[TaskSpec, ...]) -> dict[str, TaskSpec]:
    """Name -> spec; a duplicate name, a name outside TASK_NAMES or a primary metric not listed first fails
    at import time, so a bad edit never reaches a record."""
    out: dict[str, TaskSpec] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"task {spec.name!r} registered twice")
        if spec.name not in TASK_NAMES:
            raise ValueError(f"task {spec.name!r} is not in TASK_NAMES")
        if not spec.metric_names or spec.metric_names[0] != spec.primary_metric:
            raise ValueError(f"task {spec.name!r}: the primary metric must be listed first")
        out[spec.name] = spec
    if tuple(out) != TASK_NAMES:
        raise ValueError("every name in TASK_NAMES needs exactly one TaskSpec, in that order")
    return out


_TASKS = _registry(_SPECS)


class UnknownTask(BadConfig):
    """A task name outside :data:`TASK_NAMES` (a flag, a form field or a stored record)."""


def get_task(name: str) -> TaskSpec:
    """The spec of a task by name; anything else is a one-line :class:`UnknownTask` listing the choices."""
    spec = _TASKS.get(name) if isinstance(name, str) else None
    if spec is None:
        shown = repr(name)[:60]
        raise UnknownTask(f"unknown task {shown}; choose one of {', '.join(TASK_NAMES)}")
    return spec


def task_specs() -> tuple[TaskSpec, ...]:
    """Every task, in :data:`TASK_NAMES` order (classification first)."""
    return tuple(_TASKS.values())


__all__ = ["DEFAULT_TASK", "TASK_NAMES", "TaskSpec", "UnknownTask", "get_task", "task_specs"]
