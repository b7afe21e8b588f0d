"""The Queue tab: every entry, its position, progress and failure reason, refreshed on a timer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

import settings
from eval_queue import entries
from eval_queue.view import queue_frame, queue_summary
from ui.state import AppState, current, refresh_seconds


def queue_view(st: AppState) -> tuple[pd.DataFrame, str]:
    """(table, summary line) of the whole queue; unreadable entries are skipped (Review lists them)."""
    frame = queue_frame(entries.list_entries(st.stores.queue))
    return frame, f"{queue_summary(frame)}  (updated {time.strftime('%H:%M:%S')})"


@dataclass
class QueueTab:
    summary: gr.Markdown
    table: gr.Dataframe
    button: gr.Button
    timer: gr.Timer

    @classmethod
    def build(cls) -> QueueTab:
        with gr.Tab("Queue", id="queue"):
            summary = gr.Markdown(elem_id="q-summary")
            table = gr.Dataframe(interactive=False, elem_id="q-table", wrap=False, max_height=600)
            button = gr.Button("Refresh", size="sm", elem_id="q-refresh")
            timer = gr.Timer(refresh_seconds(settings.get("LEADERBOARD_QUEUE_REFRESH_S"), 5.0))
        return cls(summary, table, button, timer)

    def on_refresh(self) -> dict:
        frame, summary = queue_view(current())
        return {self.table: frame, self.summary: summary}

    def wire(self, demo: gr.Blocks) -> None:
        gr.on(
            [self.button.click, self.timer.tick, demo.load],
            self.on_refresh,
            outputs=[self.table, self.summary],
            show_progress="hidden",
        )
