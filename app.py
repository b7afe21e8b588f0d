"""Vision Model Leaderboard: the Gradio UI (wiring only; the logic lives in leaderboard/, submissions/,
eval_queue/, harness/ and store/).

``python app.py`` serves on 0.0.0.0:7860 (``GRADIO_SERVER_PORT`` honoured). Environment:
``LEADERBOARD_DATA_DIR`` (local data, default ./data) or ``RESULTS_REPO``+``QUEUE_REPO`` (Hub);
``LEADERBOARD_WORKER=0`` disables the in-process worker; ``LEADERBOARD_WORKER_INTERVAL`` (s, default 10);
``LEADERBOARD_SEED=0`` disables seeding a reference suite on an empty local store;
``LEADERBOARD_ADMIN_TOKEN`` is the maintainer token when running outside a Space (on a Space: HF OAuth and
``MAINTAINERS``/``MAINTAINER_ORGS``); ``LEADERBOARD_REFRESH_S`` / ``LEADERBOARD_QUEUE_REFRESH_S`` set how
often the Leaderboard and Queue tabs look for news (default 10 s / 5 s locally, 6x that on the Hub).
The filter state lives in the URL query (see ``leaderboard.filters.encode_state``), so a view can be shared.
"""

import logging
import os
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pandas as pd

import submissions
from eval_queue import auth, scheduler
from eval_queue import entries as queue_entries
from eval_queue.entry import QueueError
from leaderboard import columns as C
from leaderboard import present
from leaderboard.cache import LeaderboardCache
from leaderboard.charts import accuracy_latency_scatter, latency_batch_curves
from leaderboard.filters import (
    DEFAULT_COLUMNS,
    FilterError,
    FilterState,
    apply_filters,
    choices,
    decode_state,
    encode_state,
    normalize_columns,
)
from store import StoreError, Stores, get_stores, table
from submissions import SubmissionRefused

log = logging.getLogger("leaderboard.app")

SEED_MODELS = ("resnet18", "mobilenetv3_large_100", "efficientnet_b0", "vit_tiny_patch16_224")
ON_SPACE = os.environ.get("SYSTEM") == "spaces" and bool(os.environ.get("SPACE_ID"))
EXPORT_DIR = Path(tempfile.mkdtemp(prefix="leaderboard-export-"))
PAGE_SIZE = present.PAGE_SIZE
KEEP_EXPORTS = 50


# ------------------------------------------------------------------------------------------------
# Adapters to the other parts (the one place that knows their function names)
# ------------------------------------------------------------------------------------------------
def read_results_table(results_store) -> pd.DataFrame:
    """The consolidated table (store.table rebuilds it when missing or stale)."""
    return table.read_results_table(results_store)


def rebuild_results_table(results_store) -> None:
    table.rebuild_results_table(results_store)


def submit_model(stores: Stores, model: str, revision: str | None, config: dict, submitter: str) -> dict:
    """Validate and enqueue; raises submissions.SubmissionRefused with the reason."""
    return submissions.submit(stores, model, revision=revision, config=config, submitted_by=submitter)


def list_entries(stores: Stores) -> list[dict]:
    return queue_entries.list_entries(stores.queue)


def approve_entry(stores: Stores, entry_id: str, by: str) -> dict:
    return queue_entries.approve(stores.queue, entry_id, by=by)


def reject_entry(stores: Stores, entry_id: str, by: str, reason: str) -> dict:
    return queue_entries.reject(stores.queue, entry_id, by=by, reason=reason)


def maintainer_name(profile, token: str | None) -> str | None:
    """Who the caller is if they are a maintainer, else None (checked on the server on every call)."""
    if ON_SPACE:
        if profile is None or not auth.is_maintainer(profile=profile):
            return None
        return getattr(profile, "username", None) or "maintainer"
    return "admin" if auth.is_maintainer(token=token or "") else None


def seed_reference_suite(stores: Stores) -> int:
    """Enqueue a few small timm archs, pre-approved by ``system``, on an empty local store."""
    n = 0
    for arch in SEED_MODELS:
        try:
            queue_entries.enqueue_approved(stores.queue, arch, by="system")
            n += 1
        except (QueueError, StoreError, ValueError) as exc:  # a seed that cannot be queued is not fatal
            log.warning("could not seed %s: %s", arch, exc)
    return n


def start_worker(stores: Stores, interval_s: float):
    return scheduler.start_background_worker(stores, interval_s)


