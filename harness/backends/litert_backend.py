"""LiteRT (TensorFlow Lite) backend: convert the loaded PyTorch model with ``litert-torch``, run the
``.tflite`` file with ``ai-edge-litert``'s Interpreter (XNNPACK, its default CPU delegate).

Precisions: fp32, and int8 by PT2E quantization (litert-torch's ``PT2EQuantizer``, per-channel symmetric
weights): *full-integer* with the evaluation's calibration images when it has them (int8 activations
too; the file's int8 input/output are (de)quantized with its own scale and zero point outside the timed
call, as a deployed app does in its preprocessing), otherwise *dynamic-range* (int8 weights, activations
quantized inside each kernel at run time). ``info["quantization"]["mode"]`` says which ran.

Batch sizes: the model is converted once, at batch 1, and the interpreter's input is resized per batch
size (``resize_tensor_input``), since a conversion costs tens of seconds (resnet18: ~30 s). A graph that
bakes batch 1 into a reshape cannot be resized; prepare() probes batch 2 against PyTorch and, when that
fails, converts again for each new batch size (``info["batch_mode"]`` says which, with the reason).

A conversion failure is an ``unsupported`` run with the converter's one-line reason. The converter and
the interpreter write progress and log lines to the process's stderr (fd 2); those are captured and kept
out of the harness's output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends import Backend, BackendUnsupported, PrepareRequest, Runner, register_backend

PROBE_BATCH = 2  # the resize probe: a second batch size checked against PyTorch before any timing
REASON_CHARS = 300
# Full-integer calibration runs the observed model one image at a time (it was exported at batch 1).
MAX_CALIBRATION = 64


@register_backend
class LiteRTBackend(Backend):
    name = "litert"
    devices = ("cpu",)
    precisions = ("fp32", "int8")
    runtime_modules = (
        "ai_edge_litert.interpreter",
    )  # what a deployment imports (the converter is build-time)
    summary = "LiteRT/TFLite via litert-torch on XNNPACK (int8: PT2E full-integer with calibration, else dynamic-range)"

    def unsupported_reason(self, device: str, precision: str) -> str | None:
        if device == "cuda":
            return "litert runs on cpu only here (the ai-edge-litert wheel has no CUDA delegate)"
        return super().unsupported_reason(device, precision)

    def prepare(self, request: PrepareRequest) -> Runner:
        reason = self.unsupported_reason(request.device, request.precision)
        if reason:
            raise BackendUnsupported(reason)
        if request.model is None:
            raise BackendUnsupported("litert converts from the PyTorch model, and this process loaded none")
        try:
            with captured_stderr():  # absl/oneDNN/torch notices printed at import
                import litert_torch
                import torchao.quantization.pt2e  # noqa: F401
                from ai_edge_litert import interpreter as _  # noqa: F401 - the runtime must be installed too
        except ImportError as e:
            raise BackendUnsupported(
                f"litert needs {e.name or e}: pip install -r requirements-runtimes.txt"
            ) from None
        litert_torch.config.show_progress = False
        check_single_tensor_output(request)
        workdir = Path(request.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        converter = Conversion(request, workdir)
        path = converter.path_for(1)
        runner = LiteRTRunner(path, request.threads, converter)
        runner.info.update(converter.facts())
        runner.info.update(runner.delegation())
        runner.info.update(check_against_pytorch(runner, request))
        from harness.models import zeroed_norm_layers

        zeroed = len(zeroed_norm_layers(request.model))
        if zeroed:
            runner.info["note"] = (
                f"{zeroed} normalisation layers have an all-zero scale (a checkpoint that "
                "was trained or saved so): the converter folds those branches away, so this .tflite "
                "computes less than the graph other backends run; compare on trained weights"
            )
        return runner


class Conversion:
    """The conversion of one (model, precision), repeatable per batch size; records what it did."""

    def __init__(self, request: PrepareRequest, workdir: Path) -> None:
        self.request = request
        self.workdir = workdir
        self.quantization: dict[str, Any] | None = None
        self.conversion_s: dict[int, float] = {}
        self.sizes_mb: dict[int, float] = {}
        self.paths: dict[int, Path] = {}

    def path_for(self, batch: int) -> Path:
        """The file for ``batch``, converted on first use."""
        if batch not in self.paths:
            self.paths[batch] = self.convert(batch)
        return self.paths[batch]

    def convert(self, batch: int) -> Path:
        """``model_{precision}_b{batch}.tflite`` in the workdir; BackendUnsupported with the converter's reason."""
        import litert_torch
        import torch

        req = self.request
        sample = (torch.from_numpy(_sample(batch, req.input_size, seed=0)),)
        out = self.workdir / f"model_{req.precision}_b{batch}.tflite"
        t0 = time.perf_counter()
        with captured_stderr() as log:
            try:
                if req.precision == "int8":
                    module, quant_config = self._quantized(sample)
                    edge = litert_torch.convert(module, sample, quant_config=quant_config)
                else:
                    edge = litert_torch.convert(req.model, sample)
                edge.export(str(out))
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - any converter failure is this backend's "unsupported"
                raise BackendUnsupported(f"litert conversion failed: {one_line(exc, log())}") from None
        self.conversion_s[batch] = time.perf_counter() - t0
        self.sizes_mb[batch] = out.stat().st_size / 2**20
        return out

    def _quantized(self, sample: tuple[Any, ...]) -> tuple[Any, Any]:
        """The PT2E-quantized module and its QuantConfig: full-integer with calibration images, else
        dynamic-range. A full-integer failure falls back to dynamic-range, with the reason kept."""
        calibration = self.request.calibration
        fallback = None
        if calibration is not None and len(calibration):
            try:
                return self._pt2e(sample, calibration)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001
                fallback = f"full-integer failed: {one_line(exc)}"
        module, config = self._pt2e(sample, None)
        if fallback:
            assert self.quantization is not None
            self.quantization["fallback_reason"] = fallback
        return module, config

    def _pt2e(self, sample: tuple[Any, ...], calibration: np.ndarray | None) -> tuple[Any, Any]:
        import torch
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        dynamic = calibration is None
        spec = int8_spec(dynamic)
        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(**spec))
        module = torch.export.export(self.request.model, sample).module()
        module = prepare_pt2e(module, quantizer)
        images = [] if calibration is None else list(calibration[:MAX_CALIBRATION])
        with torch.no_grad():
            if dynamic:  # the weight observers record ranges in forward(): without a pass, default ranges
                module(*sample)
            for image in images:  # one at a time: exported at batch 1
                module(torch.from_numpy(np.ascontiguousarray(np.asarray(image)[None], dtype=np.float32)))
        module = convert_pt2e(module, fold_quantize=False)
        module.training = False  # an exported GraphModule has no .eval(); the converter checks the flag
        self.quantization = {
            "mode": "dynamic-range" if dynamic else "full-integer",
            "quantizer": "litert_torch PT2EQuantizer",
            "per_channel": spec["is_per_channel"],
            "calibration_samples": int(len(images)),
        }
        return module, QuantConfig(pt2e_quantizer=quantizer)

    def facts(self) -> dict[str, Any]:
        """The record's conversion facts (batch-1 file: the one a deployment ships)."""
        import litert_torch

        return {
            "converter": f"litert-torch {litert_torch.__version__}",
            "conversion_s": round(self.conversion_s[1], 3),
            "tflite_size_mb": self.sizes_mb[1],
            "model_file": f"model_{self.request.precision}_b1.tflite",
            "quantization": self.quantization,
        }


