"""Pure-NumPy reference of Keras recurrent semantics."""

from .loop import run_layer
from .model import run_model, run_model_with_states

__all__ = ["run_layer", "run_model", "run_model_with_states"]
