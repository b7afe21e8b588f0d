"""Validate a submission completely, then write one PENDING_REVIEW queue entry (create-only).

Order: syntax (id, revision, submitter, settings) -> rate limit -> existence/revision/size (network or
disk) -> duplicates (queue entries and result keys). Nothing is written unless every check passes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from submissions.resolve import resolve
from submissions.validate import (
    SubmissionRefused,
    check_not_duplicate,
    check_params,
    check_rate_limit,
    check_submitter,
    merge_revision,
    parse_model_id,
    parse_rate_limit,
)

DEFAULT_RATE_LIMIT = "5/7d"
DEFAULT_MAX_PARAMS_M = 1000.0


@dataclass(frozen=True)
class SubmissionSettings:
    allow_local_dirs: bool
    max_params_m: float | None
    rate_limit: tuple[int, timedelta] | None

    @classmethod
    def from_env(cls, backend: str = "local") -> SubmissionSettings:
        """LEADERBOARD_ALLOW_LOCAL_DIRS (default on for the local backend, off for the Hub),
        LEADERBOARD_MAX_PARAMS_M (default 1000, 0 = no cap), LEADERBOARD_RATE_LIMIT (default 5/7d, 0 = off)."""
        local = os.environ.get("LEADERBOARD_ALLOW_LOCAL_DIRS")
        allow = (backend == "local") if local in (None, "") else local.strip().lower() in ("1", "true", "yes")
        try:
            cap = float(os.environ.get("LEADERBOARD_MAX_PARAMS_M", DEFAULT_MAX_PARAMS_M))
            limit = parse_rate_limit(os.environ.get("LEADERBOARD_RATE_LIMIT", DEFAULT_RATE_LIMIT))
        except ValueError as exc:
            raise SubmissionRefused(f"board misconfigured: {exc}") from None
        return cls(allow, cap or None, limit)


def normalise_config(config: Any) -> dict[str, Any]:
    """BenchmarkConfig dict from a partial dict (None values take the defaults) or a BenchmarkConfig."""
    from harness.config import BenchmarkConfig, ConfigError

    if isinstance(config, BenchmarkConfig):
        return config.to_dict()
    if config is not None and not isinstance(config, dict):
        raise SubmissionRefused("benchmark settings must be an object")
    try:
        return BenchmarkConfig.from_dict({k: v for k, v in (config or {}).items() if v is not None}).to_dict()
    except (ConfigError, TypeError) as exc:
        raise SubmissionRefused(f"invalid benchmark settings: {exc}") from None


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
    hub_config_params=None,
) -> dict[str, Any]:
    """Queue ``model`` for review; returns the new entry (a dict). Raises :class:`SubmissionRefused`.

    ``stores_or_queue`` is a ``store.Stores`` (preferred: duplicates are also checked against results)
    or the queue store alone (then pass ``results=`` for the result-key check).
    """
    from eval_queue.entries import create_entry, list_entries
    from eval_queue.entry import make_entry, utc_now
    from harness.config import BenchmarkConfig, result_key
    from harness.environment import hardware_profile

    queue, results, backend = _stores(stores_or_queue, results)
    settings = settings or SubmissionSettings.from_env(backend)
    now = now or utc_now()

    ref = parse_model_id(model, settings.allow_local_dirs)
    wanted_revision = merge_revision(ref, revision)
    who = check_submitter(submitted_by)
    cfg = normalise_config(config)

    entries = list_entries(queue)
    check_rate_limit(entries, who, now, settings.rate_limit)

    found = resolve(ref, wanted_revision, hub_model_info, hub_config_params)
    check_params(found.params, settings.max_params_m, found.model)

    key = result_key(
        found.model, found.revision, BenchmarkConfig.from_dict(cfg), hardware_profile(cfg["device"])
    )
    existing = key if results is not None and results.exists(f"records/{key}.json") else None
    check_not_duplicate(entries, found.model, found.revision, cfg, existing)

    entry = make_entry(found.model, found.source, found.revision, cfg, who, now, params=found.params)
    return create_entry(queue, entry).to_dict()
