"""Storage of the two datasets (``results`` and ``queue``): local default or Hugging Face Hub.

``get_stores()`` picks the backend from the environment:
- ``RESULTS_REPO`` and ``QUEUE_REPO`` set -> :class:`store.hub.HubDatasetStore` (``HF_TOKEN``, ``HF_ENDPOINT``)
- otherwise -> :class:`store.local.LocalDatasetStore` under ``$LEADERBOARD_DATA_DIR`` (default ``./data``)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import settings
from store.base import (
    ConflictError,
    CorruptFileError,
    DatasetStore,
    InvalidPathError,
    JsonDict,
    Problem,
    StoreError,
    StoreWriteError,
    UnreadableFileError,
)
from store.local import LocalDatasetStore
from store.schema import SchemaError

__all__ = [
    "ConflictError",
    "CorruptFileError",
    "DatasetStore",
    "InvalidPathError",
    "JsonDict",
    "LocalDatasetStore",
    "Problem",
    "SchemaError",
    "StoreError",
    "StoreWriteError",
    "UnreadableFileError",
    "Stores",
    "get_stores",
]


@dataclass
class Stores:
    results: DatasetStore
    queue: DatasetStore
    backend: str  # "local" | "hub"


def data_dir() -> Path:
    return Path(settings.get("LEADERBOARD_DATA_DIR")).resolve()


def get_stores() -> Stores:
    """The stores selected by the environment (see module docstring)."""
    results_repo = settings.get("RESULTS_REPO")
    queue_repo = settings.get("QUEUE_REPO")
    if results_repo and queue_repo:
        from store.hub import HubDatasetStore

        token = settings.get("HF_TOKEN")
        return Stores(
            results=HubDatasetStore(results_repo, name="results", token=token),
            queue=HubDatasetStore(queue_repo, name="queue", token=token),
            backend="hub",
        )
    if bool(results_repo) != bool(queue_repo):
        raise StoreError(
            "set both RESULTS_REPO and QUEUE_REPO for the Hub backend, or neither for local data"
        )
    root = data_dir()
    return Stores(
        results=LocalDatasetStore(root / "results", name="results"),
        queue=LocalDatasetStore(root / "queue", name="queue"),
        backend="local",
    )
