"""The Keras time loop for one recurrent layer: masks, go_backwards, initial states.

Keras semantics kept here:
- cells of a stack run in order within each timestep;
- ``go_backwards`` walks the time axis from the end and the returned sequence stays in
  processing order (index 0 belongs to the last input step);
- at a masked step every state is carried unchanged and the step outputs the previous
  output, or zeros with ``zero_output_for_mask``; with ``zero_output_for_mask`` the last
  output is zeroed when the last processed step is masked;
- before the first unmasked step the "previous output" differs by version: Keras 3's
  non-unrolled loop uses the last cell's first state (the *initial* state), Keras 2 and
  Keras 3 unrolled use zeros. With zero initial states both are zeros.
- returned states are every cell's states, cell by cell; a fully masked row keeps its
  initial states.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..spec.masks import leading_output_is_state
from ..spec.types import RecurrentLayerSpec
from .cells import cast_cell, initial_states, step


def run_layer(layer: RecurrentLayerSpec, x: np.ndarray, mask: np.ndarray | None = None,
              constants: Sequence[np.ndarray] = (), initial: Sequence[np.ndarray] | None = None,
              keras_major: int | None = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``([output, *returned_states], final_states)`` for ``x`` (batch, time, features),
    an optional boolean ``mask`` (batch, time) and optional initial states (flat, cell by
    cell), computed in ``x.dtype``. ``final_states`` is returned whether or not the layer
    has ``return_state`` (stateful carry needs it)."""
    dtype = x.dtype
    batch, steps, _ = x.shape
    weights = [cast_cell(cell, dtype) for cell in layer.cells]
    states = [initial_states(cell, batch, dtype) for cell in layer.cells]
    if initial is not None:
        flat = iter(initial)
        states = [[np.asarray(next(flat), dtype=dtype) for _ in cell_states] for cell_states in states]
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    outputs = []
    if mask is not None and leading_output_is_state(layer, keras_major):
        output = states[-1][0].copy()
    else:
        output = np.zeros((batch, layer.units), dtype=dtype)
    last_kept = np.ones((batch, 1), dtype=bool)
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
            last_kept = keep
            states = [[np.where(keep, n, o) for n, o in zip(new, old, strict=True)]
                      for new, old in zip(new_states, states, strict=True)]
            output = np.where(keep, value, output)
        if layer.return_sequences:
            outputs.append(np.where(last_kept, output, 0) if layer.zero_output_for_mask else output)
    if layer.return_sequences:
        result = np.stack(outputs, axis=1)
    else:
        result = np.where(last_kept, output, 0).astype(dtype) if layer.zero_output_for_mask else output
    final = [s for cell_states in states for s in cell_states]
    return ([result, *final] if layer.return_state else [result]), final
