"""Text the UI ships as files (About page, CSS, small browser-side scripts), so prose and styling are
edited as Markdown/CSS/JS rather than as Python strings."""

from __future__ import annotations

from functools import cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


@cache
def text(name: str) -> str:
    """The content of ``ui/static/NAME`` (read once)."""
    return (STATIC / name).read_text(encoding="utf-8")
