"""Spec -> ONNX lowerings: native ops, Scan loops, unrolled steps."""

from .model import DEFAULT_OPSET, build_model, plan_layers
from .strategy import STRATEGIES, TARGETS, LayerPlan

__all__ = ["DEFAULT_OPSET", "LayerPlan", "STRATEGIES", "TARGETS", "build_model", "plan_layers"]
