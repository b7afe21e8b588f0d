"""The one registry of leaderboard row fields: every column of the wide frame, declared once.

Each :class:`Column` says what the field is (name, label with its unit, dtype, number format, help) and
which roles it plays; every list elsewhere is derived from here:

- :mod:`leaderboard.load` builds the frame with exactly :data:`WIDE_COLUMNS` and casts each by ``dtype``;
  ``load.record_rows`` computes every field except :data:`FRAME_LEVEL` ones (computed over all rows);
- :mod:`leaderboard.present`: table labels, :data:`COMPARE_FIELDS`, :data:`EXPORT_FIELDS`, details;
- :mod:`leaderboard.filters`: :data:`SEARCH_FIELDS`, :data:`CATEGORY_FILTER_FIELDS`, :data:`RANGE_FILTERS`
  and the URL keys of both;
- :mod:`leaderboard.report`: :data:`REPORT_FIELDS`;
- tasks: a Column with ``tasks`` belongs to those tasks only (a task's quality metrics); a view of one task
  shows, compares, exports and reports only its columns (:func:`for_task`), ranks and draws its Pareto
  front by the task's primary metric (:func:`primary_metric`, from ``harness.tasks``);
- the app: :data:`COLUMN_CHOICES` (column picker), :data:`SORT_CHOICES`, :data:`CATEGORY_FILTER_FIELDS`
  (one multiselect each, labelled by ``BY_NAME[name].label``) and :data:`RANGE_FILTERS` (field ->
  :class:`RangeFilter`: the FilterState attributes and URL keys of its min/max boxes).

Adding a metric = one Column here + the code computing it in ``load.record_rows`` (a test fails until
both exist). A new *filterable* column also needs its FilterState attributes (a test names them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from harness.tasks import DEFAULT_TASK as DEFAULT_TASK  # the board's default view
from harness.tasks import get_task, task_specs

DType = Literal["str", "int", "float", "bool", "markdown"]


@dataclass(frozen=True)
class Column:
    """One field of a leaderboard row and the roles it plays."""

    name: str  # the DataFrame column
    label: str  # header shown to people, with the unit
    dtype: DType
    help: str
    fmt: str = ""  # Python format spec for numbers, e.g. ".2f"
    unit: str = ""  # ms, MiB, M, img/s, %, GMACs ("" for none)
    default: bool = False  # visible without the user picking it
    pinned: bool = False  # always shown, first
    internal: bool = False  # in the frame for the code (links, ids), never a table column
    filter: Literal["category", "range"] | None = None
    url_key: str = ""  # category: the URL key; range: the prefix of "<prefix>min"/"<prefix>max"
    range_attr: str = ""  # range: FilterState has "<range_attr>_min"/"<range_attr>_max"
    search: bool = False  # free-text search looks in it
    compare: bool = False  # a line of the Compare table
    export: bool = True  # a column of CSV/Parquet exports
    report: bool = False  # a column of the Markdown report's tables
    marks: tuple[str, str] = ("yes", "no")  # bool: text for True / False
    tasks: tuple[str, ...] = ()  # the tasks this field belongs to (a quality metric); () = every task

    def in_task(self, task: str | None) -> bool:
        """Shown in a view of ``task`` (None: a view across tasks shows every field)."""
        return task is None or not self.tasks or task in self.tasks

    @property
    def numeric(self) -> bool:
        return self.dtype in ("int", "float")

    @property
    def sortable(self) -> bool:
        return not self.internal and self.name != "reproduce"


@dataclass(frozen=True)
class RangeFilter:
    """A min/max filter on a numeric field: the FilterState attributes and URL keys of its two bounds."""

    field: str
    label: str
    word: str  # what the note calls a row missing this value ("without params kept")
    min_attr: str
    max_attr: str
    min_key: str
    max_key: str


CLASSIFICATION = ("classification",)


def _metric(name: str, label: str, help_: str, *, default: bool, tasks: tuple[str, ...]) -> Column:
    """A task quality metric in percent, measured on the task's dataset (empty for random weights)."""
    return Column(
        name,
        label,
        "float",
        f"{help_}; empty for random weights or without a dataset.",
        ".2f",
        "%",
        default=default,
        compare=True,
        report=default,
        tasks=tasks,
    )


