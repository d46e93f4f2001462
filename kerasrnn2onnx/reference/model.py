"""Run a whole :class:`ModelSpec` in NumPy: the oracle ``verify`` compares against."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..errors import RuntimeInputError
from ..spec.types import ModelSpec, TensorSpec
from .loop import run_layer


def run_model(spec: ModelSpec, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray], dtype: type = np.float64) -> list[np.ndarray]:
    """Model outputs, in ``spec.outputs`` order, computed in ``dtype`` (float32 or float64)."""
    if isinstance(inputs, Mapping):
        missing = [i.name for i in spec.inputs if i.name not in inputs]
        if missing:
            raise RuntimeInputError(f"missing input(s): {', '.join(missing)}")
        arrays = [inputs[i.name] for i in spec.inputs]
    else:
        arrays = list(inputs)
        if len(arrays) != len(spec.inputs):
            raise RuntimeInputError(f"expected {len(spec.inputs)} input(s), got {len(arrays)}")
    tensors: dict[TensorSpec, np.ndarray] = {}
    for input_spec, array in zip(spec.inputs, arrays):
        array = np.asarray(array)
        if array.ndim != 3 or array.shape[2] != input_spec.features:
            raise RuntimeInputError(
                f"input '{input_spec.name}' has shape {array.shape}, expected (batch, time, {input_spec.features})"
            )
        tensors[TensorSpec(input_spec.name)] = array.astype(dtype)
    for layer in spec.layers:
        for index, value in enumerate(run_layer(layer, tensors[layer.source])):
            tensors[TensorSpec(layer.name, index)] = value
    return [tensors[out.tensor] for out in spec.outputs]
