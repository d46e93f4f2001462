"""The Keras time loop for one recurrent layer (no masks yet).

Keras semantics kept here: cells of a stack run in order within each timestep;
``go_backwards`` walks the time axis from the end and the returned sequence stays in
processing order (index 0 belongs to the last input step); returned states are every
cell's states, cell by cell.
"""

from __future__ import annotations

import numpy as np

from ..spec.types import RecurrentLayerSpec
from .cells import cast_cell, initial_states, step


def run_layer(layer: RecurrentLayerSpec, x: np.ndarray) -> list[np.ndarray]:
    """Outputs of ``layer`` for ``x`` (batch, time, features): ``[output, *states]``
    (states only when ``return_state``), computed in ``x.dtype``."""
    dtype = x.dtype
    batch, steps, _ = x.shape
    weights = [cast_cell(cell, dtype) for cell in layer.cells]
    states = [initial_states(cell, batch, dtype) for cell in layer.cells]
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    outputs = []
    output = np.zeros((batch, layer.units), dtype=dtype)
    for t in order:
        value = x[:, t, :]
        for k, cell in enumerate(layer.cells):
            value, states[k] = step(cell, weights[k], value, states[k])
        output = value
        if layer.return_sequences:
            outputs.append(output)
    result = np.stack(outputs, axis=1) if layer.return_sequences else output
    if not layer.return_state:
        return [result]
    return [result, *(s for cell_states in states for s in cell_states)]
