"""Readers of Keras files: ``load_raw_model`` is the one entry point."""

from .loader import detect_format, load_raw_model
from .raw import RawLayer, RawModel, TensorRef

__all__ = ["RawLayer", "RawModel", "TensorRef", "detect_format", "load_raw_model"]
