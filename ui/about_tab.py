"""The About tab: how every number is measured (ui/static/about.md) and when a row counts as noisy."""

from __future__ import annotations

import gradio as gr

from harness import noise
from leaderboard import columns as C
from leaderboard.report import ranking_line
from ui import resources


def stopping_rule() -> str:
    """The harness's own sentence on when timing stops, when this harness has one (read at call time,
    so the page states the rule in force); else the older fixed rule."""
    try:
        from harness import timing

        return timing.describe_stopping_rule()
    except (ImportError, AttributeError):
        return FIXED_RULE


FIXED_RULE = (
    "Timed iterations run until both the minimum duration (1 s by default) and 100 iterations are reached."
)


def tasks_markdown() -> str:
    """How each task is ranked and what its metrics mean, from the task and column registries (so the
    page says what the board does)."""
    lines = [
        "## Tasks and how each is ranked",
        "The board shows one task at a time (the selector above the table, `task=` in the URL, `/query` "
        "and `python -m leaderboard report --filter task=...`); each task has its own quality columns, rank "
        "and Pareto front (primary metric vs p50 latency, per hardware profile). Records made before tasks "
        "existed are classification. Random-weight models (a bare timm or torchvision architecture) are "
        "measured for efficiency only: their quality cells are empty.",
        "",
    ]
    for task in C.TASK_TITLES:
        metrics = ", ".join(
            f"**{C.BY_NAME[m].label}** ({C.BY_NAME[m].help.split(';')[0]})" for m in C.metric_fields(task)
        )
        lines.append(f"- {ranking_line(task)} Metrics: {metrics}.")
    lines.append(
        "\nDetection and pose AP come from the COCO evaluator (faster-coco-eval / pycocotools) on boxes and "
        "keypoints in the original image's pixels; mIoU and pixel accuracy from one confusion matrix over "
        "the whole set (the ignore index left out). Latency and FPS include the model's post-processing "
        "(NMS, upsampling) at the recorded input resolution (the *Input* column)."
    )
    return "\n".join(lines)


def runtimes_markdown() -> str:
    """The runtimes the harness can measure, from the backend registry (a new backend appears here by
    registering, like in the CLI and the submit form)."""
    from harness.backends import backend_specs

    lines = [
        "## Runtimes",
        "Each (runtime, precision) is measured in its own process by the same timing loop; a combination "
        "a machine cannot run is recorded as *unsupported* with the reason.",
        "",
    ]
    for spec in backend_specs():
        lines.append(
            f"- **{spec.name}** ({', '.join(spec.devices)}; {', '.join(spec.precisions)}): {spec.summary}"
        )
    return "\n".join(lines)


def about_markdown() -> str:
    """The About page; the timing and noise rules come from the harness so the page states those in force."""
    return (
        f"{resources.text('about.md')}\n{tasks_markdown()}\n\n{runtimes_markdown()}\n\n## When timing stops\n{stopping_rule()}\n"
        f"\n## Noisy measurements\n{noise.describe_rule()}\n\n{resources.text('api.md')}"
    )


def build() -> None:
    with gr.Tab("About", id="about"):
        gr.Markdown(about_markdown(), elem_id="about")
