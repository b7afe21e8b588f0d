"""The About tab: how every number is measured (ui/static/about.md) and when a row counts as noisy."""

from __future__ import annotations

import gradio as gr

from harness import noise
from ui import resources


def about_markdown() -> str:
    """The About page; the noise rule comes from the harness so the page states the thresholds in force."""
    return f"{resources.text('about.md')}\n## Noisy measurements\n{noise.describe_rule()}\n"


def build() -> None:
    with gr.Tab("About", id="about"):
        gr.Markdown(about_markdown(), elem_id="about")
