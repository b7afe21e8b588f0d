"""The Submit tab: a model id and a benchmark config in, the queued entry or the exact refusal out.

Choices come from what the harness registers (backends, their devices and precisions), from the
datasets the board offers (``LEADERBOARD_DATASETS``) and from the hardware catalogue (Hugging Face Jobs
flavors with their cost per hour, default the cheapest CPU one; the local machine otherwise); the config is
validated by ``submissions.submit``. After a submit the entry's queue position is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

import settings
import submissions
from eval_queue.entries import list_entries
from eval_queue.entry import QueueError
from eval_queue.flavors import catalogue, jobs_enabled
from eval_queue.view import queue_position
from harness.backends import backend_specs
from harness.config import BenchmarkConfig, split_csv
from harness.tasks import DEFAULT_TASK
from leaderboard.columns import TASK_CHOICES
from leaderboard.markup import escape_markdown
from ui.state import current

NO_DATASET = "none"
FROM_MODEL = "from the model"
DEFAULT_BATCH_SIZES = "1,8"
DEFAULT_MIN_DURATION_S = 1.0
# Ticked by default: the harness's own default backends (PyTorch eager, ONNX Runtime). The others stay one
# click away: torch.compile and LiteRT cost minutes of compile/convert time, TensorRT needs a GPU.
DEFAULT_BACKENDS = BenchmarkConfig().backends


@dataclass(frozen=True)
class FormChoices:
    """What the form offers, in the registry's canonical order."""

    backends: tuple[str, ...]
    precisions: tuple[str, ...]
    devices: tuple[str, ...]
    datasets: tuple[str, ...]
    flavors: tuple[tuple[str, str], ...] = ()  # (label with $/h, name)
    default_flavor: str | None = None
    flavor_note: str = ""  # why no flavor is offered (the Hub could not be asked)

    @classmethod
    def current(cls) -> FormChoices:
        specs = backend_specs()
        precisions = tuple(dict.fromkeys(p for s in specs for p in s.precisions))
        devices = tuple(dict.fromkeys(d for s in specs for d in s.devices))
        datasets = (*dict.fromkeys(settings.get("LEADERBOARD_DATASETS")), NO_DATASET)
        flavors: tuple[tuple[str, str], ...] = ()
        default, note = None, ""
        try:
            cat = catalogue()
            flavors = tuple((flavor_label(f), f.name) for f in cat.flavors())
            default = cat.default().name
        except QueueError as exc:
            note = str(exc)
        return cls(tuple(s.name for s in specs), precisions, devices, datasets, flavors, default, note)


def flavor_label(f: Any) -> str:
    """``cpu-upgrade — CPU Upgrade · 8 vCPU · 32 GB — $0.030/h``."""
    cost = "cost unknown" if f.usd_per_hour is None else f"${f.usd_per_hour:.3f}/h"
    return f"{f.name} — {f.label} — {cost}"


def batch_sizes(text: Any) -> list[int]:
    """``"1, 8"`` -> [1, 8]; anything but whole numbers is refused with the text it got."""
    parts = split_csv(str(text or ""))
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"batch sizes must be whole numbers separated by commas, got {str(text)[:80]!r}"
        ) from None


@dataclass
class SubmitForm:
    """The form's values, by name."""

    model: str
    revision: str
    backends: list[str]
    precisions: list[str]
    batch_sizes: str
    device: str
    dataset: str | None
    min_duration: float | None
    name: str
    flavors: list[str] | None = None  # Hugging Face Jobs flavors (None/[]: the default one)
    input_sizes: str = ""  # input-size scaling resolutions, comma list ("" = none)
    task: str | None = None  # harness.tasks.TASK_NAMES; None/"": the model's own task

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "backends": list(self.backends or []),
            "precisions": list(self.precisions or []),
            "batch_sizes": batch_sizes(self.batch_sizes),
            "device": self.device,
            "dataset": None if self.dataset in (None, "", NO_DATASET) else self.dataset,
        }
        if self.min_duration not in (None, ""):
            config["min_duration_s"] = self.min_duration
        if str(self.input_sizes or "").strip():  # the config's reader splits and checks the list
            config["input_sizes"] = str(self.input_sizes)
        return config