# ------------------------------------------------------------------------------------------------
# App state
# ------------------------------------------------------------------------------------------------
class AppState:
    def __init__(self, stores: Stores):
        self.stores = stores
        # a Hub check is an API call: look less often there
        every = 2.0 if stores.backend == "local" else 30.0
        self.cache = LeaderboardCache(stores.results, read_results_table, check_every_s=every)

    def snapshot(self):
        return self.cache.get()


STATE: AppState | None = None


def state() -> AppState:
    global STATE
    if STATE is None:
        STATE = AppState(get_stores())
    return STATE


# ------------------------------------------------------------------------------------------------
# Leaderboard handlers
# ------------------------------------------------------------------------------------------------
SORT_CHOICES = [(c.label, c.name) for c in C.COLUMNS if c.name not in ("model_url", "reproduce")]
COLUMN_CHOICES = [(c.label, c.name) for c in C.COLUMNS if not c.pinned]
FILTER_FIELDS = (
    "search",
    "regex",
    "task",
    "family",
    "backend",
    "device",
    "precision",
    "hardware_profile",
    "params_min",
    "params_max",
    "latency_min",
    "latency_max",
    "sort_by",
    "descending",
    "pareto",
    "columns",
)


def _num_or_none(v):
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def state_from_inputs(*values) -> FilterState:
    kw = dict(zip(FILTER_FIELDS, values, strict=True))
    for k in ("task", "family", "backend", "device", "precision", "hardware_profile"):
        kw[k] = tuple(kw[k] or ())
    kw["columns"] = normalize_columns(kw["columns"])
    for k in ("params_min", "params_max", "latency_min", "latency_max"):
        kw[k] = _num_or_none(kw[k])
    kw["search"] = kw["search"] or ""
    kw["regex"] = bool(kw["regex"])
    kw["descending"] = bool(kw["descending"])
    kw["pareto"] = bool(kw["pareto"])
    kw["sort_by"] = kw["sort_by"] if kw["sort_by"] in C.BY_NAME else "rank"
    return FilterState(**kw)


def empty_message() -> str:
    seeding = os.environ.get("LEADERBOARD_SEED", "1") != "0" and state().stores.backend == "local"
    lines = [
        "### No results yet",
        "Nothing has been measured on this leaderboard so far. To add the first model:",
        "1. open the **Submit** tab and submit a timm architecture (e.g. `resnet18`) or a Hub model "
        "(`hf-hub:org/name`);",
        "2. a maintainer approves it in **Review**; the worker measures it and the row appears here;",
        "3. or from a shell: `python -m eval_queue submit resnet18`, `python -m eval_queue approve ID`, "
        "`python -m eval_queue work --once`.",
    ]
    if seeding:
        lines.append(
            "\nA small reference suite is queued on an empty local store; rows appear as each finishes."
        )
    return "\n".join(lines)


def _view(wide: pd.DataFrame, fs: FilterState):
    """(view, error text): a bad search is reported and ignored, never raised."""
    try:
        return apply_filters(wide, fs), ""
    except FilterError as exc:
        return apply_filters(wide, replace(fs, search="", regex=False)), f"**Filter problem:** {exc}"


def render_view(fs: FilterState, page: int):
    """The table side of the Leaderboard tab for a filter state (the hot path; the chart follows)."""
    wide = state().snapshot().wide
    view, error = _view(wide, fs)
    frame, dtypes, row_ids, page, pages = present.display_page(view.frame, fs.columns, page, PAGE_SIZE)
    if wide.empty:
        status = empty_message()
    else:
        first = (page - 1) * PAGE_SIZE + 1 if len(view.frame) else 0
        last = min(page * PAGE_SIZE, len(view.frame))
        status = f"Showing **{first}–{last}** of **{len(view.frame)}** rows ({view.total} in total)."
        if view.note:
            status += f" {view.note}."
        if error:
            status = f"{error}\n\n{status}"
    table = gr.Dataframe(
        value=frame, datatype=dtypes, pinned_columns=C.frozen_count(C.visible_columns(fs.columns))
    )
    return table, status, page, f"page {page} / {pages}", encode_state(fs), row_ids


def render_plot(fs: FilterState):
    """The accuracy-vs-latency chart of a view; drawn after the table so the table is never held up."""
    return accuracy_latency_scatter(_view(state().snapshot().wide, fs)[0].frame)


def on_plot(*filters):
    return render_plot(state_from_inputs(*filters))


