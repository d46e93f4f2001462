"""Keras weight layouts -> ONNX recurrent-op layouts, as pure NumPy.

Keras stores ``kernel`` as (input, gates*units) with LSTM gates i,f,c,o; ONNX wants
W (1, gates*units, input), R (1, gates*units, units), B (1, 2*gates*units) = [Wb, Rb] and
LSTM gates i,o,f,c. GRU gate order z,r,h is the same on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..registry import Registry
from ..spec.cells import BuiltinCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec

KERAS_LSTM_TO_ONNX = (0, 3, 1, 2)  # ONNX i,o,f,c taken from Keras blocks i,f,c,o


def _reorder_gates(matrix: np.ndarray, units: int, order: tuple[int, ...]) -> np.ndarray:
    """Reorder gate blocks along the last axis."""
    blocks = [matrix[..., k * units : (k + 1) * units] for k in order]
    return np.concatenate(blocks, axis=-1)


Weights = tuple[np.ndarray, np.ndarray, np.ndarray | None]
ONNX_WEIGHTS: Registry[type, Callable[[Any], Weights]] = Registry("ONNX recurrent-op weights")
"""Cell spec type -> its ``(W, R, B)`` in the ONNX op's layouts."""


def onnx_weights(cell: BuiltinCellSpec) -> Weights:
    """``(W, R, B)`` for the ONNX op of ``cell``; ``B`` is ``None`` without bias."""
    return ONNX_WEIGHTS[type(cell)](cell)


@ONNX_WEIGHTS.register(LSTMCellSpec)
def _lstm(cell: LSTMCellSpec) -> Weights:
    """ONNX's gate order i,o,f,c from Keras's i,f,c,o."""
    units = cell.units
    bias = None if cell.bias is None else _reorder_gates(cell.bias, units, KERAS_LSTM_TO_ONNX)
    return _stacked(_reorder_gates(cell.kernel, units, KERAS_LSTM_TO_ONNX),
                    _reorder_gates(cell.recurrent_kernel, units, KERAS_LSTM_TO_ONNX), bias, None)


@ONNX_WEIGHTS.register(GRUCellSpec)
def _gru(cell: GRUCellSpec) -> Weights:
    """The same gate order z,r,h; reset_after's two bias rows are ONNX's Wb and Rb."""
    if cell.bias is not None and cell.reset_after:
        return _stacked(cell.kernel, cell.recurrent_kernel, cell.bias[0], cell.bias[1])
    return _stacked(cell.kernel, cell.recurrent_kernel, cell.bias, None)


@ONNX_WEIGHTS.register(SimpleRNNCellSpec)
def _simple_rnn(cell: SimpleRNNCellSpec) -> Weights:
    return _stacked(cell.kernel, cell.recurrent_kernel, cell.bias, None)


def _stacked(kernel: np.ndarray, recurrent: np.ndarray, bias_w: np.ndarray | None,
             bias_r: np.ndarray | None) -> Weights:
    """W (1, gates*units, input), R (1, gates*units, units), B (1, 2*gates*units) = [Wb, Rb]."""
    w = np.ascontiguousarray(kernel.T[np.newaxis], dtype=np.float32)
    r = np.ascontiguousarray(recurrent.T[np.newaxis], dtype=np.float32)
    if bias_w is None:
        return w, r, None
    if bias_r is None:
        bias_r = np.zeros_like(bias_w)
    b = np.concatenate([bias_w, bias_r])[np.newaxis].astype(np.float32)
    return w, r, b