def _get(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


def submit_form(form: SubmitForm, profile: Any) -> str:
    """Markdown: the queued entry, or ``**Refused:**`` and the one-line reason."""
    on_space = settings.on_space()
    submitter = getattr(profile, "username", None) if on_space else (form.name or "").strip()
    if not submitter:
        return "**Refused:** " + ("sign in with Hugging Face first." if on_space else "enter your name.")
    try:
        entry = submissions.submit(
            current().stores,
            (form.model or "").strip(),
            revision=(form.revision or "").strip() or None,
            config=form.config(),
            submitted_by=submitter,
            flavors=list(form.flavors or []) or None,
            task=form.task or None,
        )
    except (submissions.SubmissionRefused, ValueError) as exc:
        return f"**Refused:** {escape_markdown(exc)}"  # it may quote what was typed
    model, entry_id, status = (escape_markdown(_get(entry, k)) for k in ("model", "id", "status"))
    config = _get(entry, "config")
    task = escape_markdown(config.get("task", DEFAULT_TASK) if isinstance(config, dict) else DEFAULT_TASK)
    revision = escape_markdown(_get(entry, "revision") or "—")
    jobs = _get(entry, "jobs") or ()
    on = f" on {escape_markdown(', '.join(_get(j, 'flavor') for j in jobs))}" if jobs else ""
    try:
        pos = queue_position(list_entries(current().stores.queue), _get(entry, "id"))
    except Exception:  # noqa: BLE001 - the entry is queued; its position is a nicety
        pos = None
    where = f" Position **{pos}** in the queue." if pos else ""
    return (
        f"**Queued** {model} ({task}){on} as {entry_id} — status **{status}** (revision {revision}).{where}"
        " A maintainer reviews it next; watch the Queue tab."
    )


@dataclass
class SubmitTab:
    inputs: dict[str, Any]  # SubmitForm field -> its Gradio component
    button: gr.Button
    out: gr.Markdown

    @classmethod
    def build(cls) -> SubmitTab:
        ch = FormChoices.current()
        with gr.Tab("Submit", id="submit"):
            gr.Markdown(
                "Submit a timm architecture (`resnet18`) or a torchvision one "
                "(`torchvision:ssdlite320_mobilenet_v3_large`), both measured with random weights "
                "(efficiency only); a Hub model (`hf-hub:org/name`: timm or transformers layout, safetensors "
                "only, no remote code) or a local directory (`local-dir:/path`). The task is read from the "
                "model; a model of another task than the one picked is refused."
            )
            c: dict[str, Any] = {}
            with gr.Row():
                c["model"] = gr.Textbox(
                    label="Model", placeholder="resnet18 or hf-hub:org/name", elem_id="sub-model"
                )
                c["revision"] = gr.Textbox(label="Revision (Hub only, default main)", placeholder="main")
                c["name"] = gr.Textbox(label="Your name", visible=not settings.on_space(), elem_id="sub-name")
                c["task"] = gr.Dropdown(
                    [(FROM_MODEL, ""), *TASK_CHOICES], value="", label="Task", elem_id="sub-task"
                )
            with gr.Row():
                c["backends"] = gr.CheckboxGroup(
                    list(ch.backends),
                    value=[b for b in ch.backends if b in DEFAULT_BACKENDS],
                    label="Backends",
                    elem_id="sub-backends",
                )
                c["precisions"] = gr.CheckboxGroup(
                    list(ch.precisions),
                    value=list(ch.precisions[:1]),
                    label="Precisions",
                    elem_id="sub-precisions",
                )
                c["batch_sizes"] = gr.Textbox(
                    value=DEFAULT_BATCH_SIZES, label="Batch sizes", elem_id="sub-bs"
                )
                c["device"] = gr.Dropdown(
                    list(ch.devices), value=ch.devices[0], label="Device", elem_id="sub-device"
                )
                c["dataset"] = gr.Dropdown(
                    list(ch.datasets),
                    value=NO_DATASET,
                    label="Dataset (none = efficiency only)",
                    elem_id="sub-dataset",
                )
                c["min_duration"] = gr.Number(
                    value=DEFAULT_MIN_DURATION_S, label="Min duration per shape (s)", elem_id="sub-mindur"
                )
                c["input_sizes"] = gr.Textbox(
                    value="",
                    label="Input sizes (px, optional)",
                    placeholder="e.g. 160,224,288,384",
                    info="batch-1 latency at each square resolution, drawn in Compare",
                    elem_id="sub-sizes",
                )
            c["flavors"] = gr.CheckboxGroup(
                [(label, name) for label, name in ch.flavors],
                value=[ch.default_flavor] if ch.default_flavor else [],
                label="Hardware (Hugging Face Jobs flavors; each one is a separate measurement and cost)",
                info=ch.flavor_note or None,
                visible=jobs_enabled(),
                elem_id="sub-flavors",
            )
            button = gr.Button("Submit", variant="primary", elem_id="sub-btn")
            out = gr.Markdown(elem_id="sub-out")
        return cls(c, button, out)

    def on_submit(self, profile: gr.OAuthProfile | None, **values: Any) -> dict:
        return {self.out: submit_form(SubmitForm(**values), profile)}

    def wire(self) -> None:
        self.button.click(self.on_submit, inputs_kwargs=self.inputs, outputs=[self.out], api_name="submit")
