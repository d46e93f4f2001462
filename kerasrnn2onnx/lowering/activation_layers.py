"""ONNX forms of the activation layers and rescalings (spec/activation_layers.py).

ReLU and ELU are elementwise and run on the graph's own layout; the layers that read an
axis or carry per-position parameters run on Keras's layout (:func:`keras_layout`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..spec.activation_layers import (
    MASK_NEGATIVE,
    AffineSpec,
    ELUSpec,
    PReLUSpec,
    ReLUSpec,
    SoftmaxSpec,
    UnitNormSpec,
)
from .context import LoweringContext
from .conv import keras_layout


def relu(ctx: LoweringContext, layer: ReLUSpec, xs, masks, ranks):
    op = ctx.op
    x = xs[0]
    if layer.threshold != 0:
        y = op.Mul(x, op.Cast(op.Greater(x, ctx.scalar_like(layer.threshold, x)), to=1))
    else:
        y = op.Relu(x)
    if layer.max_value is not None:
        y = op.Clip(y, ctx.scalar_like(0.0, x), ctx.scalar_like(layer.max_value, x))
    if layer.negative_slope != 0:
        below = op.Relu(op.Sub(ctx.scalar_like(layer.threshold, x), x))
        y = op.Sub(y, op.Mul(below, ctx.scalar_like(layer.negative_slope, x)))
    return y


def elu(ctx: LoweringContext, layer: ELUSpec, xs, masks, ranks):
    return ctx.op.Elu(xs[0], alpha=layer.alpha)


@keras_layout
def prelu(ctx: LoweringContext, layer: PReLUSpec, xs, masks, ranks):
    alpha = ctx.weight("alpha", layer.alpha)
    if not ctx.target.prelu:  # max(x, 0) + alpha * min(x, 0): the same numbers, one term is 0
        op = ctx.op
        return op.Add(op.Max(xs[0], 0.0), op.Mul(alpha, op.Min(xs[0], 0.0)))
    return ctx.op.PRelu(xs[0], alpha)


def _reduce(ctx: LoweringContext, kind: str, x, axes: tuple[int, ...]):
    if kind == "Sum" or ctx.opset >= 18:
        return getattr(ctx.op, f"Reduce{kind}")(x, ctx.ints(*axes), keepdims=1)
    return getattr(ctx.op, f"Reduce{kind}")(x, axes=list(axes), keepdims=1)


def _softmax(ctx: LoweringContext, x, axes: tuple[int, ...]):
    if len(axes) == 1:
        return ctx.op.Softmax(x, axis=axes[0])
    e = ctx.op.Exp(ctx.op.Sub(x, _reduce(ctx, "Max", x, axes)))
    return ctx.op.Div(e, _reduce(ctx, "Sum", e, axes))


def _masked_softmax(ctx: LoweringContext, x, axes: tuple[int, ...]):
    """Keras's ``exp(x - logsumexp(x))`` over several axes (float32, as Keras: a fully masked
    row gives 1 everywhere, see reference/activation_layers.py); one axis: Softmax."""
    if len(axes) == 1:
        return ctx.op.Softmax(x, axis=axes[0])
    op = ctx.op
    top = _reduce(ctx, "Max", x, axes)
    lse = op.Add(top, op.Log(_reduce(ctx, "Sum", op.Exp(op.Sub(x, top)), axes)))
    return op.Exp(op.Sub(x, lse))


@keras_layout
def softmax(ctx: LoweringContext, layer: SoftmaxSpec, xs, masks, ranks):
    """Keras's Softmax; the mask (``xs[1]``, Keras layout) broadcasts as in Keras (ONNX's
    Where and Add broadcast from the last axis like NumPy) and follows the spec's rule."""
    op, x = ctx.op, xs[0]
    if layer.mask_rule is None:
        return _softmax(ctx, x, layer.axes)
    mask = xs[1]
    if layer.mask_rule == "add":
        keep = mask if not layer.mask_boolean else op.Cast(mask, to=1)
        adder = op.Mul(op.Sub(ctx.scalar_like(1.0, x), keep), ctx.scalar_like(MASK_NEGATIVE, x))
        return _masked_softmax(ctx, op.Add(x, adder), layer.axes)
    keep = mask if layer.mask_boolean else op.Greater(mask, ctx.scalar_like(0.5, x))
    y = _masked_softmax(ctx, op.Where(keep, x, ctx.scalar_like(MASK_NEGATIVE, x)), layer.axes)
    return op.Where(keep, y, ctx.scalar_like(0.0, x)) if layer.mask_rule == "where_zero" else y


@keras_layout
def unit_norm(ctx: LoweringContext, layer: UnitNormSpec, xs, masks, ranks):
    op = ctx.op
    x = xs[0]
    norm = op.Sqrt(_reduce(ctx, "Sum", op.Mul(x, x), layer.axes))
    return op.Div(x, op.Max(norm, ctx.scalar_like(layer.floor, x)))


@keras_layout
def affine(ctx: LoweringContext, layer: AffineSpec, xs, masks, ranks):
    op = ctx.op
    x = xs[0]
    scale = ctx.weight("scale", np.asarray(layer.scale))
    offset = ctx.weight("offset", np.asarray(layer.offset))
    if not layer.normalize or layer.invert:
        return op.Add(op.Mul(x, scale), offset)
    return op.Div(op.Sub(x, offset), scale)


LOWERINGS: dict[type, Callable] = {
    ReLUSpec: relu,
    ELUSpec: elu,
    PReLUSpec: prelu,
    SoftmaxSpec: softmax,
    UnitNormSpec: unit_norm,
    AffineSpec: affine,
}
