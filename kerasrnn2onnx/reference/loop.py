"""The Keras time loop for one recurrent layer, masks included.

Keras semantics kept here:
- cells of a stack run in order within each timestep;
- ``go_backwards`` walks the time axis from the end and the returned sequence stays in
  processing order (index 0 belongs to the last input step);
- at a masked step every state is carried unchanged and the step outputs the previous
  step's output (zeros before the first unmasked step), or zeros with
  ``zero_output_for_mask``; a fully masked row outputs zeros and keeps zero states.
  (Keras 3's non-unrolled loop takes the "previous output" from the first state, Keras 2
  and Keras 3 unrolled keep the previous output itself: with zero initial states both are
  the same for every built-in cell, which all output their first state.)
- returned states are every cell's states, cell by cell.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..spec.types import RecurrentLayerSpec
from .cells import cast_cell, initial_states, step


def run_layer(layer: RecurrentLayerSpec, x: np.ndarray, mask: np.ndarray | None = None,
              constants: Sequence[np.ndarray] = ()) -> list[np.ndarray]:
    """Outputs of ``layer`` for ``x`` (batch, time, features) and an optional boolean
    ``mask`` (batch, time): ``[output, *states]`` (states only with ``return_state``),
    computed in ``x.dtype``."""
    dtype = x.dtype
    batch, steps, _ = x.shape
    weights = [cast_cell(cell, dtype) for cell in layer.cells]
    states = [initial_states(cell, batch, dtype) for cell in layer.cells]
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    outputs = []
    output = np.zeros((batch, layer.units), dtype=dtype)
    for t in order:
        value = x[:, t, :]
        new_states = []
        for k, cell in enumerate(layer.cells):
            value, cell_states = step(cell, weights[k], value, states[k], constants)
            new_states.append(cell_states)
        if mask is None:
            states, output = new_states, value
        else:
            keep = mask[:, t][:, None]
            states = [[np.where(keep, n, o) for n, o in zip(new, old)] for new, old in zip(new_states, states)]
            fallback = np.zeros_like(value) if layer.zero_output_for_mask else output
            output = np.where(keep, value, fallback)
        if layer.return_sequences:
            outputs.append(output)
    result = np.stack(outputs, axis=1) if layer.return_sequences else output
    if not layer.return_state:
        return [result]
    return [result, *(s for cell_states in states for s in cell_states)]
