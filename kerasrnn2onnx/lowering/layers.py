"""ONNX forms of the layers around recurrent layers.

Rank-3 values are time-major (time, batch, features) inside the graph, rank-2 values are
(batch, features); per-feature layers are layout-agnostic, time-axis layers (Conv1D,
pooling) transpose to ONNX's (batch, channels, time) and back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UnsupportedError
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
from ..spec.masks import keras3_masked_merge
from ..spec.tfops import TFOpSpec
from .activation_layers import LOWERINGS as ACTIVATION_LOWERINGS
from .attention import ATTENTION_LOWERINGS
from .context import LoweringContext
from .conv import LOWERINGS as CONV_LOWERINGS
from .conv_rnn import CONV_RNN_LOWERINGS
from .dot import lower_dot
from .tfops import lower_tfop
from .wrappers import LOWERINGS as WRAPPER_LOWERINGS


def _dense(ctx: LoweringContext, layer: DenseSpec, xs, masks, ranks):
    op = ctx.op
    y = op.MatMul(xs[0], ctx.weight("kernel", layer.kernel))
    if layer.bias is not None:
        y = op.Add(y, ctx.weight("bias", layer.bias))
    return layer.activation.emit(op, y)


def _merge(ctx: LoweringContext, layer: MergeSpec, xs, masks, ranks):
    op = ctx.op
    if layer.reads_masks and any(m is not None for m in masks):  # masks: (time, batch, 1)
        pairs = {"multiply": op.Mul, "maximum": op.Max, "minimum": op.Min}
        return keras3_masked_merge(layer.op, xs, masks, pairs[layer.op], op.Where, ctx.scalar_like, op.Or)
    if layer.op == "concatenate":
        axis = layer.axis
        if ranks[0] == 3:  # batch-major Keras axis -> time-major graph axis
            axis = {1: 0, 2: 2}[axis]
        return op.Concat(*xs, axis=axis)
    if layer.op == "subtract":
        return op.Sub(xs[0], xs[1])
    if layer.op in ("add", "average"):
        total = op.Sum(*xs)
        return op.Div(total, float(len(xs))) if layer.op == "average" else total
    if layer.op == "multiply":
        out = xs[0]
        for x in xs[1:]:
            out = op.Mul(out, x)
        return out
    return (op.Max if layer.op == "maximum" else op.Min)(*xs)


def _repeat_vector(ctx: LoweringContext, layer: RepeatVectorSpec, xs, masks, ranks):
    op = ctx.op
    shape = op.Concat(ctx.ints(layer.n), op.Shape(xs[0]), axis=0)
    return op.Expand(ctx.unsqueeze(xs[0], 0), shape)


def _global_pool(ctx: LoweringContext, layer: GlobalPool1DSpec, xs, masks, ranks):
    op = ctx.op
    x, mask = xs[0], masks[0]
    if layer.op == "max":
        return ctx.reduce("Max", x, 0, 0)  # Keras ignores the mask here
    if mask is None:
        return ctx.reduce("Mean", x, 0, 0)
    weights = op.Cast(mask, to=1)  # FLOAT
    total = ctx.reduce("Sum", op.Where(mask, x, op.Mul(x, 0.0)), 0, 0)
    return op.Div(total, ctx.reduce("Sum", weights, 0, 0))


def _normalization(ctx: LoweringContext, layer: NormalizationSpec, xs, masks, ranks):
    op = ctx.op
    x = xs[0]
    if layer.kind == "batch":
        assert layer.moving_mean is not None and layer.moving_variance is not None  # parsed for "batch"
        # inference form folded into one scale and one shift per feature
        scale = 1.0 / np.sqrt(layer.moving_variance.astype(np.float64) + layer.epsilon)
        if layer.gamma is not None:
            scale = scale * layer.gamma
        shift = -layer.moving_mean.astype(np.float64) * scale
        if layer.beta is not None:
            shift = shift + layer.beta
        return op.Add(op.Mul(x, ctx.weight("scale", scale)), ctx.weight("shift", shift))
    if layer.rms_scaling:
        y = op.Div(x, op.Sqrt(op.Add(ctx.reduce("Mean", op.Mul(x, x), -1, 1), layer.epsilon)))
    else:
        centred = op.Sub(x, ctx.reduce("Mean", x, -1, 1))
        variance = ctx.reduce("Mean", op.Mul(centred, centred), -1, 1)
        y = op.Div(centred, op.Sqrt(op.Add(variance, layer.epsilon)))
    if layer.gamma is not None:
        y = op.Mul(y, ctx.weight("gamma", layer.gamma))
    if layer.beta is not None:
        y = op.Add(y, ctx.weight("beta", layer.beta))
    return y


def _flatten(ctx: LoweringContext, layer: FlattenSpec, xs, masks, ranks):
    op = ctx.op
    batch_major = op.Transpose(xs[0], perm=[1, 0, 2]) if ranks[0] == 3 else xs[0]
    return op.Reshape(batch_major, ctx.ints(0, -1))


def _reshape(ctx: LoweringContext, layer: ReshapeSpec, xs, masks, ranks):
    op = ctx.op
    x = op.Transpose(xs[0], perm=[1, 0, 2]) if ranks[0] == 3 else xs[0]  # batch-major
    y = op.Reshape(x, ctx.ints(0, *layer.target_shape))
    return op.Transpose(y, perm=[1, 0, 2]) if len(layer.target_shape) == 2 else y


def _permute(ctx: LoweringContext, layer: PermuteSpec, xs, masks, ranks):
    # (time, batch, features) -> Keras (batch, features, time) -> time-major (features, batch, time)
    return ctx.op.Transpose(xs[0], perm=[2, 1, 0])


LOWERINGS: dict[type, Callable] = {
    ReshapeSpec: _reshape,
    PermuteSpec: _permute,
    DenseSpec: _dense,
    ActivationLayerSpec: lambda ctx, layer, xs, masks, ranks: layer.activation.emit(ctx.op, xs[0]),
    IdentityLayerSpec: lambda ctx, layer, xs, masks, ranks: xs[0],
    MergeSpec: _merge,
    RepeatVectorSpec: _repeat_vector,
    GlobalPool1DSpec: _global_pool,
    NormalizationSpec: _normalization,
    FlattenSpec: _flatten,
    **ATTENTION_LOWERINGS,
    **CONV_RNN_LOWERINGS,
}

LOWERINGS[DotSpec] = lower_dot
LOWERINGS[TFOpSpec] = lower_tfop


LOWERINGS.update(CONV_LOWERINGS)
LOWERINGS.update(ACTIVATION_LOWERINGS)
LOWERINGS.update(WRAPPER_LOWERINGS)  # families kept in their own modules


def lower_feed_forward(ctx: LoweringContext, layer: Any, xs: list[Any], masks: list[Any], ranks: list[int]) -> Any:
    runner = LOWERINGS.get(type(layer))
    if runner is None:  # pragma: no cover - every parsed kind has a lowering
        raise UnsupportedError(layer.name, f"no lowering for {type(layer).__name__}")
    return runner(ctx, layer, xs, masks, ranks)
