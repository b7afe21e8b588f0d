"""Tiny transformers checkpoints (random weights, built from configs, nothing downloaded) for each task,
saved the way ``save_pretrained(safe_serialization=True)`` puts them on the Hub, plus a small
``preprocessor_config.json`` so they run at a tiny input size."""

from __future__ import annotations

import json
from pathlib import Path

DETECTION_LABELS = ("person", "car", "cat", "dog", "bottle")  # the synthetic-detection categories
SEGMENTATION_LABELS = ("background", "person", "car", "cat", "dog")  # synthetic-segmentation's classes


def _save(model, out_dir: Path, size: tuple[int, int] | None) -> Path:
    model.eval().save_pretrained(str(out_dir), safe_serialization=True)
    if size is not None:
        proc = {
            "size": {"height": size[0], "width": size[1]},
            "image_mean": [0.5] * 3,
            "image_std": [0.5] * 3,
        }
        (out_dir / "preprocessor_config.json").write_text(json.dumps(proc))
    return out_dir


def _labels(names: tuple[str, ...]) -> dict:
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def tiny_detr(out_dir: Path, size: int = 64, seed: int = 0) -> Path:
    """DETR with a 4-stage ResNet of width 8-16, one encoder and one decoder layer, 10 queries (~21k params)."""
    import torch
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    torch.manual_seed(seed)
    backbone = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1], layer_type="basic",
        out_features=["stage4"],
    )  # fmt: skip
    cfg = DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, d_model=16,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=16, decoder_ffn_dim=16, num_queries=10, **_labels(DETECTION_LABELS),
    )  # fmt: skip
    return _save(DetrForObjectDetection(cfg), out_dir, (size, size))


def tiny_segformer(out_dir: Path, size: int = 64, seed: int = 0) -> Path:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    torch.manual_seed(seed)
    cfg = SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], patch_sizes=[7, 3],
        strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2], decoder_hidden_size=16,
        **_labels(SEGMENTATION_LABELS),
    )  # fmt: skip
    return _save(SegformerForSemanticSegmentation(cfg), out_dir, (size, size))


def tiny_vitpose(out_dir: Path, seed: int = 0) -> Path:
    """ViTPose with one 16-wide layer on a 64x48 crop: 17 COCO keypoints from 16x12 heatmaps."""
    import torch
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation

    torch.manual_seed(seed)
    backbone = VitPoseBackboneConfig(
        image_size=[64, 48], patch_size=[16, 16], hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, out_indices=[1],
    )  # fmt: skip
    return _save(
        VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=17)), out_dir, None
    )
