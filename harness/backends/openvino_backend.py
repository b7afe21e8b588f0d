"""OpenVINO backend: the evaluation's shared fp32 ONNX export, read and compiled by OpenVINO on the CPU.

Settings are explicit so two records are comparable:

* ``PERFORMANCE_HINT = LATENCY`` always. The harness times one synchronous request at a time, which is
  the case LATENCY is for (one stream using every inference thread); THROUGHPUT splits the cores into
  several streams that only pay off with many requests in flight, so under this loop it would measure a
  fraction of the machine. One rule for every batch size; the streams and threads OpenVINO then chose are
  read back from the compiled model and recorded.
* ``INFERENCE_NUM_THREADS`` = the request's threads; ``INFERENCE_PRECISION_HINT = f32`` for fp32, because
  OpenVINO otherwise runs "fp32" models in bf16 on CPUs that have bf16 instructions (Zen 4/5, Sapphire Rapids).
* One static shape per batch size, compiled on first use in :meth:`OpenVinoRunner.to_input` (untimed), as a
  deployment would ship it; the compile time of each shape is recorded (``compile_ms``).

INT8 is NNCF post-training quantization (``nncf.quantize``, mixed preset: symmetric weights, asymmetric
activations) of the same graph with the same calibration images the ONNX Runtime INT8 path uses. NNCF
imports torch on its own when torch is installed, so the INT8 child is not torch-free; fp32 is.
The output is checked against PyTorch fp32 on the export's verification batch (``max_abs_diff``).
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends import Backend, BackendUnsupported, PrepareRequest, Runner, register_backend

INSTALL_HINT = "pip install -r requirements-runtimes.txt"
HINT = "LATENCY"


def import_openvino() -> Any:
    """``openvino`` or BackendUnsupported with the install hint (it lives in the runtimes extras)."""
    try:
        import openvino
    except ImportError as e:
        raise BackendUnsupported(f"openvino is not installed ({e.name or e}); {INSTALL_HINT}") from None
    return openvino


@register_backend
class OpenVinoBackend(Backend):
    name = "openvino"
    devices = ("cpu",)
    precisions = ("fp32", "int8")
    summary = "OpenVINO on the exported graph, LATENCY hint, f32 (int8: NNCF post-training quantization)"
    consumes_onnx = True
    runtime_modules = ("openvino",)

    def prepare(self, request: PrepareRequest) -> Runner:
        reason = self.unsupported_reason(request.device, request.precision)
        if reason:
            raise BackendUnsupported(reason)
        ov = import_openvino()
        if request.precision == "int8":
            _import_nncf()
        from harness.backends.onnxruntime_backend import _export_once, _shared_export

        workdir = Path(request.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        export = _shared_export(request) or _export_once(request, workdir)
        core = ov.Core()
        model = core.read_model(str(export["path"]))
        info: dict[str, Any] = {
            "openvino": ov.get_version(),
            "onnx_size_mb": export["size_mb"],
            "exporter": export["exporter"],
            "opset": export["opset"],
            "onnx_batch": export.get("batch"),
            "quantization": None,
        }
        if request.precision == "int8":
            model, info["quantization"] = _quantize(model, request.calibration)
        info["ir_size_mb"] = _saved_size_mb(ov, model, workdir / f"model_{request.precision}.xml")
        config = {
            "PERFORMANCE_HINT": HINT,
            "INFERENCE_NUM_THREADS": max(1, int(request.threads)),
            "INFERENCE_PRECISION_HINT": "f32",
        }
        runner = OpenVinoRunner(core, model, config, info)
        reference = export.get("reference_path")
        if reference and Path(reference).is_file():
            with np.load(reference) as ref:
                got = runner.predict(ref["input"])
                diff = np.abs(got.astype(np.float64) - ref["logits"].astype(np.float64))
                info["max_abs_diff"] = float(diff.max())
                info["reference"] = "PyTorch fp32 on the export's verification batch"
        return runner


class OpenVinoRunner(Runner):
    """One compiled model per batch size (static shapes), each compiled the first time that size is fed."""

    provider = "openvino-CPU"

    def __init__(self, core: Any, model: Any, config: dict[str, Any], info: dict[str, Any]) -> None:
        self.core, self.model, self.config = core, model, config
        self.threads = int(config["INFERENCE_NUM_THREADS"])
        self.info = info
        info.update(performance_hint=HINT, inference_precision="f32", compile_ms={})
        self._requests: dict[int, Any] = {}

    def _request(self, batch: int) -> Any:
        found = self._requests.get(batch)
        if found is not None:
            return found
        model = self.model.clone()
        model.reshape([batch, *list(self.model.input(0).get_partial_shape())[1:]])
        t0 = time.perf_counter()
        compiled = self.core.compile_model(model, "CPU", self.config)
        self.info["compile_ms"][str(batch)] = (time.perf_counter() - t0) * 1000
        self.info["num_streams"] = int(compiled.get_property("NUM_STREAMS"))
        self.threads = int(compiled.get_property("INFERENCE_NUM_THREADS"))
        self.info["inference_num_threads"] = self.threads
        precision = compiled.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type; what OpenVINO runs
        self.info["execution_precision"] = getattr(precision, "get_type_name", lambda: str(precision))()
        request = compiled.create_infer_request()
        self._requests[batch] = request
        return request

    def to_input(self, batch: np.ndarray) -> tuple[Any, np.ndarray]:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return self._request(int(x.shape[0])), x

    def run(self, x: tuple[Any, np.ndarray]) -> Any:
        request, data = x
        request.infer({0: data})
        return request

    def to_numpy(self, out: Any) -> np.ndarray:
        return np.array(out.get_output_tensor(0).data, dtype=np.float32)


def _import_nncf() -> Any:
    import logging

    # NNCF imports torch's C++ extension helper, which warns about CUDA_HOME on every CPU machine.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        import nncf
    except ImportError as e:
        raise BackendUnsupported(f"openvino int8 needs nncf ({e.name or e}); {INSTALL_HINT}") from None
    return nncf


def _quantize(model: Any, calibration: np.ndarray | None) -> tuple[Any, dict[str, Any]]:
    """NNCF post-training quantization of the OpenVINO model over the calibration images, one per item."""
    import logging

    from harness.quantize import MissingCalibration, QuantizationError, check_calibration

    nncf = _import_nncf()
    try:
        images = check_calibration(calibration, "input")
    except MissingCalibration as e:
        raise BackendUnsupported(f"openvino int8: {e}") from None
    except QuantizationError as e:
        raise BackendUnsupported(f"openvino int8: {e}") from None
    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf_log.setLevel(logging.WARNING)  # NNCF logs its statistics at INFO
    chatter = io.StringIO()  # and draws progress bars on stdout: not the harness's quiet CLI output
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            dataset = nncf.Dataset([images[i : i + 1] for i in range(len(images))])
            quantized = nncf.quantize(
                model, dataset, preset=nncf.QuantizationPreset.MIXED, subset_size=len(images)
            )
    finally:
        nncf_log.setLevel(level)
    n_fq = sum(1 for op in quantized.get_ops() if op.get_type_name() == "FakeQuantize")
    if n_fq == 0:
        raise BackendUnsupported("openvino int8: NNCF left no quantized operation in the graph")
    return quantized, {
        "method": "nncf-ptq",
        "nncf": nncf.__version__,
        "preset": "mixed",
        "calibration_samples": int(len(images)),
        "fake_quantize_nodes": n_fq,
        "quantize_s": time.perf_counter() - t0,
    }


def _saved_size_mb(ov: Any, model: Any, xml: Path) -> float:
    """Size of the OpenVINO IR (xml + bin) a deployment would ship; weights kept as they are (no fp16)."""
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return sum(p.stat().st_size for p in (xml, xml.with_suffix(".bin"))) / 2**20
