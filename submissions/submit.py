"""Validate a submission completely, then write one PENDING_REVIEW queue entry.

Order: syntax (id, revision, submitter) -> the whole benchmark config, normalised and checked against
what this board's workers would run -> existence, revision, weights vs config.json, parameter cap
(network or disk) -> the model's task (torchvision builder family, transformers architecture class; timm
is classification) against the requested one, and the dataset against that task -> already evaluated? -> rate-limit slot (compare-and-swap) -> duplicate claim
(compare-and-swap) -> the entry (create-only). Both limits are atomic on the local and the Hub store;
if a later step fails, the slot and the claim taken so far are handed back, so nothing is lost and no
phantom blocks a resubmission. Nothing is written unless every check passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import settings
from eval_queue.claims import Duplicate, claim, release
from eval_queue.entries import create_entry, list_entries
from eval_queue.entry import QueueEntry, fingerprint, make_entry, utc_now
from store import layout
from submissions.limits import release_slot, take_slot
from submissions.resolve import resolve
from submissions.validate import (
    SubmissionRefused,
    check_job,
    check_not_duplicate,
    check_not_evaluated,
    check_params,
    check_submitter,
    check_task,
    merge_revision,
    parse_model_id,
    parse_rate_limit,
)


@dataclass(frozen=True)
class SubmissionSettings:
    allow_local_dirs: bool
    max_params_m: float | None
    rate_limit: tuple[int, timedelta] | None
    datasets: tuple[str, ...] = ("digits",)  # what a submitter may pick (or none)
    devices: tuple[str, ...] = ("cpu",)  # what this board's workers evaluate on

    @classmethod
    def from_env(cls, backend: str = "local") -> SubmissionSettings:
        """LEADERBOARD_ALLOW_LOCAL_DIRS (default on for the local backend, off for the Hub),
        LEADERBOARD_MAX_PARAMS_M (0 = no cap), LEADERBOARD_RATE_LIMIT (0 = off), LEADERBOARD_DATASETS,
        LEADERBOARD_WORKER_DEVICES (default cpu)."""
        allow = settings.get("LEADERBOARD_ALLOW_LOCAL_DIRS")
        try:
            limit = parse_rate_limit(settings.get("LEADERBOARD_RATE_LIMIT"))
        except ValueError as exc:
            raise SubmissionRefused(f"board misconfigured: {exc}") from None
        return cls(
            allow_local_dirs=(backend == "local") if allow is None else allow,
            max_params_m=settings.get("LEADERBOARD_MAX_PARAMS_M") or None,
            rate_limit=limit,
            datasets=tuple(settings.get("LEADERBOARD_DATASETS")),
            devices=tuple(settings.get("LEADERBOARD_WORKER_DEVICES") or ("cpu",)),
        )


def normalise_config(config: Any):
    """The strict, normalised BenchmarkConfig of a partial dict (None values take the defaults)."""
    from harness.config import BenchmarkConfig, ConfigError

    if isinstance(config, BenchmarkConfig):
        return config
    if config is not None and not isinstance(config, dict):
        raise SubmissionRefused("benchmark settings must be an object")
    try:
        return BenchmarkConfig.from_dict({k: v for k, v in (config or {}).items() if v is not None})
    except (ConfigError, TypeError) as exc:
        raise SubmissionRefused(f"invalid benchmark settings: {' '.join(str(exc).split())[:300]}") from None


def _stores(target: Any, results: Any) -> tuple[Any, Any, str]:
    if hasattr(target, "queue") and hasattr(target, "results"):  # a store.Stores
        return target.queue, results or target.results, target.backend
    from store.local import LocalDatasetStore

    return target, results, "local" if isinstance(target, LocalDatasetStore) else "hub"


def submit(
    stores_or_queue: Any,
    model: str,
    *,
    revision: str | None = None,
    config: Any = None,
    submitted_by: str,
    results: Any = None,
    settings: SubmissionSettings | None = None,
    now: datetime | None = None,
    hub_model_info=None,
    flavors: Any = None,
    flavor_catalogue: Any = None,
    task: str | None = None,
) -> QueueEntry:
    """Queue ``model`` for review; returns the new entry. Raises :class:`SubmissionRefused`.

    ``stores_or_queue`` is a ``store.Stores`` (preferred: results are checked too) or the queue store
    alone (then pass ``results=`` for the already-evaluated check).

    ``flavors`` (with ``LEADERBOARD_DISPATCH=jobs``): the Hugging Face Jobs flavors to measure on (names or
    a comma list; default the cheapest CPU one); flavors that already have this result are left out.

    ``task`` (or ``config["task"]``): what the model must do; None takes the model's own task. A model of
    another task is refused, naming both.
    """
    from harness.config import result_key
    from harness.environment import hardware_profile

    queue, results, backend = _stores(stores_or_queue, results)
    settings = settings or SubmissionSettings.from_env(backend)
    now = now or utc_now()

    ref = parse_model_id(model, settings.allow_local_dirs)
    wanted_revision = merge_revision(ref, revision)
    who = check_submitter(submitted_by)
    requested = _requested_task(task, config)
    cfg = normalise_config(config)
    picked = _flavors(flavors, flavor_catalogue, cfg.device)
    devices = ("cpu", "cuda") if any(not f.is_cpu for f in picked) else settings.devices
    check_job(cfg, ref.source, settings.datasets, devices)

    found = resolve(ref, wanted_revision, hub_model_info)
    check_params(found.params, settings.max_params_m, found.model)
    task = check_task(requested, found.task, found.model, found.task_why)
    cfg = normalise_config({**cfg.to_dict(), "task": task})  # robustness is classification's only
    check_dataset_task(cfg.dataset, cfg.task)
    what = f"{found.model}@{(found.revision or 'no-revision')[:12]}"
    if picked:  # one key per flavor: measure only where it is missing
        from eval_queue.worker import job_profile

        keys = {f.name: result_key(found.model, found.revision, cfg, job_profile(f.name)) for f in picked}
        done = {n for n, k in keys.items() if results is not None and results.exists(layout.record_path(k))}
        if len(done) == len(picked):
            check_not_evaluated(keys[picked[0].name], what)
        picked = tuple(f for f in picked if f.name not in done)
    else:
        key = result_key(found.model, found.revision, cfg, hardware_profile(cfg.device))
        check_not_evaluated(
            key if results is not None and results.exists(layout.record_path(key)) else None, what
        )

    cfg_dict = cfg.to_dict()
    fp = fingerprint(found.model, found.revision, cfg_dict, tuple(f.name for f in picked))
    entries = list_entries(queue)
    check_not_duplicate(entries, fp, what)  # entries written before claim files existed

    entry = make_entry(
        found.model, found.source, found.revision, cfg_dict, who, now, params=found.params, flavors=picked
    )
    return _enqueue(queue, entry, fp, what, settings.rate_limit, entries)


def _requested_task(task: Any, config: Any) -> Any:
    """The task asked for by the argument and/or the config (they must agree); None: the model's own."""
    in_config = config.get("task") if isinstance(config, dict) else getattr(config, "task", None)
    if task not in (None, "") and in_config not in (None, "") and task != in_config:
        raise SubmissionRefused(f"two tasks given ({in_config!r} in the settings, {task!r}); give one")
    return task if task not in (None, "") else in_config


