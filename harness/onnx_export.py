"""Export a PyTorch image classifier to one self-contained ONNX file with a dynamic batch axis, and prove it.

Exporter choice (measured with torch 2.14.1, onnxscript 0.7.2, onnxruntime 1.32, timm 1.0.31): both of
torch's exporters export resnet10t, mobilenetv3, efficientnet, convnext, levit, deit/vit and swin with a
dynamic batch and match PyTorch to ~1e-6 in ONNX Runtime. We use the **dynamo exporter** (``dynamo=True``,
torch's default and the only one still developed; the TorchScript exporter is deprecated): it captures the
graph with ``torch.export`` (so the batch axis is a real symbolic ``Dim`` checked by the exporter, not a name
pasted on afterwards), handles ``scaled_dot_product_attention`` natively (opset 18+), and runs onnxscript's
optimizer. It is slower to export (2-12 s vs 0.1-2.5 s on CPU), which does not matter next to the benchmark.
When it fails (data-dependent control flow that ``torch.export`` cannot trace), we fall back to the
TorchScript exporter at opset 17 and record ``exporter="torchscript"`` with the reason, so the record says
which graph was measured. A model family for which this cannot work declares its own :class:`ExportPlan`
(exporters to try, and whether the graph is traced at one fixed batch size), with the reason.

Every export is verified before anyone times it: ``onnx.checker``, a symbolic batch axis on input and
output, all weights inside the one file, and ONNX Runtime vs PyTorch on a batch of 2 random inputs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
MAX_BATCH = 1024
TORCHSCRIPT_OPSET = 17
# |onnx - torch| must stay below ATOL + RTOL * max|torch| (fp32 graphs land around 1e-6 relative).
ATOL = 1e-4
RTOL = 1e-3


class OnnxExportError(RuntimeError):
    """The model could not be exported to a valid ONNX file that reproduces PyTorch (one-line reason)."""


@dataclass(frozen=True)
class ExportPlan:
    """How a model family exports: which exporters to try, in order, and whether its graph can keep a
    dynamic batch axis. A module declares its own as ``onnx_export_plan`` (see :func:`export_plan`) when
    the default (dynamo with a dynamic batch, then TorchScript) cannot work for it, with the reason."""

    exporters: tuple[str, ...] = ("dynamo", "torchscript")
    fixed_batch: bool = False  # the graph is traced at one batch size and runs only at that size
    reason: str | None = None  # why this family departs from the default (kept in the record)


DEFAULT_PLAN = ExportPlan()


def export_plan(model: Any) -> ExportPlan:
    """The model's declared :class:`ExportPlan` (the default when it declares none)."""
    plan = getattr(model, "onnx_export_plan", None)
    return plan if isinstance(plan, ExportPlan) else DEFAULT_PLAN