def check_single_tensor_output(request: PrepareRequest) -> None:
    """The runner reads one output tensor (logits); a model returning a dict or tuple (detection,
    segmentation heads) is refused before a conversion is spent on it."""
    import torch

    with torch.no_grad():
        out = request.model(torch.from_numpy(_sample(1, request.input_size, seed=0)))
    if not isinstance(out, torch.Tensor):
        raise BackendUnsupported(
            f"litert measures single-tensor outputs (classifiers); this model returns {type(out).__name__}"
        )


def int8_spec(dynamic: bool) -> dict[str, bool]:
    """PT2E settings: per-channel symmetric weights (what TFLite's int8 kernels expect); the activations
    are observed on calibration images (full-integer) or quantized per call (dynamic-range)."""
    return {"is_per_channel": True, "is_dynamic": dynamic}


class LiteRTRunner(Runner):
    """One Interpreter per batch size in use. ``to_input`` resizes (or, for a graph that cannot be
    resized, loads a per-batch conversion) and copies the batch in, quantizing it for an int8 input;
    ``run`` is ``invoke()`` alone."""

    def __init__(self, path: Path, threads: int, conversion: Conversion | None = None) -> None:
        self.threads = max(1, int(threads))
        self.provider = "litert-xnnpack"
        self.info: dict[str, Any] = {}
        self.conversion = conversion
        self.resizable = True
        self.batch_reason: str | None = None
        self.interpreter = self._load(path)
        self.batch = int(self.input_detail["shape"][0])

    def _load(self, path: Path) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        with captured_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = Interpreter(model_path=str(path), num_threads=self.threads)
            interpreter.allocate_tensors()  # the default delegate (XNNPACK) is applied here
        self.input_detail = interpreter.get_input_details()[0]
        self.output_detail = interpreter.get_output_details()[0]
        return interpreter

    def delegation(self) -> dict[str, Any]:
        """The graph's ops and how many partitions XNNPACK took over (one = the whole graph; more mean
        some ops between them run on the builtin kernels). The Python API does not say which ops those are."""
        ops = Counter(op["op_name"] for op in self.interpreter._get_ops_details())
        partitions = ops.pop("DELEGATE", 0)
        return {
            "delegate": "XNNPACK" if partitions else None,
            "delegate_partitions": partitions,
            "ops": [f"{name} x{n}" for name, n in sorted(ops.items())],  # a list: one table column
            "input_dtype": np.dtype(self.input_detail["dtype"]).name,
        }

    def ensure_batch(self, batch: int) -> None:
        """Make the interpreter take ``batch`` images (not timed: called from ``to_input``)."""
        if batch == self.batch:
            return
        if self.resizable:
            with captured_stderr() as log:
                try:
                    self.interpreter.resize_tensor_input(self.input_detail["index"], [batch, *self._chw()])
                    self.interpreter.allocate_tensors()
                    shape = tuple(self.interpreter.get_output_details()[0]["shape"])
                except Exception as exc:  # noqa: BLE001
                    self.resizable, self.batch_reason = False, f"resize failed: {one_line(exc, log())}"
                else:
                    if shape[0] != batch:
                        self.resizable = False
                        self.batch_reason = f"resize to batch {batch} gave output shape {list(shape)}"
            if self.resizable:
                self.output_detail = self.interpreter.get_output_details()[0]
                self.batch = batch
                return
        if self.conversion is None:
            raise BackendUnsupported(f"this .tflite cannot take batch {batch} ({self.batch_reason})")
        self.interpreter = self._load(self.conversion.path_for(batch))
        self.batch = batch

    def _chw(self) -> list[int]:
        return [int(v) for v in self.input_detail["shape"][1:]]

    def to_input(self, batch: np.ndarray) -> Any:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        self.ensure_batch(int(x.shape[0]))
        detail = self.input_detail
        self.interpreter.set_tensor(detail["index"], quantize(x, detail))
        return x.shape[0]

    def run(self, x: Any) -> Any:
        self.interpreter.invoke()
        return x

    def to_numpy(self, out: Any) -> np.ndarray:
        return dequantize(self.interpreter.get_tensor(self.output_detail["index"]), self.output_detail)


def quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """A float batch as the input tensor wants it: unchanged for float, ``round(x/scale)+zp`` for int."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype, copy=False)
    scale, zero_point = detail["quantization"]
    if not scale:
        raise BackendUnsupported(f"litert: the {dtype.name} input has no quantization scale")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Output logits as float32: ``(q - zp) * scale`` for an integer output."""
    if np.dtype(y.dtype).kind == "f":
        return np.asarray(y, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


def check_against_pytorch(runner: LiteRTRunner, request: PrepareRequest) -> dict[str, Any]:
    """Max |LiteRT - PyTorch fp32| at batch 1 and at the resize probe (batch 2), and how batches are run.

    Inputs are calibration images when the request has them (int8: an int8 model is only accurate on
    inputs like those it was calibrated on), else seeded normal noise.

    A resized graph whose batch-2 error is far above its batch-1 error (10x, and over 1e-3 of the logits'
    scale) kept a batch-1 constant somewhere: such a model is converted per batch size instead."""
    import torch

    diffs = []
    images = request.calibration
    for batch in (1, PROBE_BATCH):
        if images is not None and len(images) >= 1 + PROBE_BATCH:
            x = np.ascontiguousarray(images[batch - 1 : 2 * batch - 1], dtype=np.float32)  # [0] then [1:3]
        else:
            x = _sample(batch, request.input_size, seed=batch)
        with torch.no_grad():
            ref = request.model(torch.from_numpy(x)).float().numpy()
        got = runner.predict(x)
        if got.shape != ref.shape:
            raise BackendUnsupported(
                f"litert output shape {list(got.shape)} differs from PyTorch {list(ref.shape)}"
            )
        diffs.append(float(np.abs(got - ref).max()))
    if runner.resizable and diffs[1] > max(10 * diffs[0], 1e-3 * max(1.0, float(np.abs(ref).max()))):
        runner.resizable = False
        runner.batch_reason = f"resized to batch {PROBE_BATCH} it differs from PyTorch by {diffs[1]:.3g}"
        diffs.pop()
    runner.ensure_batch(1)
    return {
        "max_abs_diff": max(diffs),
        "batch_mode": "resize_tensor_input" if runner.resizable else "convert per batch size",
        "batch_mode_reason": runner.batch_reason,
    }


def _sample(batch: int, input_size: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *input_size)).astype(np.float32)


def one_line(exc: BaseException, log: str = "") -> str:
    """The converter's reason in one line: the exception's first line, else the last error line it logged
    (torch.export and MLIR errors run to pages; their first line names the problem)."""
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    if not first:
        first = next((ln.strip() for ln in reversed(log.splitlines()) if "error" in ln.lower()), "")
    return f"{type(exc).__name__}: {first}"[:REASON_CHARS] if first else type(exc).__name__


@contextlib.contextmanager
def captured_stderr() -> Iterator[Any]:
    """Send fd 2 (C++ logs, progress bars) to a temporary file for the block; yields a reader of it."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)

        def read() -> str:
            sys.stderr.flush()
            tmp.seek(0)
            return tmp.read()[-20_000:].decode("utf-8", "replace")

        try:
            yield read
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
