"""Assemble the tabs into one Gradio Blocks and connect the few events that cross tabs."""

from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr

import settings
from leaderboard.filters import URL_KEYS
from ui import about_tab, api, resources
from ui.compare_tab import CompareTab
from ui.leaderboard_tab import LeaderboardTab
from ui.page_config import LiveConfigBlocks
from ui.queue_tab import QueueTab
from ui.review_tab import ReviewTab
from ui.submit_tab import SubmitTab

TITLE = "Vision Model Leaderboard"
INTRO = (
    "# Vision Model Leaderboard\n"
    "Accuracy, latency, throughput, memory and size per backend, precision and hardware, measured by one "
    "harness. Click a row for its details and the command that reproduces it."
)


@dataclass
class UI:
    """The Blocks and its tabs (tests call the tabs' handlers and read their outputs by component)."""

    demo: gr.Blocks
    board: LeaderboardTab
    compare: CompareTab
    submit: SubmitTab
    queue: QueueTab
    review: ReviewTab


def build_ui() -> UI:
    """The whole UI; handlers look the app state up at call time (ui.state.current). The page config
    carries the leaderboard's default view of the current data (LeaderboardTab.first_page)."""
    with LiveConfigBlocks(title=TITLE) as demo:
        gr.Markdown(INTRO, elem_id="intro")
        if settings.on_space():
            gr.LoginButton()
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # a phone shows every tab, never a "..." menu
            with gr.Tab("Leaderboard", id="leaderboard"):
                board = LeaderboardTab.build()
            compare = CompareTab.build()
            submit = SubmitTab.build()
            queue = QueueTab.build()
            review = ReviewTab.build()
            about_tab.build()
        board.wire(demo)
        compare.wire(board.controls)
        submit.wire()
        queue.wire(tabs)
        review.wire()
        api.register()  # /query and /record for programs (see the About tab)
    demo.initial_values_from(board.first_page)
    return UI(demo, board, compare, submit, queue, review)


def page_head() -> str:
    """HTML for the page's head: a page whose URL names a view (a shared link) hides the table, which
    its config fills with the default view, until the load event has drawn the linked one."""
    keys = json.dumps(sorted({*URL_KEYS.values(), "page"}))
    return f"<script>({resources.text('pending_view.js').strip()})({keys});</script>"


def build_demo() -> gr.Blocks:
    return build_ui().demo
