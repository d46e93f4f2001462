"""Refusals a runtime target makes before anything is lowered: activations its runtime
computes inexactly with no exact ONNX alternative (``TargetProfile.refused_activations``).

Activations sit in many places (a Dense, an Activation layer, a cell's two activations, a
ConvLSTM's cell inside a loop spec), so the walk reads every field of every frozen spec
dataclass instead of listing the layer kinds that have one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ..errors import UnsupportedError
from ..spec.activations import ActivationSpec
from ..spec.types import ModelSpec
from .targets import TargetProfile


def _activations(value: Any, depth: int = 0) -> Iterator[ActivationSpec]:
    if isinstance(value, ActivationSpec):
        yield value
    elif depth > 8:  # spec nesting is shallow; this only guards against a cycle
        return
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _activations(getattr(value, f.name), depth + 1)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _activations(item, depth + 1)


def refuse_inexact_activations(spec: ModelSpec, prof: TargetProfile) -> None:
    """Raise for the first layer using an activation ``prof`` refuses (one line: layer,
    activation, target and why)."""
    refused = dict(prof.refused_activations)
    if not refused:
        return
    for layer in spec.layers:
        for activation in _activations(layer):
            if activation.name in refused:
                raise UnsupportedError(layer.name, f"target {prof.name}: activation {activation.name}: "
                                       f"{refused[activation.name]}")
