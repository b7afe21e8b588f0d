"""Parameter and multiply-accumulate counts, counted the way timm's published tables count them.

timm's ``benchmark.py`` fills its ``infer_gmacs`` column with fvcore's ``FlopCountAnalysis`` on a batch of one
``torch.ones`` input, and fvcore counts one fused multiply-add as one "flop" -- so its total is a MAC count.
Attention must run un-fused for this: fvcore has no handle for ``scaled_dot_product_attention`` and would
silently drop the ``q @ k^T`` and ``attn @ v`` matmuls, so the fused path is switched off per module while
counting (timm reads ``use_fused_attn()`` once at construction and keeps it in ``module.fused_attn``; the
global ``set_fused_attn`` switch would come too late for an already built model). Element-wise ops
(activations, adds, softmax) are ignored by fvcore and by timm's tables alike; they are reported, not added.

Counting never takes the harness down: :func:`measure_gmacs` returns ``gmacs=None`` with a reason instead.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MacsCount:
    """Result of one count. ``gmacs`` is None when counting failed; ``reason`` then says why."""

    gmacs: float | None
    input_size: tuple[int, ...]  # (C, H, W) when valid; as given when refused
    unsupported_ops: dict[str, int] = field(default_factory=dict)  # op -> calls fvcore skipped (not counted)
    reason: str | None = None

    @property
    def gflops(self) -> float | None:
        """FLOPs as 2 x MACs (one multiply and one add per MAC), the other convention in papers."""
        return None if self.gmacs is None else 2.0 * self.gmacs

    def to_dict(self) -> dict[str, Any]:
        return {
            "gmacs": self.gmacs,
            "gflops": self.gflops,
            "input_size": list(self.input_size),
            "unsupported_ops": dict(self.unsupported_ops),
            "reason": self.reason,
        }


def count_params(model: Any) -> int:
    """Number of parameters (each shared tensor once), as timm's ``param_count`` column counts them."""
    return int(sum(p.numel() for p in model.parameters()))


@contextlib.contextmanager
def unfused_attention(model: Any) -> Iterator[int]:
    """Temporarily switch timm attention modules to the explicit matmul path; yields how many were switched."""
    switched = [
        m for m in model.modules() if isinstance(getattr(m, "fused_attn", None), bool) and m.fused_attn
    ]
    for m in switched:
        m.fused_attn = False
    try:
        yield len(switched)
    finally:
        for m in switched:
            m.fused_attn = True


def measure_gmacs(model: Any, input_size: tuple[int, int, int]) -> MacsCount:
    """Count GMACs of one forward pass at batch 1 (fvcore, fused attention off). Never raises."""
    size = tuple(int(s) for s in input_size)
    if len(size) != 3 or min(size) < 1:
        return MacsCount(
            None, size, reason=f"input size must be (C, H, W) with positive sides, got {input_size}"
        )
    try:
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's import touches the deprecated torch.jit.script
            from fvcore.nn import FlopCountAnalysis
    except ImportError as e:  # pragma: no cover - fvcore is a pinned requirement
        return MacsCount(None, size, reason=f"fvcore is not installed: {e}")
    try:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        example = torch.ones((1, *size), device=device, dtype=dtype)
        was_training = model.training
        model.eval()
        try:
            with unfused_attention(model), warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter(
                    "ignore"
                )  # tracer / deprecation chatter; unsupported ops are reported below
                analysis = FlopCountAnalysis(model, example)
                analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings(
                    "none"
                )
                total = analysis.total()
                unsupported = dict(analysis.unsupported_ops())
        finally:
            model.train(was_training)
    except Exception as e:  # noqa: BLE001 - any tracing failure must not end the evaluation
        reason = f"GMACs not counted ({type(e).__name__}): {str(e).splitlines()[0] if str(e) else ''}".rstrip(
            ": "
        )
        log.warning(reason)
        return MacsCount(None, size, reason=reason)
    if total <= 0:
        return MacsCount(None, size, unsupported, reason="fvcore found no countable operations in the model")
    if unsupported:
        log.info("GMACs: %d op kinds not counted (%d calls)", len(unsupported), sum(unsupported.values()))
    return MacsCount(total / 1e9, size, unsupported)


def count_gmacs(model: Any, input_size: tuple[int, int, int]) -> float | None:
    """GMACs at batch 1, timm-table convention, or None (the reason is logged) when it cannot be counted."""
    return measure_gmacs(model, input_size).gmacs
