"""One Keras cell step in NumPy, written from Keras's equations (not from ONNX's).

This is the oracle for ``verify``: it must share none of the lowering's weight
re-arrangements, so it works on the Keras layouts the specs keep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..spec.types import CellSpec, CustomCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec


def cast_cell(cell: CellSpec, dtype: np.dtype) -> dict[str, np.ndarray | None]:
    """The cell's weights in ``dtype`` (float32 to mirror Keras, float64 for a tighter oracle)."""
    if isinstance(cell, CustomCellSpec):
        return {name: array.astype(dtype) for name, array in cell.weights.items()}
    return {
        "kernel": cell.kernel.astype(dtype),
        "recurrent_kernel": cell.recurrent_kernel.astype(dtype),
        "bias": None if cell.bias is None else cell.bias.astype(dtype),
    }


def initial_states(cell: CellSpec, batch: int, dtype: np.dtype) -> list[np.ndarray]:
    sizes = cell.state_sizes if isinstance(cell, CustomCellSpec) else [cell.units] * len(cell.state_names)
    return [np.zeros((batch, size), dtype=dtype) for size in sizes]


def step(cell: CellSpec, w: dict[str, np.ndarray | None], x: np.ndarray, states: list[np.ndarray],
         constants: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(output, new_states)`` for one timestep ``x`` of shape (batch, input_size)."""
    if isinstance(cell, CustomCellSpec):
        arrays = {name: array for name, array in w.items() if array is not None}  # a custom cell has no None
        output, *new_states = cell.converter.numpy_step(x, list(states), list(constants), arrays)
        return np.asarray(output, dtype=x.dtype), [np.asarray(s, dtype=x.dtype) for s in new_states]
    if isinstance(cell, SimpleRNNCellSpec):
        return _simple_rnn(cell, w, x, states)
    if isinstance(cell, GRUCellSpec):
        return _gru(cell, w, x, states)
    if isinstance(cell, LSTMCellSpec):
        return _lstm(cell, w, x, states)
    raise TypeError(f"no reference step for {type(cell).__name__}")


def _simple_rnn(cell: SimpleRNNCellSpec, w, x, states):
    (h,) = states
    z = x @ w["kernel"]
    if w["bias"] is not None:
        z = z + w["bias"]
    out = cell.activation.numpy(z + h @ w["recurrent_kernel"])
    return out, [out]


def _gru(cell: GRUCellSpec, w, x, states):
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


def _lstm(cell: LSTMCellSpec, w, x, states):
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
