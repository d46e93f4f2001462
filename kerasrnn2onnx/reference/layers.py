"""NumPy forms of the layers around recurrent layers (batch-major, Keras's formulas)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..spec.dot import DotSpec
from ..spec.layers import (
    ActivationLayerSpec,
    DenseSpec,
    FlattenSpec,
    GlobalPool1DSpec,
    IdentityLayerSpec,
    MergeSpec,
    NormalizationSpec,
    PermuteSpec,
    RepeatVectorSpec,
    ReshapeSpec,
)
from ..spec.masks import feed_forward_mask, keras3_masked_merge
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


MERGE_PAIRS = {"multiply": np.multiply, "maximum": np.maximum, "minimum": np.minimum}


def _merge(layer: MergeSpec, xs, masks):
    if layer.reads_masks and any(m is not None for m in masks):
        return keras3_masked_merge(layer.op, xs, masks, MERGE_PAIRS[layer.op],
                                   lambda m, a, b: np.where(m[..., None], a, b),
                                   lambda v, like: np.asarray(v, dtype=like.dtype), np.logical_or)
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


def run_feed_forward(
    layer, xs: list[np.ndarray], masks: list[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray | None]:
    def join_time(parts: Sequence[np.ndarray | None]) -> np.ndarray:
        """(batch, time) masks end to end; an unmasked input keeps all its steps."""
        filled = [m if m is not None else np.ones(x.shape[:2], dtype=bool) for m, x in zip(parts, xs, strict=True)]
        return np.concatenate(filled, axis=1)

    mask = feed_forward_mask(layer, masks, np.logical_or, np.logical_and, join_time)  # spec/masks.py
    return RUNNERS[type(layer)](layer, xs, masks), mask
