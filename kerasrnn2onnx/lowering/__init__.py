"""Spec -> ONNX lowerings: native ops, Scan loops, unrolled steps.

The graph builder (onnxscript, onnx_ir) loads on first use, so importing the package and
reading models stays quick.
"""

from .options import DEFAULT_OPSET, MIN_OPSET, STRATEGIES, TARGETS

__all__ = ["DEFAULT_OPSET", "LayerPlan", "MIN_OPSET", "STRATEGIES", "TARGETS", "build_model", "plan_layers"]


def __getattr__(name: str):
    if name in ("build_model", "plan_layers"):
        from . import model

        return getattr(model, name)
    if name == "LayerPlan":
        from .strategy import LayerPlan

        return LayerPlan
    raise AttributeError(name)
