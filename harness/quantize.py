"""INT8 post-training quantization of an exported fp32 ONNX classifier with ONNX Runtime's tooling.

Two modes, picked from the graph's op mix rather than the model's name (names lie; graphs do not):

* ``static-qdq`` for convolutional nets: ``quant_pre_process`` (shape inference + ORT graph optimisation),
  then ``quantize_static`` in QDQ format with per-channel int8 weights and uint8 activations whose ranges
  come from MinMax calibration over real preprocessed images. Needs calibration data.
* ``dynamic-matmul`` for transformers (a graph with Softmax whose MatMuls outnumber its Convs, or no Conv at
  all): ``quantize_dynamic`` of MatMul weights only; activation ranges are computed per batch at run time,
  which is what attention's wide, input-dependent ranges need. No calibration.

On x86 CPUs without VNNI the weights use 7-bit range (``reduce_range``) to avoid int16 saturation in the
u8s8 kernels, as ONNX Runtime's documentation recommends; the record says which was used.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CALIBRATION_BATCH = 16
MAX_CALIBRATION_SAMPLES = 512


class QuantizationError(ValueError):
    """INT8 quantization cannot be done as asked (one-line reason)."""


class MissingCalibration(QuantizationError):
    """Static quantization was chosen but no calibration images were given."""


def op_counts(path: str | Path) -> Counter[str]:
    """Node counts by op type, including nodes inside local functions."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    counts: Counter[str] = Counter(n.op_type for n in model.graph.node)
    for fn in model.functions:
        counts.update(n.op_type for n in fn.node)
    return counts


def choose_mode(counts: Counter[str]) -> str:
    """``dynamic-matmul`` for attention/MatMul-heavy graphs, ``static-qdq`` for conv nets."""
    convs = counts.get("Conv", 0)
    matmuls = counts.get("MatMul", 0) + counts.get("Gemm", 0)
    attention = counts.get("Softmax", 0) + counts.get("Attention", 0) + counts.get("MultiHeadAttention", 0)
    if convs == 0 and matmuls == 0:
        raise QuantizationError("the graph has no Conv, MatMul or Gemm nodes: nothing for INT8 to speed up")
    if convs == 0 or (attention > 0 and matmuls >= convs):
        return "dynamic-matmul"
    return "static-qdq"


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has 8-bit dot-product instructions (VNNI/AMX); non-x86 counts as yes."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


