"""Spec -> ONNX lowerings."""

from .model import DEFAULT_OPSET, LayerPlan, build_model, plan_layers

__all__ = ["DEFAULT_OPSET", "LayerPlan", "build_model", "plan_layers"]
