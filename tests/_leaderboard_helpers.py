"""Crafted result records (DESIGN's schema) for the leaderboard tests."""

from __future__ import annotations

import contextlib
import copy
import itertools
from typing import Any

_counter = itertools.count()


def make_run(backend="pytorch", device="cpu", precision="fp32", bs=1, p50=10.0, tput=None, rss=500.0, **kw):
    run = {
        "backend": backend,
        "device": device,
        "provider": None,
        "precision": precision,
        "batch_size": bs,
        "threads": 1,
        "status": "ok",
        "warmup": 2,
        "iterations": 10,
        "duration_s": 0.1,
        "latency_ms": {
            "mean": p50 * 1.02,
            "std": 0.1,
            "min": p50 * 0.9,
            "p50": p50,
            "p90": p50 * 1.1,
            "p95": p50 * 1.2,
            "p99": p50 * 1.5,
            "max": p50 * 2,
        },
        "throughput_ips": tput if tput is not None else bs * 1000.0 / p50,
        "peak_rss_mb": rss,
        "peak_gpu_mb": None,
        "load_ms": 5.0,
        "accuracy_top1": None,
    }
    run.update(kw)
    return run


def make_record(
    model="resnet18",
    source="timm",
    revision=None,
    arch=None,
    pretrained=False,
    params=11_690_000,
    accuracy=None,
    runs=None,
    hw="cpu-test-2c",
    created_at="2026-01-01T00:00:00Z",
    config=None,
    key=None,
) -> dict[str, Any]:
    if runs is None:
        runs = [make_run(bs=1, p50=10.0), make_run(bs=8, p50=40.0)]
    return {
        "schema_version": 1,
        "key": key or f"k{next(_counter):06d}",
        "created_at": created_at,
        "harness_version": "test",
        "model": {
            "id": model,
            "source": source,
            "revision": revision,
            "architecture": arch or model.split("/")[-1],
            "pretrained": pretrained,
            "params": params,
            "gmacs": 1.8,
            "gflops": 3.6,
            "size_mb": 44.6 if pretrained else None,
            "input_size": [3, 224, 224],
            "data_config": {"input_size": [3, 224, 224], "mean": [0.5, 0.5, 0.5]},
        },
        "dataset": {"name": "digits", "split": "test", "num_samples": 100} if accuracy else None,
        "accuracy": accuracy,
        "runs": copy.deepcopy(runs),
        "robustness": None,
        "environment": {"cpu": "Test CPU", "cores": 2, "hardware_profile": hw},
        "config": config
        or {
            "dataset": None,
            "max_samples": 500,
            "backends": sorted({r["backend"] for r in runs}),
            "device": "cpu",
            "batch_sizes": sorted({r["batch_size"] for r in runs}),
            "precisions": sorted({r["precision"] for r in runs}),
            "min_duration_s": 0.1,
            "robustness": False,
            "extra": {},
        },
    }


def flatten_table(records: list[dict[str, Any]]):
    """What store.table's consolidated table looks like: dotted columns, lists as JSON strings."""
    import json

    import pandas as pd

    rows = []
    for rec in records:
        flat: dict[str, Any] = {}

        def walk(prefix: str, obj: Any, flat: dict[str, Any] = flat) -> None:
            if isinstance(obj, dict) and obj:
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else k, v, flat)
            elif isinstance(obj, list):
                flat[prefix] = json.dumps(obj)
            else:
                flat[prefix] = obj

        walk("", rec)
        rows.append(flat)
    return pd.DataFrame(rows)


@contextlib.contextmanager
def installed_board(root, records: list[dict[str, Any]]):
    """A local store under ``root`` holding ``records`` (schema-checked table rebuilt), installed as the
    app's current state for the ``with`` block; yields that state."""
    from harness.record import check_record_dict
    from store import LocalDatasetStore, Stores, layout
    from store.table import rebuild_results_table
    from ui import state

    st = Stores(
        results=LocalDatasetStore(root / "results", "results"),
        queue=LocalDatasetStore(root / "queue", "queue"),
        backend="local",
    )
    for rec in records:
        st.results.write_json(layout.record_path(rec["key"]), rec)
    rebuild_results_table(st.results, validate=check_record_dict)
    previous = state.install(state.AppState.open(st))
    try:
        yield state.current()
    finally:
        state.install(previous)
