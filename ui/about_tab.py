"""The About tab: how every number is measured (ui/static/about.md) and when a row counts as noisy."""

from __future__ import annotations

import gradio as gr

from harness import noise
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


def about_markdown() -> str:
    """The About page; the timing and noise rules come from the harness so the page states those in force."""
    return (
        f"{resources.text('about.md')}\n## When timing stops\n{stopping_rule()}\n"
        f"\n## Noisy measurements\n{noise.describe_rule()}\n\n{resources.text('api.md')}"
    )


def build() -> None:
    with gr.Tab("About", id="about"):
        gr.Markdown(about_markdown(), elem_id="about")
