"""Specs: the converter's own typed description of a Keras recurrent model."""

from .activations import ACTIVATIONS, ActivationSpec, resolve_activation
from .parse import parse_model
from .types import (
    CellSpec,
    GRUCellSpec,
    InputSpec,
    LSTMCellSpec,
    ModelSpec,
    OutputSpec,
    RecurrentLayerSpec,
    SimpleRNNCellSpec,
    TensorSpec,
)

__all__ = [
    "ACTIVATIONS", "ActivationSpec", "CellSpec", "GRUCellSpec", "InputSpec", "LSTMCellSpec", "ModelSpec",
    "OutputSpec", "RecurrentLayerSpec", "SimpleRNNCellSpec", "TensorSpec", "parse_model", "resolve_activation",
]