FIELDS: tuple[Column, ...] = (
    Column(
        "rank",
        "#",
        "int",
        "Rank within the task by its primary metric (top-1, box mAP, mIoU or keypoint AP), then lower p50 "
        "latency.",
        "d",
        default=True,
    ),
    Column(
        "model",
        "Model",
        "markdown",
        "Model id; links to its Hub page or timm's models.",
        default=True,
        pinned=True,
        search=True,
        report=True,
    ),
    Column("model_url", "Model page", "str", "Link built from a validated model id.", internal=True),
    Column("source", "Source", "str", "timm (random weights), hf-hub or local-dir.", search=True),
    Column("revision", "Revision", "str", "Commit sha (Hub) or weights hash.", search=True, compare=True),
    Column("architecture", "Architecture", "str", "timm architecture name.", search=True),
    Column("task", "Task", "str", "classification, detection, segmentation or pose.", compare=True),
    Column(
        "family",
        "Family",
        "str",
        "Architecture family derived from the arch name.",
        default=True,
        filter="category",
        url_key="family",
        search=True,
    ),
    Column(
        "backend",
        "Backend",
        "str",
        "Inference runtime: pytorch or onnxruntime.",
        default=True,
        filter="category",
        url_key="backend",
        search=True,
        report=True,
    ),
    Column(
        "device",
        "Device",
        "str",
        "cpu or cuda.",
        filter="category",
        url_key="device",
        report=True,
    ),
    Column(
        "precision",
        "Precision",
        "str",
        "fp32, fp16 or int8 (quantized).",
        default=True,
        filter="category",
        url_key="precision",
        report=True,
    ),
    Column(
        "top1",
        "Top-1 %",
        "float",
        "Measured top-1 accuracy; empty for random weights.",
        ".2f",
        "%",
        default=True,
        compare=True,
        report=True,
        tasks=CLASSIFICATION,
    ),
    Column(
        "top5",
        "Top-5 %",
        "float",
        "Measured top-5 accuracy; empty for random weights.",
        ".2f",
        "%",
        compare=True,
        tasks=CLASSIFICATION,
    ),
    *(
        _metric(name, label, help_, default=primary, tasks=(task,))
        for task, name, label, help_, primary in (
            ("detection", "box_map", "Box mAP %", "COCO box mAP@[.5:.95], the detection rank metric", True),
            ("detection", "box_ap50", "AP50 %", "COCO box AP at IoU 0.5", False),
            ("detection", "box_ap75", "AP75 %", "COCO box AP at IoU 0.75", False),
            ("detection", "box_ap_small", "AP small %", "COCO box AP of small objects, area < 32² px", False),
            ("detection", "box_ap_medium", "AP medium %", "COCO box AP of medium objects", False),
            ("detection", "box_ap_large", "AP large %", "COCO box AP of large objects, area > 96² px", False),
            ("segmentation", "miou", "mIoU %", "Mean IoU over classes, the segmentation rank metric", True),
            (
                "segmentation",
                "pixel_accuracy",
                "Pixel acc %",
                "Share of labelled pixels classified right",
                False,  # in the picker: one metric column by default keeps every task's table unclipped
            ),
            ("pose", "kp_ap", "Keypoint AP %", "COCO OKS keypoint AP@[.5:.95], the pose rank metric", True),
            ("pose", "kp_ap50", "Keypoint AP50 %", "COCO OKS keypoint AP at OKS 0.5", False),
            ("pose", "kp_ap75", "Keypoint AP75 %", "COCO OKS keypoint AP at OKS 0.75", False),
        )
    ),
    Column(
        "reported_top1",
        "Reported top-1 (timm)",
        "float",
        "timm's published ImageNet top-1 for the arch's default pretrained weights; NOT measured here.",
        ".2f",
        "%",
        compare=True,
        tasks=CLASSIFICATION,
    ),
    Column(
        "latency_p50_ms",
        "p50 ms (bs1)",
        "float",
        "Median latency at batch size 1.",
        ".2f",
        "ms",
        default=True,
        filter="range",
        url_key="l",
        range_attr="latency",
        compare=True,
        report=True,
    ),
    Column(
        "latency_p95_ms",
        "p95 ms (bs1)",
        "float",
        "95th percentile latency at batch size 1.",
        ".2f",
        "ms",
        compare=True,
        report=True,
    ),
    Column(
        "latency_p99_ms",
        "p99 ms (bs1)",
        "float",
        "99th percentile latency at batch size 1.",
        ".2f",
        "ms",
        compare=True,
    ),
    Column(
        "latency_cv",
        "Latency CV (bs1)",
        "float",
        "Coefficient of variation (std / mean) of the batch-1 timed samples: how steady the timing was.",
        ".1%",
        compare=True,
    ),
    Column(
        "page_faults_per_pass",
        "Page faults / pass",
        "float",
        "Minor page faults per timed pass, the most of the row's batch sizes: pages the kernel mapped and "
        "zeroed because freed buffers went back to it. Near 0 when the allocator keeps them (About tab); "
        "thousands mean the latency includes that work. Empty for records measured before it was counted.",
        ".0f",
        compare=True,
    ),
    Column(
        "noisy",
        "Noisy",
        "bool",
        "⚠ when a run of this row was measured under noise (spread or machine load over the thresholds "
        "on the About tab); — when the record predates noise checks.",
        default=True,
        compare=True,
        report=True,
        marks=("⚠ noisy", "ok"),
    ),
    Column("noise_reasons", "Noise reasons", "str", "Why a run was marked noisy.", compare=True),
    Column(
        "throughput_ips",
        "Best img/s",
        "float",
        "Best throughput over the batch sizes run.",
        ".1f",
        "img/s",
        default=True,
        compare=True,
        report=True,
    ),
    Column("best_batch_size", "Best bs", "int", "Batch size of the best throughput.", "d", compare=True),
    Column(
        "flavor", "Flavor", "str", "Hardware flavor it ran on (Hugging Face Jobs, or local).", compare=True
    ),
    Column(
        "usd_per_hour",
        "$/hour",
        "float",
        "Unit cost of the flavor, USD per hour.",
        ".3f",
        "$/h",
        compare=True,
    ),
    Column(
        "cost_per_million_images",
        "$ / 1M img",
        "float",
        "USD to classify a million images at the best batch size: $/hour / (img/s x 3600) x 1e6.",
        ".3f",
        "$",
        default=True,
        compare=True,
        report=True,
    ),
    Column(
        "images_per_dollar",
        "Img per $",
        "float",
        "Images classified per USD at the best batch size: img/s x 3600 / ($/hour).",
        ",.0f",
        "img/$",
        compare=True,
    ),
    Column(
        "peak_mem_mb",
        "Peak MiB",
        "float",
        "Peak memory: process RSS (cpu); on cuda the GPU allocator, else NVML's figure for the process.",
        ".0f",
        "MiB",
        default=True,
        compare=True,
    ),
    Column(
        "cold_start_ms",
        "Cold start ms",
        "float",
        "Process start to first answer of a fresh process: imports, model load, engine build (compile, "
        "convert, session) and the first one-image inference, measured from the process's spawn.",
        ".0f",
        "ms",
        compare=True,
    ),
    Column(
        "cold_start_phases",
        "Cold start phases",
        "str",
        "The cold start's separate figures in ms: imports, model load, prepare (engine build), first "
        "inference (— where the process has no such phase).",
        compare=True,
    ),
    Column(
        "energy_j_per_image",
        "Energy J/img",
        "float",
        "Joules per image at the best batch size, from a hardware counter over the timed loop (NVML on "
        "GPUs, RAPL package on CPUs); empty where none is readable, never estimated.",
        ".4g",
        "J",
        compare=True,
    ),
    Column(
        "energy_note",
        "Energy note",
        "str",
        "What the energy counter covers, or why there is none.",
        compare=True,
    ),
    Column(
        "gpu_util_pct",
        "GPU util %",
        "float",
        "Mean GPU utilisation (NVML) while the best batch size was timed; cuda runs only.",
        ".0f",
        "%",
        compare=True,
    ),
    Column(
        "size_mb",
        "Size MiB",
        "float",
        "MiB on disk of what the backend ran: the weight files (PyTorch) or the ONNX file, quantized for int8 "
        "(ONNX Runtime).",
        ".1f",
        "MiB",
        default=True,
        compare=True,
        report=True,
    ),
    Column(
        "params_m",
        "Params (M)",
        "float",
        "Parameters in millions.",
        ".2f",
        "M",
        default=True,
        filter="range",
        url_key="p",
        range_attr="params",
        compare=True,
    ),
    Column(
        "gmacs",
        "GMACs",
        "float",
        "Multiply-accumulates per image (billions).",
        ".2f",
        "GMACs",
        compare=True,
    ),
    Column(
        "int8_top1_delta",
        "INT8 Δtop-1 %",
        "float",
        "INT8 top-1 minus FP32 top-1, same backend.",
        "+.2f",
        "%",
        compare=True,
        report=True,
        tasks=CLASSIFICATION,
    ),
    Column(
        "int8_speedup",
        "INT8 speed-up ×",
        "float",
        "FP32 p50 / INT8 p50 at batch 1, same backend.",
        ".2f",
        compare=True,
    ),
    Column(
        "hardware_profile",
        "Hardware",
        "str",
        "Machine class the numbers were measured on.",
        default=True,
        filter="category",
        url_key="hw",
        search=True,
        compare=True,
    ),
    Column(
        "resolution",
        "Input",
        "str",
        "Input resolution the model was timed at (channels x height x width).",
        compare=True,
    ),
    Column("dataset", "Dataset", "str", "Evaluation data set and sample count."),
    Column("created_at", "Measured at", "str", "When the evaluation finished (UTC).", compare=True),
    Column("key", "Result key", "str", "Hash of (model, revision, config, hardware profile)."),
    Column("reproduce", "Reproduce", "str", "The harness command that measures this row again."),
    Column(
        "row_id", "Row id", "str", "Record key / backend / device / precision.", internal=True, export=False
    ),
)

