"""PyTorch eager backend: cpu/cuda, fp32, fp16 (cuda, via ``.half()``), under ``torch.inference_mode``."""

from __future__ import annotations

import numpy as np

from harness.backends import Backend, BackendUnsupported, PrepareRequest, Runner, register_backend


class TorchRunner(Runner):
    def __init__(self, model, device: str, precision: str, threads: int):
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = model.to(self.device, dtype=self.dtype).eval()
        self.provider = f"torch-{device}"
        self.threads = threads
        self.info = {"torch": torch.__version__, "dtype": str(self.dtype).replace("torch.", "")}

    def to_input(self, batch: np.ndarray):
        return self._torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, dtype=self.dtype)

    def run(self, x):
        with self._torch.inference_mode():
            return self.model(x)

    def sync(self) -> None:
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)

    def to_numpy(self, out) -> np.ndarray:
        return out.float().cpu().numpy()


@register_backend
class PyTorchBackend(Backend):
    name = "pytorch"
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16")
    summary = "PyTorch eager under inference_mode (fp16 via .half() on cuda)"
    runner_class: type[TorchRunner] = TorchRunner  # torch-compile subclasses this backend with its own
    runtime_modules = ("torch",)

    def unsupported_reason(self, device: str, precision: str) -> str | None:
        if precision == "int8":
            return "int8 is measured on ONNX Runtime (static quantization), not in PyTorch eager"
        reason = super().unsupported_reason(device, precision)
        if reason:
            return reason
        if precision == "fp16" and device != "cuda":
            return "fp16 is measured on cuda only"
        return None

    def prepare(self, request: PrepareRequest) -> Runner:
        import torch

        reason = self.unsupported_reason(request.device, request.precision)
        if reason:
            raise BackendUnsupported(reason)
        if request.device == "cuda" and not torch.cuda.is_available():
            raise BackendUnsupported("cuda requested but torch sees no CUDA device")
        torch.set_num_threads(request.threads)
        return self.runner_class(request.model, request.device, request.precision, torch.get_num_threads())