def check_dataset_task(dataset: str | None, task: str) -> None:
    """A built-in dataset of another task (digits for a detector) would only fail after approval."""
    from harness.tasks import task_specs

    owner = next((s for s in task_specs() if s.builtin_dataset == dataset), None)
    if owner is not None and owner.name != task:
        raise SubmissionRefused(
            f"dataset {dataset} is a {owner.name} set; a {task} model needs a {task} dataset (or none)"
        )


def _flavors(names: Any, catalogue: Any, device: str) -> tuple[Any, ...]:
    """The Jobs flavors a submission asked for; () when this board runs the local worker (which only
    accepts no flavor or ``local``)."""
    from eval_queue.entry import LOCAL_FLAVOR, QueueError
    from eval_queue.flavors import catalogue as default_catalogue
    from eval_queue.flavors import jobs_enabled

    if not jobs_enabled():
        if names in (None, "", [], (), LOCAL_FLAVOR, [LOCAL_FLAVOR], (LOCAL_FLAVOR,)):
            return ()
        raise SubmissionRefused("this board evaluates on its own machine only; it offers no other flavor")
    try:
        picked = (catalogue or default_catalogue()).pick(names)
    except QueueError as exc:
        raise SubmissionRefused(str(exc)) from None
    if device == "cuda" and any(f.is_cpu for f in picked):
        cpu = ", ".join(f.name for f in picked if f.is_cpu)
        raise SubmissionRefused(f"device cuda needs a GPU flavor; {cpu} has none")
    return picked


def _enqueue(
    queue: Any,
    entry: QueueEntry,
    fp: str,
    what: str,
    rate_limit: tuple[int, timedelta] | None,
    legacy: list[QueueEntry],
) -> QueueEntry:
    """Take a rate slot, claim the job, write the entry; hand back what was taken if a later step fails
    (unless the entry did get written: a lost reply from the Hub is not a lost entry)."""
    if rate_limit is not None:
        take_slot(queue, entry.submitted_by, entry.id, entry.submitted, rate_limit, legacy)
    claimed = False
    try:
        claim(queue, fp, entry.id, entry.submitted, what)
        claimed = True
        return create_entry(queue, entry)
    except BaseException as exc:
        written = _exists(queue, entry)
        if claimed and not written:
            release(queue, fp, entry.id)
        if rate_limit is not None and not written:
            release_slot(queue, entry.submitted_by, entry.id)
        if isinstance(exc, Duplicate):
            raise SubmissionRefused(str(exc)) from None
        raise


def _exists(queue: Any, entry: QueueEntry) -> bool:
    try:
        return queue.exists(layout.entry_path(entry.id))
    except Exception:  # noqa: BLE001 - cannot tell: keep the claim (it expires), never lose an entry
        return True