def on_filter(*values):
    *filters, page = values
    fs = state_from_inputs(*filters)
    return render_view(fs, int(page or 1))


def on_filter_reset_page(*values):
    *filters, _page = values
    return on_filter(*filters, 1)


def on_load(request: gr.Request):
    """Read the view from the URL query, fill the filter controls and draw the first page."""
    params = dict(request.query_params) if request is not None else {}
    fs = decode_state(params)
    snap = state().snapshot()
    wide = snap.wide
    page = int(_num_or_none(params.get("page")) or 1)
    outs = render_view(fs, page)
    dropdowns = [
        gr.Dropdown(choices=choices(wide, name), value=list(getattr(fs, name)))
        for name in ("task", "family", "backend", "device", "precision", "hardware_profile")
    ]
    controls = [
        fs.search,
        fs.regex,
        *dropdowns,
        fs.params_min,
        fs.params_max,
        fs.latency_min,
        fs.latency_max,
        fs.sort_by,
        fs.descending,
        fs.pareto,
        list(fs.columns),
    ]
    return [*controls, *outs, snap.loaded_at]


def on_tick(*values):
    """Timer: redraw the current view only when new results arrived since it was drawn."""
    *filters, page, shown = values
    snap = state().snapshot()
    if shown == snap.loaded_at:
        return [gr.skip()] * (len(VIEW_OUTPUTS) + 2 + len(CATEGORY_FIELDS))
    fs = state_from_inputs(*filters)
    with warnings.catch_warnings():  # Gradio warns for any list value of a multiselect; ours are valid
        warnings.simplefilter("ignore", UserWarning)
        options = [  # new families or hardware may have arrived; the picked values stay
            gr.Dropdown(choices=sorted(set(choices(snap.wide, n)) | set(getattr(fs, n))))
            for n in CATEGORY_FIELDS
        ]
    return [*render_view(fs, int(page or 1)), render_plot(fs), snap.loaded_at, *options]


CATEGORY_FIELDS = ("task", "family", "backend", "device", "precision", "hardware_profile")


VIEW_OUTPUTS = ("table", "status", "page", "page_md", "url_query", "row_ids")


def on_select(row_ids: list[str], evt: gr.SelectData):
    snap = state().snapshot()
    try:
        rid = row_ids[evt.index[0]]
    except (IndexError, TypeError):
        return "Click a row to see its details."
    match = snap.wide[snap.wide["row_id"] == rid]
    if match.empty:
        return "That row is no longer in the table; refresh the page."
    return present.row_details(match.iloc[0].to_dict())


def export_view(fmt: str, *filters):
    fs = state_from_inputs(*filters)
    try:
        view = apply_filters(state().snapshot().wide, fs)
    except FilterError as exc:
        raise gr.Error(str(exc)) from None
    out = present.export_frame(view.frame)
    old = sorted(EXPORT_DIR.glob("leaderboard-*"), key=lambda p: p.stat().st_mtime)
    for stale in old[:-KEEP_EXPORTS]:  # a long-running Space must not fill its disk with exports
        stale.unlink(missing_ok=True)
    path = EXPORT_DIR / f"leaderboard-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}.{fmt}"
    if fmt == "csv":
        out.to_csv(path, index=False)
    else:
        out.to_parquet(path, index=False)
    return gr.File(value=str(path), visible=True)


# ------------------------------------------------------------------------------------------------
# Compare
# ------------------------------------------------------------------------------------------------
COMPARE_CHOICES = 500


def on_compare_tab(*values):
    """Choices of the Compare picker: the first rows of the Leaderboard's current view (and the picked)."""
    *filters, picked = values
    picked = list(picked or [])
    wide = state().snapshot().wide
    try:
        view = apply_filters(wide, state_from_inputs(*filters)).frame
    except FilterError:
        view = wide
    opts = present.compare_choices(view.head(COMPARE_CHOICES), ranked=False)
    have = {v for _, v in opts}
    opts += [c for c in present.compare_choices(wide[wide["row_id"].isin(picked)]) if c[1] not in have]
    with warnings.catch_warnings():  # Gradio warns for any list value of a multiselect; ours are valid
        warnings.simplefilter("ignore", UserWarning)
        return gr.Dropdown(choices=opts, value=picked)


