"""kerasrnn2onnx: convert Keras recurrent models to ONNX without TensorFlow or Keras.

Importing this package never imports onnxruntime; only ``verify`` needs it.
"""

from ._version import __version__
from .api import convert, describe, load, make_inputs, tune, verify
from .custom import CustomCell, register_cell, registered_cells, unregister_cell
from .errors import ConversionError, LayerError, ModelFileError, UnsupportedError
from .io.guard import Limits, use_limits
from .parity import ParityReport
from .spec import ModelSpec


def __getattr__(name: str):
    # Session needs onnxruntime: import it only when asked for, so converting never does.
    if name == "Session":
        from .runtime.session import Session

        return Session
    raise AttributeError(name)

__all__ = [
    "ConversionError", "CustomCell", "LayerError", "Limits", "ModelFileError", "ModelSpec", "ParityReport", "Session",
    "UnsupportedError",
    "__version__", "convert", "describe", "load", "make_inputs", "register_cell", "registered_cells",
    "tune", "unregister_cell", "use_limits", "verify",
]
