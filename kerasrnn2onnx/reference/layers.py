"""NumPy forms of the layers around recurrent layers (batch-major, Keras's formulas)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..spec.dot import DotSpec
from ..spec.layers import (
    ActivationLayerSpec,
    Conv1DSpec,
    DenseSpec,
    FlattenSpec,
    GlobalPool1DSpec,
    IdentityLayerSpec,
    MergeSpec,
    NormalizationSpec,
    PermuteSpec,
    Pool1DSpec,
    RepeatVectorSpec,
    ReshapeSpec,
)
from ..spec.tfops import TFOpSpec
from .activation_layers import RUNNERS as ACTIVATION_RUNNERS
from .attention import ATTENTION_RUNNERS
from .conv import RUNNERS as CONV_RUNNERS
from .conv_rnn import CONV_RNN_RUNNERS
from .dot import run_dot
from .tfops import run_tfop
from .wrappers import RUNNERS as WRAPPER_RUNNERS


def _dense(layer: DenseSpec, xs, masks):
    y = xs[0] @ layer.kernel.astype(xs[0].dtype)
    if layer.bias is not None:
        y = y + layer.bias.astype(y.dtype)
    return layer.activation.numpy(y)


def _merge(layer: MergeSpec, xs, masks):
    if layer.op == "concatenate":
        return np.concatenate(xs, axis=layer.axis)
    if layer.op == "add":
        return sum(xs[1:], xs[0])
    if layer.op == "subtract":
        return xs[0] - xs[1]
    if layer.op == "multiply":
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out
    if layer.op == "average":
        return sum(xs[1:], xs[0]) / np.asarray(len(xs), dtype=xs[0].dtype)
    reduce = np.maximum if layer.op == "maximum" else np.minimum
    out = xs[0]
    for x in xs[1:]:
        out = reduce(out, x)
    return out


def _conv1d(layer: Conv1DSpec, xs, masks):
    x = xs[0]
    k, d, s = layer.kernel_size, layer.dilation, layer.strides
    span = d * (k - 1) + 1
    steps = x.shape[1]
    if layer.padding == "causal":
        x = np.pad(x, ((0, 0), (span - 1, 0), (0, 0)))
    elif layer.padding == "same":
        out_steps = -(-steps // s)
        total = max((out_steps - 1) * s + span - steps, 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    out_steps = (x.shape[1] - span) // s + 1
    kernel = layer.kernel.astype(x.dtype)
    y = np.zeros((x.shape[0], out_steps, layer.filters), dtype=x.dtype)
    for t in range(out_steps):
        window = x[:, t * s : t * s + span : d, :]  # (batch, k, in)
        y[:, t] = np.einsum("bki,kio->bo", window, kernel)
    if layer.bias is not None:
        y = y + layer.bias.astype(y.dtype)
    return layer.activation.numpy(y)


def _pool1d(layer: Pool1DSpec, xs, masks):
    x = xs[0]
    size, s, steps = layer.pool_size, layer.strides, x.shape[1]
    if layer.padding == "same":
        out_steps = -(-steps // s)
        total = max((out_steps - 1) * s + size - steps, 0)
        before = total // 2
    else:
        out_steps, before = (steps - size) // s + 1, 0
    y = np.zeros((x.shape[0], out_steps, x.shape[2]), dtype=x.dtype)
    for t in range(out_steps):
        start, stop = max(t * s - before, 0), min(t * s - before + size, steps)
        window = x[:, start:stop]
        y[:, t] = window.max(axis=1) if layer.op == "max" else window.mean(axis=1)  # 'same' excludes padding
    return y


def _global_pool(layer: GlobalPool1DSpec, xs, masks):
    x, mask = xs[0], masks[0]
    if layer.op == "max":
        return x.max(axis=1)  # Keras's GlobalMaxPooling1D ignores the mask
    if mask is None:
        return x.mean(axis=1)
    weights = mask[..., None].astype(x.dtype)
    return (x * weights).sum(axis=1) / weights.sum(axis=1)


def _normalization(layer: NormalizationSpec, xs, masks):
    x = xs[0]
    eps = np.asarray(layer.epsilon, dtype=x.dtype)
    if layer.kind == "batch":
        assert layer.moving_mean is not None and layer.moving_variance is not None  # parsed for "batch"
        y = (x - layer.moving_mean.astype(x.dtype)) / np.sqrt(layer.moving_variance.astype(x.dtype) + eps)
    elif layer.rms_scaling:
        y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    else:
        mean = x.mean(axis=-1, keepdims=True)
        y = (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + eps)
    if layer.gamma is not None:
        y = y * layer.gamma.astype(x.dtype)
    if layer.beta is not None:
        y = y + layer.beta.astype(x.dtype)
    return y


RUNNERS: dict[type, Callable] = {
    DenseSpec: _dense,
    ActivationLayerSpec: lambda layer, xs, masks: layer.activation.numpy(xs[0]),
    IdentityLayerSpec: lambda layer, xs, masks: xs[0],
    MergeSpec: _merge,
    RepeatVectorSpec: lambda layer, xs, masks: np.repeat(xs[0][:, None, :], layer.n, axis=1),
    Conv1DSpec: _conv1d,
    Pool1DSpec: _pool1d,
    GlobalPool1DSpec: _global_pool,
    NormalizationSpec: _normalization,
    FlattenSpec: lambda layer, xs, masks: xs[0].reshape(xs[0].shape[0], -1),
    ReshapeSpec: lambda layer, xs, masks: xs[0].reshape(xs[0].shape[0], *layer.target_shape),
    PermuteSpec: lambda layer, xs, masks: np.transpose(xs[0], (0, 2, 1)),
    **ATTENTION_RUNNERS,
    **CONV_RNN_RUNNERS,
}

RUNNERS[DotSpec] = run_dot
RUNNERS[TFOpSpec] = run_tfop


RUNNERS.update(CONV_RUNNERS)
RUNNERS.update(ACTIVATION_RUNNERS)
RUNNERS.update(WRAPPER_RUNNERS)  # families kept in their own modules


def output_mask(layer, masks: list[np.ndarray | None]) -> np.ndarray | None:
    """The mask a surrounding layer passes on, as Keras computes it."""
    rule = layer.mask  # a class's rule, or a version-dependent one set on the spec (AffineSpec)
    if rule == "pass":
        return masks[0]
    if rule == "merge":
        present = [m for m in masks if m is not None]
        either = layer.op == "concatenate" or layer.any_or_none
        if not present or (either and len(present) < len(masks)):
            return None  # a missing mask counts as all-kept, so the OR keeps every step (Keras 3: no mask)
        return np.logical_or.reduce(present) if either else np.logical_and.reduce(present)
    return None


def run_feed_forward(
    layer, xs: list[np.ndarray], masks: list[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray | None]:
    return RUNNERS[type(layer)](layer, xs, masks), output_mask(layer, masks)
