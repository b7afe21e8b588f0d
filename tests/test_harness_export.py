"""Integration: one ONNX export shared by every ONNX Runtime job, and children that never import torch.

A tiny timm arch (test_resnet, random weights) exported once here; a fresh interpreter then runs the real
measuring child (``harness.measure.run_measure_job``) for fp32 and int8 from that file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from harness.measure import MeasureJob
from tests._harness_helpers import REPO

pytestmark = pytest.mark.slow

CHILD = """
import json, sys
from harness.measure import run_measure_job
out = run_measure_job(json.loads(sys.argv[1]))
print(json.dumps({"torch": "torch" in sys.modules, "timm": "timm" in sys.modules, "out": out}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import torch

    from harness.models import load_model
    from harness.onnx_export import export_onnx

    torch.set_num_threads(1)
    loaded = load_model("test_resnet")
    root = tmp_path_factory.mktemp("eval")
    export = export_onnx(loaded.model, loaded.input_size, root / "onnx" / "model_fp32.onnx")
    calib = np.random.default_rng(0).standard_normal((8, *loaded.input_size), dtype=np.float32)
    np.save(root / "calibration.npy", calib)
    return loaded, root, export


def _child(loaded, root, export, precision: str) -> dict:
    job = MeasureJob(
        model="test_resnet", revision=None, backend="onnxruntime", device="cpu", precision=precision,
        batch_sizes=[1, 2], threads=1, min_duration_s=0.05, workdir=str(root / f"onnxruntime-{precision}"),
        calibration_path=str(root / "calibration.npy") if precision == "int8" else None,
        timing={"max_duration_s": 2.0}, onnx_export=export, input_size=list(loaded.input_size),
        architecture=loaded.architecture, load_ms=12.5,
    )  # fmt: skip
    from dataclasses import asdict

    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(asdict(job))],
        capture_output=True, text=True, timeout=300, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_children_measure_from_the_shared_export_without_torch(exported, precision):
    loaded, root, export = exported
    before = export["path"], (root / "onnx" / "model_fp32.onnx").stat().st_mtime_ns
    got = _child(loaded, root, export, precision)
    assert got["timm"] is False
    # nothing of PyTorch's start-up is paid, int8 included: onnxruntime.tools' package init would import
    # torch for an export helper quantization never uses (harness.quantize registers a stand-in)
    assert got["torch"] is False
    out = got["out"]
    assert out["load_ms"] == 12.5 and out["info"]["max_abs_diff"] == export["max_abs_diff"]
    workdir = root / f"onnxruntime-{precision}"
    assert not (workdir / "model_fp32.onnx").exists()  # no second export
    assert (root / "onnx" / "model_fp32.onnx").stat().st_mtime_ns == before[1]
    if precision == "int8":
        assert (workdir / "model_int8.onnx").is_file() and out["info"]["quantization"]
    for m in out["measurements"]:
        assert m["stop_reason"] in ("converged", "unreachable", "max_duration") and m["iterations"] == len(
            m["samples_ms"]
        )
        iv = m["p50_interval"]
        assert iv["lo"] <= m["latency_ms"]["p50"] <= iv["hi"] and iv["n"] == m["iterations"]
        reached = iv["rel_half_width"] <= 0.01
        assert reached == (m["stop_reason"] == "converged")
        assert reached or "p50 interval not reached" in " ".join(m["noise"]["reasons"])


def test_a_missing_shared_export_is_a_one_line_failure_not_a_silent_reexport(exported, tmp_path):
    loaded, root, export = exported
    gone = dict(export, path=str(tmp_path / "deleted.onnx"))
    job = MeasureJob(
        "test_resnet", None, "onnxruntime", "cpu", "fp32", [1], 1, 0.05, str(tmp_path / "w"),
        onnx_export=gone, input_size=list(loaded.input_size),
    )  # fmt: skip
    from harness.errors import HarnessError
    from harness.measure import run_measure_job

    with pytest.raises(HarnessError, match="shared ONNX export is missing") as exc:
        run_measure_job(job)
    assert "\n" not in str(exc.value)
