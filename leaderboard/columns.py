"""The one column registry of the leaderboard table: name, label, type, format, default visibility, help.

Everything that shows, formats, sorts or exports a column reads it from here, so a column is added in one
place. ``name`` is the DataFrame column produced by :mod:`leaderboard.load`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    dtype: str  # "str" | "int" | "float" | "markdown"
    fmt: str = ""  # Python format spec for numbers, e.g. ".2f"
    default: bool = False  # visible without the user picking it
    help: str = ""
    pinned: bool = False  # always shown, first

    @property
    def numeric(self) -> bool:
        return self.dtype in ("int", "float")


COLUMNS: tuple[Column, ...] = (
    Column("rank", "#", "int", "d", True, "Rank by measured top-1 (then lower p50 latency)."),
    Column("model", "Model", "markdown", "", True, "Model id; links to its Hub page or timm's models.", True),
    Column("source", "Source", "str", "", False, "timm (random weights), hf-hub or local-dir."),
    Column("revision", "Revision", "str", "", False, "Commit sha (Hub) or weights hash (local-dir)."),
    Column("architecture", "Architecture", "str", "", False, "timm architecture name."),
    Column("family", "Family", "str", "", True, "Architecture family derived from the arch name."),
    Column("task", "Task", "str", "", False, "What the model does."),
    Column("backend", "Backend", "str", "", True, "Inference runtime: pytorch or onnxruntime."),
    Column("device", "Device", "str", "", True, "cpu or cuda."),
    Column("precision", "Precision", "str", "", True, "fp32, fp16 or int8 (dynamic quantization)."),
    Column("top1", "Top-1 %", "float", ".2f", True, "Measured top-1 accuracy; empty for random weights."),
    Column("top5", "Top-5 %", "float", ".2f", False, "Measured top-5 accuracy; empty for random weights."),
    Column(
        "reported_top1",
        "Reported top-1 (timm)",
        "float",
        ".2f",
        True,
        "timm's published ImageNet top-1 for the arch's default pretrained weights; NOT measured here.",
    ),
    Column("latency_p50_ms", "p50 ms (bs1)", "float", ".2f", True, "Median latency at batch size 1."),
    Column(
        "latency_p95_ms", "p95 ms (bs1)", "float", ".2f", True, "95th percentile latency at batch size 1."
    ),
    Column(
        "latency_p99_ms", "p99 ms (bs1)", "float", ".2f", False, "99th percentile latency at batch size 1."
    ),
    Column("throughput_ips", "Best img/s", "float", ".1f", True, "Best throughput over the batch sizes run."),
    Column("best_batch_size", "Best bs", "int", "d", False, "Batch size of the best throughput."),
    Column("peak_mem_mb", "Peak MB", "float", ".0f", True, "Peak memory: process RSS (cpu) or GPU (cuda)."),
    Column(
        "size_mb",
        "Size MB",
        "float",
        ".1f",
        True,
        "MiB on disk of what the backend ran: the weight files (PyTorch) or the ONNX file, quantized for int8 (ONNX Runtime).",
    ),
    Column("params_m", "Params (M)", "float", ".2f", True, "Parameters in millions."),
    Column("gmacs", "GMACs", "float", ".2f", True, "Multiply-accumulates per image (billions)."),
    Column(
        "int8_top1_delta", "INT8 Δtop-1", "float", "+.2f", False, "INT8 top-1 minus FP32 top-1, same backend."
    ),
    Column(
        "int8_speedup",
        "INT8 speed-up",
        "float",
        ".2f",
        False,
        "FP32 p50 / INT8 p50 at batch 1, same backend.",
    ),
    Column("hardware_profile", "Hardware", "str", "", True, "Machine class the numbers were measured on."),
    Column("dataset", "Dataset", "str", "", False, "Evaluation data set and sample count."),
    Column("created_at", "Measured at", "str", "", False, "When the evaluation finished (UTC)."),
    Column("key", "Result key", "str", "", False, "Hash of (model, revision, config, hardware profile)."),
    Column("reproduce", "Reproduce", "str", "", False, "The harness command that measures this row again."),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
PINNED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.pinned)
DEFAULT_VISIBLE: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.default)
NUMERIC: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.numeric)


def column(name: str) -> Column:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown column {name!r}") from None


def visible_columns(picked: list[str] | tuple[str, ...] | None) -> list[str]:
    """Picked columns in registry order; pinned columns always present; unknown names are ignored."""
    wanted = set(DEFAULT_VISIBLE if picked is None else picked) | set(PINNED)
    return [c.name for c in COLUMNS if c.name in wanted]


def frozen_count(visible: list[str]) -> int:
    """How many leading columns to freeze so the pinned ones stay in view when scrolling sideways."""
    last = max((i for i, n in enumerate(visible) if n in PINNED), default=-1)
    return last + 1


def label_to_name() -> dict[str, str]:
    return {c.label: c.name for c in COLUMNS}


def gradio_datatype(name: str) -> str:
    """Gradio Dataframe datatype of a column: numbers stay numbers so the browser sorts them right."""
    col = column(name)
    if col.dtype == "markdown":
        return "markdown"
    return "number" if col.numeric else "str"


def format_value(name: str, value) -> str:
    """Human text of one cell (used in details and exports of formatted views); missing -> '—'."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    col = column(name)
    if col.numeric and col.fmt:
        try:
            return format(value, col.fmt)
        except (TypeError, ValueError):
            return str(value)
    return str(value)