def on_compare(row_ids: list[str] | None):
    row_ids = list(row_ids or [])[:6]
    snap = state().snapshot()
    if not row_ids:
        return (
            pd.DataFrame({"metric": []}),
            latency_batch_curves(snap.long, [], {}),
            "Pick 2–6 rows to compare.",
        )
    table = present.compare_table(snap.wide, row_ids)
    rows = snap.wide.set_index("row_id")
    labels = {r: present.row_label(rows.loc[r]) for r in row_ids if r in rows.index}
    note = "" if len(row_ids) >= 2 else "Pick at least one more row to compare."
    return table, latency_batch_curves(snap.long, row_ids, labels), note


# ------------------------------------------------------------------------------------------------
# Submit / Queue / Review
# ------------------------------------------------------------------------------------------------
def _csv_ints(text: str) -> list[int]:
    try:
        return [int(x) for x in str(text).replace(" ", "").split(",") if x]
    except ValueError:
        raise ValueError(f"batch sizes must be whole numbers separated by commas, got {text!r}") from None


def on_submit(
    model,
    revision,
    backends,
    precisions,
    batch_sizes,
    device,
    dataset,
    min_duration,
    name,
    profile: gr.OAuthProfile | None,
):
    submitter = getattr(profile, "username", None) if ON_SPACE else (name or "").strip()
    if not submitter:
        return "**Refused:** " + ("sign in with Hugging Face first." if ON_SPACE else "enter your name.")
    try:
        config = {
            "backends": list(backends or []),
            "precisions": list(precisions or []),
            "batch_sizes": _csv_ints(batch_sizes),
            "device": device,
            "dataset": (dataset or "").strip() or None,
        }
        if min_duration not in (None, ""):
            config["min_duration_s"] = float(min_duration)
        entry = submit_model(
            state().stores, (model or "").strip(), (revision or "").strip() or None, config, submitter
        )
    except (SubmissionRefused, ValueError) as exc:
        return f"**Refused:** {exc}"
    return (
        f"**Queued** **{entry.get('model')}** as `{entry.get('id')}` — status **{entry.get('status')}**"
        f" (revision `{entry.get('revision') or '—'}`). A maintainer reviews it next; watch the Queue tab."
    )


STATUS_ORDER = ("RUNNING", "APPROVED", "PENDING_REVIEW", "FAILED", "FINISHED", "REJECTED")


QUEUE_COLUMNS = (
    "Status",
    "Position",
    "Model",
    "Progress / last event",
    "Failure",
    "By",
    "Submitted (UTC)",
    "Tries",
    "Revision",
    "Entry",
)


def queue_frame(entries: list[dict]) -> pd.DataFrame:
    """Entries grouped by status; APPROVED ones numbered by their position in the run order."""
    approved = sorted(
        (e for e in entries if e.get("status") == "APPROVED"), key=lambda e: e.get("submitted_at") or ""
    )
    position = {e.get("id"): str(i + 1) for i, e in enumerate(approved)}
    rows = []
    for e in entries:
        events = e.get("events") or []
        last = events[-1] if events else {}
        err = e.get("error") or {}
        progress = e.get("progress")
        if isinstance(progress, dict):
            progress = progress.get("message") or progress.get("stage") or str(progress)
        if not progress and last:
            progress = f"{last.get('status')} by {last.get('by')}: {last.get('note') or ''}".strip(": ")
        rows.append(
            (
                e.get("status") or "",
                position.get(e.get("id"), ""),
                e.get("model") or "",
                progress or "",
                f"{err.get('kind')}: {err.get('message')}" if err else "",
                e.get("submitted_by") or "",
                (e.get("submitted_at") or "").replace("T", " ")[:19],
                str(e.get("attempts") if e.get("attempts") is not None else ""),
                (e.get("revision") or "")[:12],
                e.get("id") or "",
            )
        )
    df = pd.DataFrame(rows, columns=list(QUEUE_COLUMNS))
    if df.empty:
        return df
    order = df["Status"].map({s: i for i, s in enumerate(STATUS_ORDER)}).fillna(len(STATUS_ORDER))
    pos = pd.to_numeric(df["Position"], errors="coerce")
    df = df.assign(_o=order, _p=pos).sort_values(
        ["_o", "_p", "Submitted (UTC)"], ascending=[True, True, False], na_position="last"
    )
    return df.drop(columns=["_o", "_p"]).reset_index(drop=True)


def on_queue_refresh():
    df = queue_frame(list_entries(state().stores))
    counts = df["Status"].value_counts().to_dict() if len(df) else {}
    summary = (
        " · ".join(f"{s}: {counts.get(s, 0)}" for s in STATUS_ORDER) if counts else "The queue is empty."
    )
    return df, f"{summary}  (updated {time.strftime('%H:%M:%S')})"