# Fields computed over the whole frame in ``load.build_frames`` (not per record).
FRAME_LEVEL: tuple[str, ...] = ("rank", "reported_top1")

BY_NAME: dict[str, Column] = {c.name: c for c in FIELDS}
WIDE_COLUMNS: tuple[str, ...] = tuple(c.name for c in FIELDS)
COLUMNS: tuple[Column, ...] = tuple(c for c in FIELDS if not c.internal)  # what a table can show
PINNED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.pinned)
DEFAULT_VISIBLE: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.default)
SORTABLE: tuple[str, ...] = tuple(c.name for c in FIELDS if c.sortable)
SEARCH_FIELDS: tuple[str, ...] = tuple(c.name for c in FIELDS if c.search)
CATEGORY_FILTER_FIELDS: tuple[str, ...] = tuple(c.name for c in FIELDS if c.filter == "category")
CATEGORY_URL_KEYS: dict[str, str] = {c.name: c.url_key for c in FIELDS if c.filter == "category"}
RANGE_FILTERS: dict[str, RangeFilter] = {
    c.name: RangeFilter(
        c.name,
        c.label,
        c.range_attr,
        f"{c.range_attr}_min",
        f"{c.range_attr}_max",
        f"{c.url_key}min",
        f"{c.url_key}max",
    )
    for c in FIELDS
    if c.filter == "range"
}
COMPARE_FIELDS: tuple[str, ...] = tuple(c.name for c in FIELDS if c.compare)
EXPORT_FIELDS: tuple[str, ...] = tuple(c.name for c in FIELDS if c.export)
REPORT_FIELDS: tuple[str, ...] = tuple(c.name for c in FIELDS if c.report)
TASK_TITLES: dict[str, str] = {t.name: t.title for t in task_specs()}
TASK_CHOICES: list[tuple[str, str]] = [(t.title, t.name) for t in task_specs()]

