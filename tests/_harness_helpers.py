"""Shared fixtures for harness tests: a tiny timm model trained on real digits, saved in timm's Hub layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ARCH = "test_resnet"
INPUT = 32
PRETRAINED_CFG = {
    "input_size": [3, INPUT, INPUT],
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "crop_mode": "center",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
}


def train_digits_model(out_dir: Path, epochs: int = 6, seed: int = 0) -> Path:
    """Train ``test_resnet`` on the digits train split for a fixed number of epochs (not seconds: a busy
    machine must not give a less-trained model); save config.json + model.safetensors."""
    import timm
    import torch

    from harness.data import load_digits_split, make_transform, to_tensor_batch
    from harness.models import save_hub_layout

    torch.manual_seed(seed)
    model = timm.create_model(ARCH, pretrained=False, num_classes=10, pretrained_cfg=dict(PRETRAINED_CFG))
    train = load_digits_split("train")
    x = torch.from_numpy(to_tensor_batch(train.images, make_transform(PRETRAINED_CFG)))
    y = torch.from_numpy(train.labels)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    save_hub_layout(model, ARCH, out_dir, PRETRAINED_CFG)
    return out_dir


def independent_accuracy(model_dir: Path, max_samples: int | None = None) -> tuple[float, float]:
    """Top-1/top-5 with a plain torch loop (timm model + timm transforms), not using the harness's code paths
    beyond the shared digits split."""
    import json

    import timm
    import torch
    from safetensors.torch import load_file
    from timm.data import create_transform, resolve_model_data_config

    from harness.data import load_digits_split, subset

    cfg = json.loads((model_dir / "config.json").read_text())
    model = timm.create_model(
        cfg["architecture"], num_classes=cfg["num_classes"], pretrained_cfg=cfg["pretrained_cfg"]
    )
    model.load_state_dict(load_file(str(model_dir / "model.safetensors")))
    model.eval()
    tf = create_transform(**resolve_model_data_config(model))
    test = subset(load_digits_split("test"), max_samples)
    correct1 = correct5 = 0
    with torch.no_grad():
        for img, label in zip(test.images, test.labels, strict=True):
            logits = model(tf(img).unsqueeze(0))[0]
            top5 = torch.topk(logits, 5).indices.tolist()
            correct1 += int(top5[0] == label)
            correct5 += int(label in top5)
    n = len(test.labels)
    return 100.0 * correct1 / n, 100.0 * correct5 / n


def prepare_request(model, workdir: Path, size: tuple[int, ...], architecture: str, **kw):
    """A CPU fp32 single-thread PrepareRequest for backend tests; ``kw`` overrides any field."""
    from harness.backends import PrepareRequest

    base = dict(model=model, input_size=size, device="cpu", precision="fp32", threads=1, workdir=workdir)
    return PrepareRequest(**{**base, "architecture": architecture, **kw})


def run_cli(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_module("harness", *args, timeout=timeout, env=env)


def run_module(
    module: str, *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` from the repo root; ``env`` overrides this process's environment."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=full_env,
    )


def rank_consistent(samples: list[float], stats: dict) -> bool:
    a = np.asarray(samples)
    return bool(
        np.isclose(stats["mean"], a.mean())
        and np.isclose(stats["min"], a.min())
        and np.isclose(stats["max"], a.max())
        and np.isclose(stats["p50"], np.median(a))
    )


def allocation_faults(megabytes: int) -> dict:
    """In a measuring child: minor page faults per pass of allocating, touching and freeing one
    ``megabytes`` buffer (what a forward pass does with its activations), and the allocator settings."""
    from harness import allocator

    # numpy asks for transparent huge pages on big arrays, and whether the kernel has 2 MiB pages to give
    # depends on how fragmented the host's memory is (8 or 4,096 faults per fresh 16 MiB): ask for none
    np._core.multiarray._set_madvise_hugepage(False)
    size = megabytes << 20
    for _ in range(3):  # warm-up, as the harness does
        np.ones(size, dtype=np.uint8)
    before = allocator.minor_page_faults()
    for _ in range(20):
        np.ones(size, dtype=np.uint8)
    return {
        "faults_per_pass": (allocator.minor_page_faults() - before) / 20,
        "allocator": allocator.in_force(),
    }


def fresh_mapping_faults(megabytes: int) -> float:
    """The fewest faults that map ``megabytes`` afresh: one per 4 KiB page, or per 2 MiB page where the
    kernel gives transparent huge pages to every mapping (``always``), requested or not."""
    try:
        mode = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        mode = ""
    return (megabytes << 20) / ((2 << 20) if "[always]" in mode else 4096)
