"""The Queue tab: every entry, its position, progress and failure reason, and (Hugging Face Jobs) every
per-flavor job with its stage or why it waits, elapsed time, estimated cost and logs link; on a timer
that runs only while the tab is open."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

import settings
from eval_queue import entries
from eval_queue.view import jobs_frame, queue_frame, queue_summary
from leaderboard.markup import escape_markdown, markdown_link
from ui.state import AppState, current, refresh_seconds


def queue_view(st: AppState) -> tuple[pd.DataFrame, str]:
    """(table, summary line) of the whole queue; unreadable entries are skipped (Review lists them)."""
    frame, _ = queue_and_jobs(st)
    return frame, f"{queue_summary(frame)}  (updated {time.strftime('%H:%M:%S')})"


def queue_and_jobs(st: AppState) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The entries table and the jobs table (Markdown cells: text escaped, logs as a link)."""
    listed = entries.list_entries(st.stores.queue)
    jobs = jobs_frame(listed)
    for col in jobs.columns:
        if col == "Logs":
            jobs[col] = [markdown_link("logs", u) if u else "" for u in jobs[col]]
        else:
            jobs[col] = [escape_markdown(v) for v in jobs[col]]
    return queue_frame(listed), jobs


@dataclass
class QueueTab:
    summary: gr.Markdown
    table: gr.Dataframe
    jobs: gr.Dataframe
    button: gr.Button
    timer: gr.Timer

    LABEL = "Queue"

    @classmethod
    def build(cls) -> QueueTab:
        with gr.Tab(cls.LABEL, id="queue"):
            summary = gr.Markdown(elem_id="q-summary")
            table = gr.Dataframe(interactive=False, elem_id="q-table", wrap=False, max_height=600)
            jobs = gr.Dataframe(
                interactive=False, elem_id="q-jobs", wrap=False, max_height=400, datatype="markdown",
                label="Hugging Face Jobs (one per flavor; cost = unit cost x elapsed)",
            )  # fmt: skip
            button = gr.Button("Refresh", size="sm", elem_id="q-refresh")
            # polls only while this tab is open (on_tab): a visitor on another tab costs no request
            timer = gr.Timer(refresh_seconds(settings.get("LEADERBOARD_QUEUE_REFRESH_S"), 5.0), active=False)
        return cls(summary, table, jobs, button, timer)

    def on_refresh(self) -> dict:
        st = current()
        frame, jobs = queue_and_jobs(st)
        summary = f"{queue_summary(frame)}  (updated {time.strftime('%H:%M:%S')})"
        return {
            self.table: frame,
            self.jobs: gr.update(value=jobs, visible=not jobs.empty),
            self.summary: summary,
        }

    def on_tab(self, evt: gr.SelectData) -> dict:
        """A tab was selected: the Queue tab is drawn and its timer started; any other stops the timer."""
        if evt.value != self.LABEL:
            return {self.timer: gr.Timer(active=False)}
        return {**self.on_refresh(), self.timer: gr.Timer(active=True)}

    def wire(self, tabs: gr.Tabs) -> None:
        outputs = [self.table, self.jobs, self.summary]
        private: dict = {"show_progress": "hidden", "api_visibility": "private"}
        gr.on([self.button.click, self.timer.tick], self.on_refresh, outputs=outputs, **private)
        tabs.select(self.on_tab, outputs=[*outputs, self.timer], **private)