class _Calibration:
    """``CalibrationDataReader`` over a float32 NCHW array, in fixed-size batches."""

    def __init__(self, input_name: str, images: np.ndarray, batch: int = CALIBRATION_BATCH) -> None:
        self.input_name = input_name
        self.images = images
        self.batch = batch
        self.pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.pos >= len(self.images):
            return None
        chunk = self.images[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return {self.input_name: np.ascontiguousarray(chunk, dtype=np.float32)}

    def rewind(self) -> None:
        self.pos = 0


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration: np.ndarray | None,
    architecture: str = "",
    *,
    mode: str | None = None,
) -> dict[str, Any]:
    """Write an INT8 copy of ``fp32_path`` to ``out_path``; returns facts for the result record.

    ``mode`` forces ``static-qdq`` or ``dynamic-matmul``; by default it is chosen from the op mix.
    ``architecture`` is only echoed into the result (the choice does not depend on it).
    """
    import onnx

    _without_torch_export_helper()
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationMethod

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if not fp32_path.is_file():
        raise QuantizationError(f"no fp32 ONNX model at {fp32_path}")
    counts = op_counts(fp32_path)
    chosen = mode or choose_mode(counts)
    if chosen not in ("static-qdq", "dynamic-matmul"):
        raise QuantizationError(f"unknown quantization mode {chosen!r}; use static-qdq or dynamic-matmul")
    reduce_range = not cpu_has_vnni()
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    out_path.parent.mkdir(parents=True, exist_ok=True)

    info: dict[str, Any] = {
        "mode": chosen,
        "architecture": architecture,
        "weight_type": "int8",
        "reduce_range": reduce_range,
        "op_counts": {k: counts[k] for k in ("Conv", "MatMul", "Gemm", "Softmax") if counts.get(k)},
    }
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp, _quiet_quantizer_log():
        pre = Path(tmp) / "preprocessed.onnx"
        info["preprocess"] = _preprocess(fp32_path, pre)
        source = pre if info["preprocess"] != "skipped" else fp32_path
        if chosen == "static-qdq":
            images = check_calibration(calibration, input_name)
            quantize_static(
                str(source),
                str(out_path),
                _Calibration(input_name, images),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
            info.update(per_channel=True, activation_type="uint8", calibration_samples=int(len(images)))
        else:
            quantize_dynamic(
                str(source),
                str(out_path),
                op_types_to_quantize=["MatMul"],
                per_channel=False,
                reduce_range=reduce_range,
                weight_type=QuantType.QInt8,
            )
            info.update(per_channel=False, activation_type="uint8 (dynamic)", calibration_samples=0)

    quantized = op_counts(out_path)
    n_quant = sum(quantized.get(k, 0) for k in ("QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger"))
    if n_quant == 0:
        raise QuantizationError(f"{chosen} quantization left no INT8 node in the graph")
    info.update(
        path=str(out_path),
        size_mb=out_path.stat().st_size / 2**20,
        fp32_size_mb=fp32_path.stat().st_size / 2**20,
        quantized_nodes=int(n_quant),
    )
    return info


class _DropPerChannelNoise(logging.Filter):
    """ORT logs one root-level warning per 1-D norm weight it declines to quantize per channel; drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is out-of-range for weight" not in str(record.msg)


@contextlib.contextmanager
def _quiet_quantizer_log() -> Iterator[None]:
    root, noise = logging.getLogger(), _DropPerChannelNoise()
    root.addFilter(noise)
    try:
        yield
    finally:
        root.removeFilter(noise)


def check_calibration(calibration: np.ndarray | None, input_name: str) -> np.ndarray:
    """The calibration images every INT8 path uses (ONNX Runtime, OpenVINO), checked and capped."""
    if calibration is None or len(calibration) == 0:
        raise MissingCalibration(
            "static INT8 quantization of a conv net needs calibration images (give a dataset); none were given"
        )
    arr = np.asarray(calibration)
    if arr.ndim != 4 or not np.issubdtype(arr.dtype, np.floating):
        raise QuantizationError(
            f"calibration must be float NCHW images, got shape {arr.shape} dtype {arr.dtype}"
        )
    if not np.isfinite(arr).all():
        raise QuantizationError("calibration images contain NaN or infinite values")
    return arr[:MAX_CALIBRATION_SAMPLES].astype(np.float32, copy=False)


def _without_torch_export_helper() -> None:
    """``onnxruntime.tools`` imports torch (seconds, hundreds of MB) whenever it is installed, only to offer a
    PyTorch export helper that quantization never calls. In a child that never loaded torch, register an
    empty stand-in for that helper module first, so the INT8 path starts as fast as the fp32 one."""
    import sys
    import types

    name = "onnxruntime.tools.pytorch_export_helpers"
    if "torch" in sys.modules or name in sys.modules:
        return

    def infer_input_info(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the PyTorch export helper is not loaded in this process (see harness.quantize)")

    stand_in = types.ModuleType(name)
    stand_in.infer_input_info = infer_input_info  # type: ignore[attr-defined]
    sys.modules[name] = stand_in


def _preprocess(src: Path, dst: Path) -> str:
    """ORT's recommended pre-pass; symbolic shape inference can fail on exotic graphs, so degrade stepwise."""
    _without_torch_export_helper()
    from onnxruntime.quantization.shape_inference import quant_pre_process

    for label, kwargs in (("full", {}), ("no-symbolic-shape", {"skip_symbolic_shape": True})):
        try:
            quant_pre_process(str(src), str(dst), **kwargs)
            return label
        except Exception as e:  # noqa: BLE001 - fall through to a lighter pre-pass
            log.warning("quant_pre_process (%s) failed: %s", label, str(e).splitlines()[0] if str(e) else e)
    return "skipped"
