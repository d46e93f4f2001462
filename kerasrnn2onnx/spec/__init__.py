"""Specs: the converter's own typed description of a Keras recurrent model."""

from .activations import ACTIVATIONS, ActivationSpec, resolve_activation
from .cells import CellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec
from .parse import parse_model
from .types import (
    ModelInput,
    ModelSpec,
    OutputSpec,
    RecurrentLayerSpec,
    Ref,
)

__all__ = [
    "ACTIVATIONS", "ActivationSpec", "CellSpec", "GRUCellSpec", "ModelInput", "LSTMCellSpec", "ModelSpec",
    "OutputSpec", "RecurrentLayerSpec", "SimpleRNNCellSpec", "Ref", "parse_model", "resolve_activation",
]
