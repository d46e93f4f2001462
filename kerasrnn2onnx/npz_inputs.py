"""The old home of :func:`load_npz_inputs` (now in :mod:`kerasrnn2onnx.inputs`); kept so imports work."""

from .inputs import load_npz_inputs

__all__ = ["load_npz_inputs"]
