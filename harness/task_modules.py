"""The end-to-end torch modules around task models: one float32 NCHW batch in, one packed tensor out.

Post-processing lives here, inside the timed and exported graph (top-k, upsampling, keypoint decoding), so
every backend measures what a deployment pays per image. Output layouts: :mod:`harness.tasks.adapters`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from harness.onnx_export import ExportPlan
from harness.tasks.adapters import MAX_DETECTIONS


def _pad_rows(rows: torch.Tensor) -> torch.Tensor:
    """(k, width) -> (MAX_DETECTIONS, width); padding rows have score 0 and label -1."""
    rows = rows[:MAX_DETECTIONS]
    pad = rows.new_zeros((MAX_DETECTIONS - rows.shape[0], rows.shape[1]))
    pad[:, 5] = -1.0
    return torch.cat([rows, pad], 0)


class TorchvisionDetector(nn.Module):
    """A torchvision detector (list of images in, list of dicts out; NMS inside) -> (N, 100, 6 [+3K])."""

    # torch.export cannot capture these (batched_nms branches on the number of boxes: a data-dependent
    # guard, tried and failing for 7-35 s per model), and TorchScript's trace unrolls the loop over the
    # images: so one TorchScript trace at the batch size measured, the way torchvision exports them
    onnx_export_plan = ExportPlan(
        exporters=("torchscript",),
        fixed_batch=True,
        reason="torchvision detectors loop over the images and branch on the number of boxes, which "
        "torch.export cannot capture: TorchScript traces them at one batch size",
    )

    def __init__(self, model: nn.Module, keypoints: bool) -> None:
        super().__init__()
        self.model, self.keypoints = model, keypoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = []
        for o in self.model(list(x.unbind(0))):
            cols = [o["boxes"], o["scores"][:, None], o["labels"][:, None].to(o["boxes"].dtype)]
            if self.keypoints:
                kp = torch.cat([o["keypoints"][..., :2], o["keypoints_scores"][..., None]], -1)
                cols.append(kp.flatten(1))
            packed.append(_pad_rows(torch.cat(cols, 1)))
        return torch.stack(packed)


class TorchvisionSegmenter(nn.Module):
    """A torchvision segmenter (its ``out`` is already upsampled to the input) -> (N, H, W) class index."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"].argmax(1).to(x.dtype)


class TransformersLogits(nn.Module):
    """A transformers classifier -> (N, C) logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).logits


class TransformersDetector(nn.Module):
    """DETR-style set prediction (no NMS) -> the top 100 (N, 100, 6) rows in input pixels.

    A "no object" logit (num_labels + 1 columns) means softmax scoring (DETR, YOLOS); otherwise sigmoid
    over every (query, class) pair (RT-DETR, Deformable/Conditional DETR), as their post-processors do."""

    def __init__(self, model: nn.Module, num_labels: int) -> None:
        super().__init__()
        self.model, self.num_labels = model, num_labels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=x)
        logits, boxes = out.logits, out.pred_boxes
        n, q, c = logits.shape
        if c == self.num_labels + 1:
            best, labels = logits.softmax(-1)[..., :-1].max(-1)
            k = min(MAX_DETECTIONS, q)
            scores, order = best.topk(k, dim=1)
            labels = labels.gather(1, order)
        else:
            k = min(MAX_DETECTIONS, q * c)
            scores, flat = logits.sigmoid().flatten(1).topk(k, dim=1)
            order, labels = torch.div(flat, c, rounding_mode="floor"), flat % c
        boxes = boxes.gather(1, order[..., None].expand(n, k, 4))
        h, w = x.shape[-2], x.shape[-1]
        cx, cy, bw, bh = boxes.unbind(-1)
        xyxy = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], -1)
        rows = torch.cat([xyxy, scores[..., None], labels[..., None].to(x.dtype)], -1)
        if k < MAX_DETECTIONS:
            pad = rows.new_zeros((n, MAX_DETECTIONS - k, 6))
            pad[..., 5] = -1.0
            rows = torch.cat([rows, pad], 1)
        return rows


class TransformersSegmenter(nn.Module):
    """Low-resolution logits -> bilinear upsampling to the input size -> (N, H, W) class index."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(pixel_values=x).logits
        up = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return up.argmax(1).to(x.dtype)


class HeatmapPose(nn.Module):
    """Top-down heatmaps (N, K, h, w) -> (N, K, 3): x, y in input pixels (cell centres) and the peak."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heat = self.model(pixel_values=x).heatmaps
        hh, hw = heat.shape[-2], heat.shape[-1]
        score, idx = heat.flatten(2).max(-1)
        sx, sy = x.shape[-1] / hw, x.shape[-2] / hh
        xs = (idx % hw).to(x.dtype) * sx + (sx - 1) / 2
        ys = torch.div(idx, hw, rounding_mode="floor").to(x.dtype) * sy + (sy - 1) / 2
        return torch.stack([xs, ys, score], -1)


def unwrap(module: Any) -> Any:
    """The model inside a wrapper (for facts such as parameter counts); the module itself otherwise."""
    return getattr(module, "model", module)
