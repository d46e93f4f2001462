"""Keras weight layouts -> ONNX recurrent-op layouts, as pure NumPy.

Keras stores ``kernel`` as (input, gates*units) with LSTM gates i,f,c,o; ONNX wants
W (1, gates*units, input), R (1, gates*units, units), B (1, 2*gates*units) = [Wb, Rb] and
LSTM gates i,o,f,c. GRU gate order z,r,h is the same on both sides.
"""

from __future__ import annotations

import numpy as np

from ..spec.types import BuiltinCellSpec, GRUCellSpec, LSTMCellSpec

KERAS_LSTM_TO_ONNX = (0, 3, 1, 2)  # ONNX i,o,f,c taken from Keras blocks i,f,c,o


def _reorder_gates(matrix: np.ndarray, units: int, order: tuple[int, ...]) -> np.ndarray:
    """Reorder gate blocks along the last axis."""
    blocks = [matrix[..., k * units : (k + 1) * units] for k in order]
    return np.concatenate(blocks, axis=-1)


def onnx_weights(cell: BuiltinCellSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(W, R, B)`` for the ONNX op of ``cell``; ``B`` is ``None`` without bias."""
    kernel, recurrent = cell.kernel, cell.recurrent_kernel
    units = cell.units
    bias_w = bias_r = None
    if isinstance(cell, LSTMCellSpec):
        kernel = _reorder_gates(kernel, units, KERAS_LSTM_TO_ONNX)
        recurrent = _reorder_gates(recurrent, units, KERAS_LSTM_TO_ONNX)
        if cell.bias is not None:
            bias_w = _reorder_gates(cell.bias, units, KERAS_LSTM_TO_ONNX)
    elif isinstance(cell, GRUCellSpec) and cell.bias is not None:
        if cell.reset_after:
            bias_w, bias_r = cell.bias[0], cell.bias[1]
        else:
            bias_w = cell.bias
    elif cell.bias is not None:
        bias_w = cell.bias
    w = np.ascontiguousarray(kernel.T[np.newaxis], dtype=np.float32)
    r = np.ascontiguousarray(recurrent.T[np.newaxis], dtype=np.float32)
    if bias_w is None:
        return w, r, None
    if bias_r is None:
        bias_r = np.zeros_like(bias_w)
    b = np.concatenate([bias_w, bias_r])[np.newaxis].astype(np.float32)
    return w, r, b
