"""PyTorch eager backend: cpu/cuda, fp32, fp16 (cuda, via ``.half()``), under ``torch.inference_mode``.

On CUDA: cuDNN picks its fastest convolution per shape (``cudnn.benchmark``, settled during warm-up), and
the TF32 switches in force are recorded (PyTorch's defaults: on for convolutions, off for matmuls).
Channels-last rule (:func:`use_channels_last`): fp16 on CUDA for a model with 2-D convolutions, where
cuDNN's tensor-core kernels are NHWC-native and NCHW costs a layout transpose around each convolution;
fp32 and CPU keep NCHW (no tensor-core gain to win, and transformers gain nothing from it).
"""

from __future__ import annotations

import numpy as np

from harness.backends import Backend, BackendUnsupported, PrepareRequest, Runner, register_backend


class TorchRunner(Runner):
    def __init__(self, model, device: str, precision: str, threads: int):
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.memory_format = torch.contiguous_format
        self.model = model.to(self.device, dtype=self.dtype).eval()
        self.provider = f"torch-{device}"
        self.threads = threads
        self.info = {
            "torch": torch.__version__,
            "dtype": str(self.dtype).replace("torch.", ""),
            "memory_format": "contiguous",
        }
        if self.device.type == "cuda":
            self.info.update(cuda_facts(torch, self.device))

    def set_channels_last(self) -> None:
        """Weights and every input in NHWC from here on (when: :func:`use_channels_last`)."""
        self.memory_format = self._torch.channels_last
        self.model.to(memory_format=self.memory_format)
        self.info["memory_format"] = "channels_last"

    def to_input(self, batch: np.ndarray):
        x = self._torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, dtype=self.dtype)
        return x.contiguous(memory_format=self.memory_format)

    def run(self, x):
        with self._torch.inference_mode():
            return self.model(x)

    def sync(self) -> None:
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)

    def to_numpy(self, out) -> np.ndarray:
        return out.float().cpu().numpy()


def use_channels_last(model, device: str, precision: str) -> bool:
    """The channels-last rule (module docstring): fp16 on CUDA, and the model has a 2-D convolution."""
    import torch

    if device != "cuda" or precision != "fp16":
        return False
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def cuda_facts(torch, device) -> dict[str, object]:
    """What decides CUDA numbers besides the model: the GPU, cuDNN, and the TF32/benchmark switches."""
    return {
        "gpu": torch.cuda.get_device_name(device),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "tf32_conv": bool(torch.backends.cudnn.allow_tf32),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
    }


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
        if request.device == "cuda":
            if not torch.cuda.is_available():
                raise BackendUnsupported(no_cuda_reason(torch))
            torch.backends.cudnn.benchmark = True  # fastest algorithm per shape, chosen during warm-up
        torch.set_num_threads(request.threads)
        runner = self.runner_class(request.model, request.device, request.precision, torch.get_num_threads())
        if use_channels_last(request.model, request.device, request.precision):
            runner.set_channels_last()
        return runner


def no_cuda_reason(torch) -> str:
    """Why torch has no CUDA here: a CPU-only build, or a CUDA build that finds no device/driver."""
    if torch.version.cuda is None:
        return f"cuda requested but torch {torch.__version__} is a CPU-only build"
    return (
        f"cuda requested but torch sees no CUDA device (torch {torch.__version__}, CUDA {torch.version.cuda})"
    )