def export_onnx(
    model: Any,
    input_size: tuple[int, ...],
    path: str | Path,
    *,
    threads: int = 1,
    atol: float = ATOL,
    rtol: float = RTOL,
    seed: int = 0,
    output_kind: str = "logits",
    batch: int = 1,
) -> dict[str, Any]:
    """Export ``model`` (eval, CPU, fp32) to ``path`` and verify it; returns facts for the result record.

    The graph keeps a dynamic batch axis unless the model's :class:`ExportPlan` says it cannot; then it
    is traced at ``batch`` and runs only at that size (``facts["batch"]``, else None).

    Returns ``dict(path, reference_path, size_mb, max_abs_diff, tolerance, opset, exporter, export_s,
    fallback_reason, batch)``. Raises :class:`OnnxExportError` when no exporter produces a valid file or
    outputs differ beyond tolerance.
    """
    import torch

    plan = export_plan(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = tuple(int(s) for s in input_size)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    fixed = int(batch) if plan.fixed_batch else None
    # batch 2 for a dynamic axis: a batch of 1 would be specialised away
    example = torch.randn((fixed or 2, *size), generator=gen)

    failures: list[str] = []
    start = time.perf_counter()
    for exporter in plan.exporters:
        try:
            _EXPORTERS[exporter](model, example, path, fixed is None)
            break
        except Exception as e:  # noqa: BLE001 - any failure sends us to the next exporter
            root = _root_cause(e)
            failures.append(f"{exporter} exporter failed ({type(root).__name__}): {_first_line(root)}")
            log.info("%s", failures[-1])  # in the record when a later exporter succeeds
            _remove_outputs(path)
    else:
        raise OnnxExportError(
            f"ONNX export failed with {_exporters_named(plan.exporters)}: " + "; ".join(failures)
        )
    export_s = time.perf_counter() - start
    fallback_reason = "; ".join(failures) or plan.reason

    opset = check_onnx_file(path, fixed)
    max_abs_diff, tolerance = 0.0, 0.0
    # batch 1 and then batch 2: a graph whose batch axis is named dynamic but was traced at 2 (a loop over
    # the images unrolled, as in detectors) fails at 1 here, not later in the middle of a measurement; batch
    # 1 goes first because that is where such graphs fail, and it is the cheaper run on a large detector
    checked = []
    for n in (fixed,) if fixed else (1, 2):
        x = torch.randn((n, *size), generator=gen)
        diff, tol, expected = _verify(model, path, x, output_kind, threads, atol, rtol)
        if not np.isfinite(diff) or diff > tol:
            raise OnnxExportError(
                f"ONNX Runtime output differs from PyTorch by {diff:.3g} (tolerance {tol:.3g}, {exporter})"
            )
        max_abs_diff, tolerance = max(max_abs_diff, diff), max(tolerance, tol)
        checked.append((x, expected))
    # The last verification inputs and PyTorch's outputs, so backends that never load torch (OpenVINO) can
    # check their own output against PyTorch fp32 on the same inputs.
    reference = path.with_name(path.stem + ".reference.npz")
    np.savez(reference, input=checked[-1][0].numpy(), logits=checked[-1][1])
    return {
        "path": str(path),
        "reference_path": str(reference),
        "size_mb": path.stat().st_size / 2**20,
        "max_abs_diff": max_abs_diff,
        "tolerance": tolerance,
        "opset": opset,
        "exporter": exporter,
        "export_s": export_s,
        "fallback_reason": fallback_reason,
        "batch": fixed,
    }


def _exporters_named(names: tuple[str, ...]) -> str:
    return "both exporters" if len(names) == 2 else f"the {' and '.join(names)} exporter"


def _verify(
    model: Any, path: Path, x: Any, output_kind: str, threads: int, atol: float, rtol: float
) -> tuple[float, float, np.ndarray]:
    """(difference, tolerance, PyTorch's output) between PyTorch and ONNX Runtime on one random batch."""
    import torch

    with torch.no_grad():
        expected = _logits(model(x)).float().numpy()
    try:
        got = run_onnx_cpu(path, x.numpy(), threads=threads)
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
        raise OnnxExportError(f"the exported graph fails at batch {len(x)}: {_first_line(e)}") from e
    if got.shape != expected.shape:
        raise OnnxExportError(f"ONNX output shape {got.shape} differs from PyTorch {expected.shape}")
    if output_kind == "logits":
        diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
        return diff, atol + rtol * float(np.max(np.abs(expected))), expected
    from harness.tasks.adapters import output_difference  # a task model's packed output

    return (*output_difference(output_kind, expected, got, atol, rtol), expected)


def _export_dynamo(model: Any, example: Any, path: Path, dynamic: bool = True) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    shapes = ({0: batch},) if dynamic else None
    # torch.export prints whole graphs when it gives up; keep them out of the harness log (debug level only).
    chatter = io.StringIO()
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                optimize=True,
                verbose=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=shapes,
            )
    finally:
        if chatter.getvalue().strip():
            log.debug("dynamo exporter output:\n%s", chatter.getvalue())


def _export_torchscript(model: Any, example: Any, path: Path, dynamic: bool = True) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=TORCHSCRIPT_OPSET,
            do_constant_folding=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None,
        )


_EXPORTERS = {"dynamo": _export_dynamo, "torchscript": _export_torchscript}


def check_onnx_file(path: str | Path, batch: int | None = None) -> int:
    """Validate a single-file graph with a symbolic batch axis (or, given ``batch``, one fixed at that
    size); returns its default-domain opset."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise OnnxExportError(f"exporter wrote no file at {path}")
    model = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise OnnxExportError(
            f"ONNX file keeps {len(external)} weights outside the file (e.g. {external[0]})"
        )
    try:
        onnx.checker.check_model(str(path), full_check=False)
    except Exception as e:  # noqa: BLE001 - checker raises ValidationError and friends
        raise OnnxExportError(f"onnx.checker rejected the exported model: {_first_line(e)}") from e
    graph_inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(graph_inputs) != 1 or len(model.graph.output) != 1:
        raise OnnxExportError(
            f"expected one image input and one logits output, got {len(graph_inputs)} and {len(model.graph.output)}"
        )
    for value in (graph_inputs[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        if batch is not None:
            if not dims or dims[0].dim_value != batch:
                raise OnnxExportError(
                    f"{value.name!r} does not have the fixed batch axis {batch} it was traced at"
                )
        elif not dims or dims[0].HasField("dim_value"):
            raise OnnxExportError(f"{value.name!r} has a fixed batch axis; the export must keep it dynamic")
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def run_onnx_cpu(path: str | Path, batch: np.ndarray, threads: int = 1) -> np.ndarray:
    """Run a classifier graph once on ONNX Runtime's CPU provider (verification, not timing)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4  # fatal only: a failing verification run is raised, not printed
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    run_opts = ort.RunOptions()
    run_opts.log_severity_level = 4
    return np.asarray(sess.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)}, run_opts)[0])


def _logits(out: Any) -> Any:
    """timm classifiers return a tensor; a few (distilled heads) may return a tuple whose first item is logits."""
    if isinstance(out, list | tuple):
        out = out[0]
    return out


def _remove_outputs(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".data")):
        p.unlink(missing_ok=True)


def _root_cause(e: BaseException) -> BaseException:
    """torch.onnx wraps the real reason (e.g. a data-dependent guard) in a generic 'step 1/3' error."""
    seen = {id(e)}
    while (nxt := e.__cause__ or e.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        e = nxt
    return e


def _first_line(e: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # torch colours its export errors
    return text.splitlines()[0][:300] if text else type(e).__name__
