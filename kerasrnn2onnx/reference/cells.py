"""One Keras cell step in NumPy, written from Keras's equations (not from ONNX's).

This is the oracle for ``verify``: it must share none of the lowering's weight
re-arrangements, so it works on the Keras layouts the specs keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..registry import Registry
from ..spec.cells import CellSpec, CustomCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec

Weights = dict[str, np.ndarray | None]


class ReferenceStep(Protocol):
    """One timestep of one cell kind in NumPy: ``(output, new_states)`` for ``x`` of shape
    (batch, input_size), from the cell's weights ``w`` cast to the computation's dtype."""

    def __call__(self, cell: Any, w: Weights, x: np.ndarray, states: list[np.ndarray],
                 constants: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]: ...


REFERENCE_STEPS: Registry[type, ReferenceStep] = Registry("reference cell step")
"""Cell spec type -> its NumPy step (Keras's equations)."""


def cast_cell(cell: CellSpec, dtype: np.dtype) -> Weights:
    """The cell's weights in ``dtype`` (float32 to mirror Keras, float64 for a tighter oracle)."""
    return {name: None if array is None else array.astype(dtype) for name, array in cell.arrays().items()}


def initial_states(cell: CellSpec, batch: int, dtype: np.dtype) -> list[np.ndarray]:
    return [np.zeros((batch, size), dtype=dtype) for size in cell.state_widths]


def step(cell: CellSpec, w: Weights, x: np.ndarray, states: list[np.ndarray],
         constants: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(output, new_states)`` for one timestep ``x`` of shape (batch, input_size)."""
    return REFERENCE_STEPS[type(cell)](cell, w, x, states, constants)


@REFERENCE_STEPS.register(CustomCellSpec)
def _custom(cell: CustomCellSpec, w: Weights, x: np.ndarray, states: list[np.ndarray],
            constants: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    arrays = {name: array for name, array in w.items() if array is not None}  # a custom cell has no None
    output, *new_states = cell.converter.numpy_step(x, list(states), list(constants), arrays)
    return np.asarray(output, dtype=x.dtype), [np.asarray(s, dtype=x.dtype) for s in new_states]


@REFERENCE_STEPS.register(SimpleRNNCellSpec)
def _simple_rnn(cell: SimpleRNNCellSpec, w, x, states, constants):
    (h,) = states
    z = x @ w["kernel"]
    if w["bias"] is not None:
        z = z + w["bias"]
    out = cell.activation.numpy(z + h @ w["recurrent_kernel"])
    return out, [out]


@REFERENCE_STEPS.register(GRUCellSpec)
def _gru(cell: GRUCellSpec, w, x, states, constants):
    (h,) = states
    u = cell.units
    kernel, recurrent, bias = w["kernel"], w["recurrent_kernel"], w["bias"]
    if bias is None:
        input_bias = recurrent_bias = None
    elif cell.reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, None
    mx = x @ kernel
    if input_bias is not None:
        mx = mx + input_bias
    x_z, x_r, x_h = mx[:, :u], mx[:, u : 2 * u], mx[:, 2 * u :]
    if cell.reset_after:
        mh = h @ recurrent
        if recurrent_bias is not None:
            mh = mh + recurrent_bias
        r_z, r_r, r_h = mh[:, :u], mh[:, u : 2 * u], mh[:, 2 * u :]
        z = cell.recurrent_activation.numpy(x_z + r_z)
        r = cell.recurrent_activation.numpy(x_r + r_r)
        hh = cell.activation.numpy(x_h + r * r_h)
    else:
        mh = h @ recurrent[:, : 2 * u]
        z = cell.recurrent_activation.numpy(x_z + mh[:, :u])
        r = cell.recurrent_activation.numpy(x_r + mh[:, u:])
        hh = cell.activation.numpy(x_h + (r * h) @ recurrent[:, 2 * u :])
    new_h = z * h + (np.asarray(1, dtype=h.dtype) - z) * hh
    return new_h, [new_h]


@REFERENCE_STEPS.register(LSTMCellSpec)
def _lstm(cell: LSTMCellSpec, w, x, states, constants):
    h, c = states
    u = cell.units
    z = x @ w["kernel"] + h @ w["recurrent_kernel"]
    if w["bias"] is not None:
        z = z + w["bias"]
    i = cell.recurrent_activation.numpy(z[:, :u])
    f = cell.recurrent_activation.numpy(z[:, u : 2 * u])
    new_c = f * c + i * cell.activation.numpy(z[:, 2 * u : 3 * u])
    o = cell.recurrent_activation.numpy(z[:, 3 * u :])
    new_h = o * cell.activation.numpy(new_c)
    return new_h, [new_h, new_c]
