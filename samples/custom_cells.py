"""Converters for the two custom cells in samples/ and tests/fixtures: the worked example
of ``kerasrnn2onnx.register_cell``.

Import this module (or copy it) before converting a model that uses these cells; the
model file itself only names the cell, and nothing it names is ever imported.

- ``MinimalRNNCell`` (Keras's documentation example): ``output = x·kernel + h·recurrent_kernel``.
- ``AttentionRNNCell``: attends over a memory passed with ``RNN(...)(x, constants=[memory])``
  (tf-keras; Keras 3 removed ``constants``): ``q = h·query_kernel``, softmax over
  ``memory·q``, ``context`` = the weighted memory, ``h = tanh(x·kernel + h·recurrent_kernel
  + context·context_kernel)``.
"""

from __future__ import annotations

import numpy as np
from onnxscript import opset18 as op
from onnxscript import script

from kerasrnn2onnx import CustomCell, register_cell
from kerasrnn2onnx.custom import find_cell

PACKAGE = "kerasrnn2onnx_samples"


@script()
def minimal_rnn_step(x_t, h, kernel, recurrent_kernel):
    output = op.Add(op.MatMul(x_t, kernel), op.MatMul(h, recurrent_kernel))
    return output, op.Identity(output)


def minimal_rnn_numpy(x_t, states, constants, w):
    output = x_t @ w["kernel"] + states[0] @ w["recurrent_kernel"]
    return output, output


@script()
def attention_rnn_step(x_t, h, memory, kernel, recurrent_kernel, query_kernel, context_kernel):
    q = op.MatMul(h, query_kernel)  # (batch, D)
    scores = op.ReduceSum(op.Mul(memory, op.Unsqueeze(q, [1])), [-1], keepdims=0)  # (batch, M)
    weights = op.Softmax(scores, axis=-1)
    context = op.ReduceSum(op.Mul(op.Unsqueeze(weights, [2]), memory), [1], keepdims=0)  # (batch, D)
    pre = op.Add(op.Add(op.MatMul(x_t, kernel), op.MatMul(h, recurrent_kernel)), op.MatMul(context, context_kernel))
    new_h = op.Tanh(pre)
    return new_h, op.Identity(new_h)


def attention_rnn_numpy(x_t, states, constants, w):
    (h,), (memory,) = states, constants
    q = h @ w["query_kernel"]
    scores = (memory * q[:, None, :]).sum(-1)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    weights = e / e.sum(-1, keepdims=True)
    context = (weights[:, :, None] * memory).sum(1)
    new_h = np.tanh(x_t @ w["kernel"] + h @ w["recurrent_kernel"] + context @ w["context_kernel"])
    return new_h, new_h


CONVERTERS = (
    CustomCell(
        keras_name=f"{PACKAGE}>MinimalRNNCell",
        weights=("kernel", "recurrent_kernel"),
        state_sizes=lambda config: [config["units"]],
        onnx_step=minimal_rnn_step,
        numpy_step=minimal_rnn_numpy,
    ),
    CustomCell(
        keras_name=f"{PACKAGE}>AttentionRNNCell",
        weights=("kernel", "recurrent_kernel", "query_kernel", "context_kernel"),
        state_sizes=lambda config: [config["units"]],
        onnx_step=attention_rnn_step,
        numpy_step=attention_rnn_numpy,
        num_constants=1,
    ),
)

for _converter in CONVERTERS:
    if find_cell(_converter.keras_name, None) is None:
        register_cell(_converter)