def on_review_list(token, profile: gr.OAuthProfile | None):
    who = maintainer_name(profile, token)
    if who is None:
        return (
            gr.Dropdown(choices=[], value=None),
            "**Maintainers only:** "
            + ("sign in with an account on the maintainers list." if ON_SPACE else "enter the admin token."),
            "",
        )
    entries = [e for e in list_entries(state().stores) if e.get("status") == "PENDING_REVIEW"]
    opts = [
        (
            f"{e.get('model')} @ {(e.get('revision') or '—')[:12]} by {e.get('submitted_by')} ({e.get('id')})",
            e.get("id"),
        )
        for e in entries
    ]
    problems = state().snapshot().problems + [
        f"{s.name}/{p.path}: {p.reason}" for s in (state().stores.queue,) for p in s.problems.values()
    ]
    prob_md = (
        "**Problems found while reading the data:**\n" + "\n".join(f"- `{p}`" for p in problems)
        if problems
        else "No data problems found."
    )
    return (
        gr.Dropdown(choices=opts, value=opts[0][1] if opts else None),
        f"Signed in as maintainer **{who}**. {len(opts)} submission(s) waiting for review.",
        prob_md,
    )


def on_review_action(action, entry_id, reason, token, profile: gr.OAuthProfile | None):
    who = maintainer_name(profile, token)
    if who is None:
        return "**Refused:** maintainers only."
    if not entry_id:
        return "Pick a submission first."
    try:
        if action == "approve":
            e = approve_entry(state().stores, entry_id, who)
        else:
            if not (reason or "").strip():
                return "**Refused:** a rejection needs a reason (it is shown to the submitter)."
            e = reject_entry(state().stores, entry_id, who, reason.strip())
    except (QueueError, StoreError) as exc:  # not found, wrong state, lost race: shown as it is
        return f"**Refused:** {exc}"
    return f"**Done:** `{e.get('id')}` is now **{e.get('status')}** (by {who})."


# ------------------------------------------------------------------------------------------------
# About
# ------------------------------------------------------------------------------------------------
ABOUT = """
## How every number is measured

All rows are produced by one harness (`python -m harness`), run by the queue worker on the machine named in
the row's **Hardware** column. Nothing here is typed in by hand.

- **Top-1 / Top-5** — measured on the evaluation data set in the row's *Dataset* column (a fixed-seed subset
  when `--max-samples` is set). Models with **random weights** (a bare timm architecture) have no accuracy:
  those cells are empty, never estimated. FP32 rows of every backend show the FP32 accuracy; INT8 rows show
  the accuracy measured with the quantized model.
- **Reported top-1 (timm)** — timm's *published* ImageNet-1k top-1 for the architecture's default
  pretrained weights, copied from timm's `results-imagenet.csv`. It is context, **not** measured here.
- **Latency p50/p95/p99 (bs1)** — wall-clock time of one forward pass at batch size 1, in a fresh child
  process per backend and precision with its thread count set and recorded. Warm-up per shape (at least 5
  iterations and a quarter of the minimum duration), then timed iterations until both the minimum duration
  and 100 iterations are reached; CUDA is synchronised around every iteration. Percentiles come from the
  raw samples, which are kept in the result record.
- **Best img/s** — the best throughput (images / measured wall time) over the batch sizes run; *Best bs*
  says which.
- **Peak MB** — peak resident memory of the measuring process (CPU) or peak GPU memory (CUDA).
- **Size MB** — MiB on disk of what the backend ran: the weight files for PyTorch (for a random-weight
  architecture, the size its `model.safetensors` would have), the ONNX file for ONNX Runtime (the quantized
  file for INT8).
- **Params / GMACs** — parameter count and multiply-accumulates per image at batch 1, counted the way timm's
  published tables count them (fvcore, fused attention off); GFLOPs = 2 x GMACs.
- **INT8** — ONNX Runtime static QDQ quantization calibrated on images of the dataset for conv nets,
  dynamic quantization for transformer MatMuls.
- **Robustness** (when requested) — top-1 under seeded gaussian noise, blur, brightness and JPEG at
  severities 1, 3 and 5; stored in the result record.
- **INT8 Δtop-1 / speed-up** — INT8 minus FP32 top-1, and FP32 p50 / INT8 p50, on the same backend.
- **Hardware** — a profile name grouping comparable machines (CPU model and cores, or GPU model). Compare
  latencies only within one profile; the Pareto front is computed per profile.

## Hardware profiles
A profile is derived from the machine (`harness.environment.hardware_profile`), e.g. `cpu-intel-xeon-2c`
for a 2-core Xeon or `cuda-nvidia-h100` for an H100. The full environment (library versions, RAM) is stored
with every result record.

## Reproduce a row
Click a row in the Leaderboard: its details end with the exact command, e.g.

```bash
python -m harness resnet18 --no-dataset --max-samples 500 --backends pytorch,onnxruntime --device cpu \\
    --batch-sizes 1,8 --precisions fp32 --min-duration 1 --output result.json
```

The same model, revision and settings on the same hardware profile produce the same result key.
`python -m leaderboard report` publishes the current rows as Markdown (plus CSV/Parquet), and
`python -m harness compare BASELINE.json CURRENT.json` gates a CI job on latency and accuracy regressions.
"""