# (picker label, name); a task's own metrics say which task they belong to
COLUMN_CHOICES: list[tuple[str, str]] = [
    (f"{c.label} ({', '.join(c.tasks)})" if c.tasks else c.label, c.name) for c in COLUMNS if not c.pinned
]
SORT_CHOICES: list[tuple[str, str]] = [(c.label, c.name) for c in COLUMNS if c.sortable]


def column(name: str) -> Column:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown column {name!r}") from None


def primary_metric(task: str) -> str:
    """The field a task is ranked by and its Pareto front drawn with (top1, box_map, miou, kp_ap)."""
    return get_task(task).primary_metric


def metric_fields(task: str | None = None) -> tuple[str, ...]:
    """The quality-metric fields of ``task`` (every task's when None), primary first per task."""
    specs = task_specs() if task is None else (get_task(task),)
    return tuple(m for s in specs for m in s.metric_names if m in BY_NAME)


def for_task(names: tuple[str, ...] | list[str], task: str | None) -> tuple[str, ...]:
    """The fields of ``names`` that a view of ``task`` has (None: all of them)."""
    return tuple(n for n in names if BY_NAME[n].in_task(task))


def visible_columns(picked: list[str] | tuple[str, ...] | None, task: str | None = None) -> list[str]:
    """Picked columns of ``task`` in registry order; pinned columns always present; unknown names are
    ignored."""
    wanted = set(DEFAULT_VISIBLE if picked is None else picked) | set(PINNED)
    return [c.name for c in COLUMNS if c.name in wanted and c.in_task(task)]


def frozen_count(visible: list[str]) -> int:
    """How many leading columns to freeze so the pinned ones stay in view when scrolling sideways."""
    last = max((i for i, n in enumerate(visible) if n in PINNED), default=-1)
    return last + 1


def label_to_name() -> dict[str, str]:
    return {c.label: c.name for c in COLUMNS}


def format_value(name: str, value: object) -> str:
    """Human text of one cell (table, details, compare, report); missing -> '—'. Not escaped: callers
    escape for their output format (see :mod:`leaderboard.markup`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    col = column(name)
    if col.dtype == "bool":
        return col.marks[0] if value else col.marks[1]
    if col.numeric and col.fmt and isinstance(value, (int, float)):
        try:
            return format(value, col.fmt)
        except (TypeError, ValueError):
            return str(value)
    return str(value)
