"""The Review tab: maintainers approve or reject PENDING_REVIEW submissions and see every data problem.

Who is a maintainer is ``eval_queue.auth``'s decision, asked again on every action (never cached in the
browser): the admin token locally, HF OAuth and the maintainer lists on a Space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

import settings
from eval_queue import auth, entries
from eval_queue.entry import PENDING_REVIEW, QueueError
from leaderboard.markup import escape_markdown, plain_text
from store import StoreError
from ui.state import AppState, current


def _get(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


def pending_choices(st: AppState) -> list[tuple[str, str]]:
    """(label, entry id) of every submission waiting for review, oldest first."""
    return [
        (
            plain_text(
                f"{_get(e, 'model')} @ {(_get(e, 'revision') or '—')[:12]} by {_get(e, 'submitted_by')} ({_get(e, 'id')})"
            ),
            _get(e, "id"),
        )
        for e in entries.list_entries(st.stores.queue, status=PENDING_REVIEW)
    ]


def _setting_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "—"
    return "—" if value is None or value == "" else str(value)


def entry_markdown(st: AppState, entry_id: str | None) -> str:
    """Everything a reviewer decides on: the model, who submitted it when, and every benchmark setting
    (two entries of one model differ only there). Every value is escaped."""
    if not entry_id:
        return ""
    try:
        e = entries.get_entry(st.stores.queue, entry_id)
    except (QueueError, StoreError, ValueError) as exc:
        return f"**Cannot show {escape_markdown(entry_id)}:** {escape_markdown(exc)}"
    rows = [
        ("Model", e.model),
        ("Source", e.source),
        ("Revision", e.revision or "—"),
        ("Params", f"{e.params:,}" if isinstance(e.params, int) else "—"),
        ("Submitted by", e.submitted_by),
        ("Submitted at", e.submitted_at),
        ("Status", e.status),
    ]
    config = e.config if isinstance(e.config, dict) else {}
    rows += [(f"config: {k}", _setting_text(v)) for k, v in sorted(config.items())]
    lines = [f"#### {escape_markdown(e.id)}", "", "| field | value |", "|---|---|"]
    lines += [f"| {escape_markdown(k)} | {escape_markdown(_setting_text(v))} |" for k, v in rows]
    return "\n".join(lines)


def problems_markdown(problems: list[str]) -> str:
    """Every skipped file with its reason, as code spans (a reason is never rendered as markup)."""
    if not problems:
        return "No data problems found."
    lines = ["- `" + " ".join(p.split()).replace("`", "'") + "`" for p in problems]
    return "**Problems found while reading the data:**\n" + "\n".join(lines)


def act(st: AppState, action: str, entry_id: str | None, reason: str | None, who: str | None) -> str:
    """Approve or reject one entry as ``who`` (None: refused); every refusal is one line."""
    if who is None:
        return "**Refused:** maintainers only."
    if not entry_id:
        return "Pick a submission first."
    try:
        if action == "approve":
            e = entries.approve(st.stores.queue, entry_id, by=who)
        else:
            why = (reason or "").strip()
            if not why:
                return "**Refused:** a rejection needs a reason (it is shown to the submitter)."
            e = entries.reject(st.stores.queue, entry_id, by=who, reason=why)
    except (QueueError, StoreError) as exc:  # not found, wrong state, lost race: shown as it is
        return f"**Refused:** {escape_markdown(exc)}"
    done = f"{_get(e, 'id')} is now {_get(e, 'status')} (by {who})."
    return f"**Done:** {escape_markdown(done)}"


@dataclass
class ReviewTab:
    token: gr.Textbox
    load: gr.Button
    who: gr.Markdown
    pick: gr.Dropdown
    entry: gr.Markdown
    reason: gr.Textbox
    approve: gr.Button
    reject: gr.Button
    out: gr.Markdown
    problems: gr.Markdown

    @classmethod
    def build(cls) -> ReviewTab:
        with gr.Tab("Review", id="review"):
            gr.Markdown(
                "Maintainers approve or reject submissions. Your identity is checked on every action."
            )
            token = gr.Textbox(
                label="Admin token", type="password", visible=not settings.on_space(), elem_id="rev-token"
            )
            load = gr.Button("Show pending submissions", elem_id="rev-load")
            who = gr.Markdown(elem_id="rev-who")
            pick = gr.Dropdown(label="Submission", choices=[], elem_id="rev-pick")
            entry = gr.Markdown(elem_id="rev-entry")
            reason = gr.Textbox(label="Reason (required to reject)", elem_id="rev-reason")
            with gr.Row():
                # off until the server has identified a maintainer (on_list); checked again on each click
                approve = gr.Button("Approve", variant="primary", elem_id="rev-approve", interactive=False)
                reject = gr.Button("Reject", variant="stop", elem_id="rev-reject", interactive=False)
            out = gr.Markdown(elem_id="rev-out")
            problems = gr.Markdown(elem_id="rev-problems")
        return cls(token, load, who, pick, entry, reason, approve, reject, out, problems)

    def on_list(self, token: str | None, profile: gr.OAuthProfile | None) -> dict:
        """Identify the caller, list what waits for review and enable the actions only for a maintainer.
        Signing in (or out) clears the last action's message, which was about the previous identity."""
        who = auth.maintainer_name(profile, token)
        if who is None:
            how = (
                "sign in with an account on the maintainers list."
                if settings.on_space()
                else "enter the admin token (a local board prints it at its first start)."
            )
            return {
                self.pick: gr.Dropdown(choices=[], value=None),
                self.who: f"**Maintainers only:** {how}",
                self.entry: "",
                self.problems: "",
                self.approve: gr.Button(interactive=False),
                self.reject: gr.Button(interactive=False),
            }
        st = current()
        opts = pending_choices(st)
        first = opts[0][1] if opts else None
        return {
            self.pick: gr.Dropdown(choices=opts, value=first),
            self.who: f"Signed in as maintainer **{escape_markdown(who)}**. {len(opts)} submission(s) waiting for review.",
            self.entry: entry_markdown(st, first),
            self.problems: problems_markdown(st.problems()),
            self.approve: gr.Button(interactive=bool(opts)),
            self.reject: gr.Button(interactive=bool(opts)),
        }

    def on_sign_in(self, token: str | None, profile: gr.OAuthProfile | None) -> dict:
        return {**self.on_list(token, profile), self.out: ""}

    def on_pick(self, entry_id: str | None) -> dict:
        return {self.entry: entry_markdown(current(), entry_id)}

    def on_approve(self, entry_id: str | None, token: str | None, profile: gr.OAuthProfile | None) -> dict:
        return {self.out: act(current(), "approve", entry_id, None, auth.maintainer_name(profile, token))}

    def on_reject(
        self, entry_id: str | None, reason: str | None, token: str | None, profile: gr.OAuthProfile | None
    ) -> dict:
        return {self.out: act(current(), "reject", entry_id, reason, auth.maintainer_name(profile, token))}

    def wire(self) -> None:
        listed = [self.pick, self.who, self.entry, self.problems, self.approve, self.reject]
        token: dict[str, Any] = {"token": self.token}
        private: dict[str, Any] = {"api_visibility": "private"}  # the browser's; programs use the CLI
        self.load.click(self.on_sign_in, inputs_kwargs=token, outputs=[*listed, self.out], **private)
        self.token.submit(self.on_sign_in, inputs_kwargs=token, outputs=[*listed, self.out], **private)
        self.pick.input(self.on_pick, inputs_kwargs={"entry_id": self.pick}, outputs=[self.entry], **private)
        self.approve.click(
            self.on_approve, inputs_kwargs={"entry_id": self.pick, **token}, outputs=[self.out], **private
        ).then(self.on_list, inputs_kwargs=token, outputs=listed, **private)
        self.reject.click(
            self.on_reject,
            inputs_kwargs={"entry_id": self.pick, "reason": self.reason, **token},
            outputs=[self.out],
            **private,
        ).then(self.on_list, inputs_kwargs=token, outputs=listed, **private)