# ------------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------------
CSS = """
#lb-table table { font-size: 0.9em; }
.lb-note { min-height: 1.5em; }
"""
YIELD_JS = "() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)))"
URL_JS = (
    "(q) => { const u = q ? ('?' + q) : window.location.pathname; window.history.replaceState(null, '', u); }"
)


def refresh_seconds(env: str, local_default: float) -> float:
    """Timer period: the env value, else the default (x6 on the Hub, where every check is an API call)."""
    if os.environ.get(env):
        return max(1.0, float(os.environ[env]))
    return local_default if state().stores.backend == "local" else local_default * 6


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Vision Model Leaderboard") as demo:
        gr.Markdown(
            "# Vision Model Leaderboard\n"
            "Accuracy, latency p50/p95/p99, throughput, memory, size, params and GMACs per backend, device, "
            "precision and hardware — measured by one harness. Click a row for details and how to reproduce it."
        )
        if ON_SPACE:
            gr.LoginButton()
        url_query = gr.Textbox(visible=False, elem_id="url-query")
        row_ids = gr.State([])
        shown = gr.State(None)  # load time of the data the table shows; the timer redraws when it changes
        lb_timer = gr.Timer(refresh_seconds("LEADERBOARD_REFRESH_S", 10.0))
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="leaderboard"):
                status = gr.Markdown(elem_id="lb-status", elem_classes="lb-note")
                with gr.Row():
                    search = gr.Textbox(
                        label="Search",
                        placeholder="model, architecture, family, backend…",
                        scale=4,
                        elem_id="lb-search",
                    )
                    regex = gr.Checkbox(label="Regex", scale=0, min_width=90)
                    pareto = gr.Checkbox(label="Pareto only", scale=0, min_width=130, elem_id="lb-pareto")
                with gr.Accordion("Filters", open=False):
                    with gr.Row():
                        task = gr.Dropdown(label="Task", multiselect=True, choices=[])
                        family = gr.Dropdown(
                            label="Family", multiselect=True, choices=[], elem_id="lb-family"
                        )
                        backend = gr.Dropdown(
                            label="Backend", multiselect=True, choices=[], elem_id="lb-backend"
                        )
                        device = gr.Dropdown(label="Device", multiselect=True, choices=[])
                        precision = gr.Dropdown(label="Precision", multiselect=True, choices=[])
                        hw = gr.Dropdown(label="Hardware", multiselect=True, choices=[])
                    with gr.Row():
                        pmin = gr.Number(label="Params ≥ (M)", value=None)
                        pmax = gr.Number(label="Params ≤ (M)", value=None)
                        lmin = gr.Number(label="p50 latency ≥ (ms)", value=None)
                        lmax = gr.Number(label="p50 latency ≤ (ms)", value=None, elem_id="lb-lmax")
                with gr.Row():
                    sort_by = gr.Dropdown(
                        label="Sort by", choices=SORT_CHOICES, value="rank", scale=2, elem_id="lb-sort"
                    )
                    desc = gr.Checkbox(label="Descending", scale=0, min_width=130, elem_id="lb-desc")
                    cols = gr.Dropdown(
                        label="Columns (Model is always shown)",
                        choices=COLUMN_CHOICES,
                        value=list(DEFAULT_COLUMNS),
                        multiselect=True,
                        scale=6,
                    )
                table = gr.Dataframe(
                    interactive=False, wrap=False, elem_id="lb-table", max_height=620, label="Results"
                )
                with gr.Row():
                    prev_btn = gr.Button("◀ Previous", size="sm", scale=0)
                    page_md = gr.Markdown("page 1 / 1")
                    next_btn = gr.Button("Next ▶", size="sm", scale=0)
                    page = gr.Number(value=1, visible=False, precision=0)
                    csv_btn = gr.Button("Download CSV of this view", size="sm", scale=0, elem_id="lb-csv")
                    pq_btn = gr.Button("Download Parquet of this view", size="sm", scale=0)
                export_file = gr.File(label="Export", visible=False, elem_id="lb-export")
                details = gr.Markdown(
                    "Click a row to see all its numbers and the command that reproduces it.",
                    elem_id="lb-details",
                )
                plot = gr.Plot(label="Accuracy vs latency", elem_id="lb-plot")

            with gr.Tab("Compare", id="compare") as cmp_tab:
                pick = gr.Dropdown(
                    label="Rows to compare (2–6)",
                    multiselect=True,
                    max_choices=6,
                    choices=[],
                    elem_id="cmp-pick",
                )
                cmp_note = gr.Markdown()
                cmp_table = gr.Dataframe(interactive=False, elem_id="cmp-table", label="Side by side")
                cmp_plot = gr.Plot(label="Latency vs batch size")

            with gr.Tab("Submit", id="submit"):
                gr.Markdown(
                    "Submit a timm architecture (`resnet18`, measured with random weights: efficiency only), "
                    "a Hub model (`hf-hub:org/name`, safetensors only) or a local directory (`local-dir:/path`)."
                )
                with gr.Row():
                    s_model = gr.Textbox(
                        label="Model", placeholder="resnet18 or hf-hub:org/name", elem_id="sub-model"
                    )
                    s_rev = gr.Textbox(label="Revision (Hub only, default main)", placeholder="main")
                    s_name = gr.Textbox(label="Your name", visible=not ON_SPACE, elem_id="sub-name")
                with gr.Row():
                    s_backends = gr.CheckboxGroup(
                        ["pytorch", "onnxruntime"],
                        value=["pytorch", "onnxruntime"],
                        label="Backends",
                        elem_id="sub-backends",
                    )
                    s_prec = gr.CheckboxGroup(["fp32", "int8", "fp16"], value=["fp32"], label="Precisions")
                    s_bs = gr.Textbox(value="1,8", label="Batch sizes")
                    s_device = gr.Dropdown(["cpu", "cuda"], value="cpu", label="Device")
                    s_dataset = gr.Textbox(
                        label="Dataset (optional: path or Hub id; empty = efficiency only)"
                    )
                    s_mindur = gr.Number(value=1.0, label="Min duration per shape (s)", elem_id="sub-mindur")
                s_btn = gr.Button("Submit", variant="primary", elem_id="sub-btn")
                s_out = gr.Markdown(elem_id="sub-out")

            with gr.Tab("Queue", id="queue"):
                q_summary = gr.Markdown(elem_id="q-summary")
                q_table = gr.Dataframe(interactive=False, elem_id="q-table", wrap=False, max_height=600)
                q_btn = gr.Button("Refresh", size="sm")
                timer = gr.Timer(refresh_seconds("LEADERBOARD_QUEUE_REFRESH_S", 5.0))

            with gr.Tab("Review", id="review"):
                gr.Markdown(
                    "Maintainers approve or reject submissions. Your identity is checked on every action."
                )
                r_token = gr.Textbox(
                    label="Admin token", type="password", visible=not ON_SPACE, elem_id="rev-token"
                )
                r_load = gr.Button("Show pending submissions", elem_id="rev-load")
                r_who = gr.Markdown(elem_id="rev-who")
                r_pick = gr.Dropdown(label="Submission", choices=[], elem_id="rev-pick")
                r_reason = gr.Textbox(label="Reason (required to reject)")
                with gr.Row():
                    r_approve = gr.Button("Approve", variant="primary", elem_id="rev-approve")
                    r_reject = gr.Button("Reject", variant="stop")
                r_out = gr.Markdown(elem_id="rev-out")
                r_problems = gr.Markdown()

            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)

        # --- wiring -------------------------------------------------------------------------------
        filters = [
            search,
            regex,
            task,
            family,
            backend,
            device,
            precision,
            hw,
            pmin,
            pmax,
            lmin,
            lmax,
            sort_by,
            desc,
            pareto,
            cols,
        ]
        view_outputs = [table, status, page, page_md, url_query, row_ids]
        triggers = [
            search.input,
            search.submit,
            regex.input,
            task.input,
            family.input,
            backend.input,
            device.input,
            precision.input,
            hw.input,
            pmin.input,
            pmax.input,
            lmin.input,
            lmax.input,
            sort_by.input,
            desc.input,
            pareto.input,
            cols.input,
        ]
        changed = gr.on(
            triggers,
            on_filter_reset_page,
            inputs=[*filters, page],
            outputs=view_outputs,
            trigger_mode="always_last",
            show_progress="hidden",
            api_name="filter",
        )
        changed.then(None, inputs=url_query, js=URL_JS)
        # the chart follows once the browser has painted the table, so it never holds the table up
        changed.then(None, js=YIELD_JS).then(
            on_plot, inputs=filters, outputs=plot, show_progress="hidden", api_name="plot"
        )
        prev_btn.click(
            lambda *v: on_filter(*v[:-1], max(1, int(v[-1] or 1) - 1)),
            inputs=[*filters, page],
            outputs=view_outputs,
        )
        next_btn.click(
            lambda *v: on_filter(*v[:-1], int(v[-1] or 1) + 1), inputs=[*filters, page], outputs=view_outputs
        )
        table.select(on_select, inputs=row_ids, outputs=details)
        csv_btn.click(lambda *v: export_view("csv", *v), inputs=filters, outputs=export_file)
        pq_btn.click(lambda *v: export_view("parquet", *v), inputs=filters, outputs=export_file)
        demo.load(on_load, inputs=None, outputs=[*filters, *view_outputs, shown]).then(
            on_plot, inputs=filters, outputs=plot, show_progress="hidden"
        )
        lb_timer.tick(
            on_tick,
            inputs=[*filters, page, shown],
            outputs=[*view_outputs, plot, shown, task, family, backend, device, precision, hw],
            show_progress="hidden",
        )
        cmp_tab.select(on_compare_tab, inputs=[*filters, pick], outputs=pick, show_progress="hidden")

        pick.change(on_compare, inputs=pick, outputs=[cmp_table, cmp_plot, cmp_note])

        s_btn.click(
            on_submit,
            inputs=[s_model, s_rev, s_backends, s_prec, s_bs, s_device, s_dataset, s_mindur, s_name],
            outputs=s_out,
        )

        gr.on(
            [q_btn.click, timer.tick, demo.load],
            on_queue_refresh,
            outputs=[q_table, q_summary],
            show_progress="hidden",
        )

        r_load.click(on_review_list, inputs=r_token, outputs=[r_pick, r_who, r_problems])
        r_approve.click(_approve_handler, inputs=[r_pick, r_reason, r_token], outputs=r_out).then(
            on_review_list, inputs=r_token, outputs=[r_pick, r_who, r_problems]
        )
        r_reject.click(_reject_handler, inputs=[r_pick, r_reason, r_token], outputs=r_out).then(
            on_review_list, inputs=r_token, outputs=[r_pick, r_who, r_problems]
        )
    return demo


