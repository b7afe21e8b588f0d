"""``torch.compile`` (inductor) backend: the PyTorch model compiled ahead of timing, one graph per batch size.

Compilation is lazy in PyTorch (it happens on the first call of each input shape), so the runner makes that
first call itself, untimed: in :meth:`prepare` for a batch of one (a compile failure there is
``unsupported`` with the compiler's one-line reason) and in :meth:`CompiledRunner.to_input` for each new
batch size. Each compile's wall time goes to ``info["compile_ms"]`` (per batch size) and is never part of
the latency. Shapes are static (``dynamic=False``): what a deployment compiles for a fixed batch. While a
shape is timed, dynamo is set to raise on any recompile, so a guard failure cannot hide inside the
warm-up or the samples: it fails that batch size loudly instead.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from harness.backends import BackendUnsupported, PrepareRequest, Runner, register_backend
from harness.backends.pytorch_backend import PyTorchBackend, TorchRunner

MODE = "default"  # inductor's default mode; max-autotune's compile times (minutes on CPU) dwarf a benchmark


class CompiledRunner(TorchRunner):
    """TorchRunner whose forward is the compiled module; new shapes are compiled in :meth:`to_input`."""

    def __init__(self, model: Any, device: str, precision: str, threads: int) -> None:
        import torch

        super().__init__(model, device, precision, threads)
        self.eager = self.model
        self.model = torch.compile(self.eager, backend="inductor", mode=MODE, dynamic=False, fullgraph=False)
        self.provider = f"inductor-{device}"
        self.info.update(compiler="inductor", mode=MODE, dynamic=False, compile_ms={})
        self._compiled: set[int] = set()

    def to_tensor(self, batch: np.ndarray) -> Any:
        return super().to_input(batch)

    def to_input(self, batch: np.ndarray) -> Any:
        x = self.to_tensor(batch)
        n = int(x.shape[0])
        if n not in self._compiled:
            self._compile(x)
        return x

    def _compile(self, x: Any) -> None:
        import torch._dynamo

        n = int(x.shape[0])
        torch._dynamo.config.error_on_recompile = False  # this call is the (re)compile for a new shape
        t0 = time.perf_counter()
        try:
            super().run(x)
            self.sync()
        finally:
            torch._dynamo.config.error_on_recompile = True  # from here on, a recompile is an error
        self.info["compile_ms"][str(n)] = (time.perf_counter() - t0) * 1000
        self._compiled.add(n)


@register_backend
class TorchCompileBackend(PyTorchBackend):
    """PyTorch eager's devices, precisions and checks; only the runner differs."""

    name = "torch-compile"
    summary = "torch.compile (inductor, static shapes), compiled before timing; compile time recorded"
    runner_class = CompiledRunner

    def prepare(self, request: PrepareRequest) -> Runner:
        import torch

        runner = super().prepare(request)
        assert isinstance(runner, CompiledRunner)
        x = np.random.default_rng(0).standard_normal((1, *request.input_size), dtype=np.float32)
        with torch.inference_mode():
            expected = runner.eager(runner.to_tensor(x)).float().cpu().numpy()
        try:
            got = runner.predict(x)  # compiles batch size 1
        except Exception as exc:  # noqa: BLE001 - any compiler failure is this backend not running the model
            raise BackendUnsupported(f"torch.compile failed: {_one_line(exc)}") from None
        runner.info["max_abs_diff"] = float(np.abs(got.astype(np.float64) - expected).max())
        runner.info["reference"] = "PyTorch eager, same precision, batch of 1"
        return runner


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
