"""Evaluation harness: measure one vision model honestly on PyTorch and ONNX Runtime."""

__version__ = "0.1.0"
