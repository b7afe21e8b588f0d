"""Hostname-free description of the machine a result was measured on, and its hardware profile name."""

from __future__ import annotations

import os
import platform
import re
from functools import cache
from importlib import metadata

import settings


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _slug(text: str) -> str:
    text = re.sub(r"\((r|tm)\)|cpu|@.*$|processor", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40]


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        return None


def _gpu_name() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken CUDA install means "no GPU" here
        return None
    return None


def hardware_profile(device: str = "cpu") -> str:
    """Short name that groups comparable measurements, e.g. ``cpu-amd-epyc-7b13-2c`` or ``cuda-nvidia-h100``."""
    override = settings.get("LEADERBOARD_HARDWARE_PROFILE")
    if override:
        return override.strip()
    if device == "cuda":
        gpu = _gpu_name()
        return f"cuda-{_slug(gpu)}" if gpu else "cuda-unknown"
    return f"cpu-{_slug(_cpu_model())}-{len(os.sched_getaffinity(0))}c"


@cache
def describe_environment(device: str = "cpu") -> dict:
    """The ``environment`` block of a result record (no hostname, no user names)."""
    return {
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "gpu": _gpu_name() if device == "cuda" else None,
        "ram_gb": _ram_gb(),
        "machine": platform.machine(),
        "os": platform.system(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "timm": _version("timm"),
        "onnx": _version("onnx"),
        "onnxruntime": _version("onnxruntime"),
        "hardware_profile": hardware_profile(device),
    }
