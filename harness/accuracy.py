"""Top-1/top-5 accuracy (percent) of a Runner over preprocessed batches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    num_samples: int


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> int:
    """How many rows have their label among the k highest logits (ties broken by lower index first)."""
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"logits must be (N, C) and labels (N,), got {logits.shape} and {labels.shape}")
    k = min(k, logits.shape[1])
    # stable argsort of -logits: equal scores keep index order, so results do not depend on the sort kind
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return int((top == labels[:, None]).any(axis=1).sum())


def accuracy_from_logits(logits: np.ndarray, labels: np.ndarray) -> Accuracy:
    n = len(labels)
    if n == 0:
        raise ValueError("no samples")
    return Accuracy(
        top1=100.0 * topk_correct(logits, labels, 1) / n,
        top5=100.0 * topk_correct(logits, labels, 5) / n,
        num_samples=n,
    )


def iter_batches(x: np.ndarray, batch_size: int) -> Iterable[np.ndarray]:
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size]


def predict_all(runner, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Logits of every sample, batch by batch through ``runner.predict`` (the backend being measured).

    Each batch is copied: ``x`` may be a read-only memory map, and backends may want writable input."""
    outs = [
        np.asarray(runner.predict(np.array(b, dtype=np.float32)), dtype=np.float32)
        for b in iter_batches(x, batch_size)
    ]
    return np.concatenate(outs, axis=0)


def evaluate(runner, x: np.ndarray, labels: np.ndarray, batch_size: int = 32) -> Accuracy:
    logits = predict_all(runner, x, batch_size)
    if logits.shape[0] != len(labels):
        raise ValueError(f"runner returned {logits.shape[0]} rows for {len(labels)} samples")
    return accuracy_from_logits(logits, labels)