def _approve_handler(entry_id, reason, token, profile: gr.OAuthProfile | None):
    return on_review_action("approve", entry_id, reason, token, profile)


def _reject_handler(entry_id, reason, token, profile: gr.OAuthProfile | None):
    return on_review_action("reject", entry_id, reason, token, profile)


# ------------------------------------------------------------------------------------------------
# Startup
# ------------------------------------------------------------------------------------------------
def startup(st: AppState) -> None:
    """Seed an empty local store and start the in-process worker, as the environment asks."""
    stores = st.stores
    seed = os.environ.get("LEADERBOARD_SEED", "1" if stores.backend == "local" else "0") != "0"
    if seed and not stores.results.list_files("records") and not stores.queue.list_files("entries"):
        log.info("empty store: seeded %d reference models", seed_reference_suite(stores))
    if os.environ.get("LEADERBOARD_WORKER", "1") != "0":
        start_worker(stores, float(os.environ.get("LEADERBOARD_WORKER_INTERVAL", "10")))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    st = state()
    startup(st)
    snap = st.snapshot()  # load before the first visitor arrives
    log.info("leaderboard: %d rows loaded in %.2f s", len(snap.wide), snap.load_s)
    demo = build_demo()
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        css=CSS,
        allowed_paths=[str(EXPORT_DIR)],
        ssr_mode=False,
    )


if __name__ == "__main__":
    main()
