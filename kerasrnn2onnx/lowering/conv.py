"""ONNX forms of the convolution family (spec/conv.py).

Each lowering works on Keras's batch-major layout (:func:`keras_layout` moves a rank-3
time-major graph value there and back) and transposes channels_last tensors to ONNX's
(batch, channels, ...) around Conv/ConvTranspose/Pool/Resize. Explicit pads wherever the
spatial size is known (Keras's 'same': odd element at the end); ``SAME_UPPER`` (the same
rule) where it is dynamic.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np
import onnx_ir as ir

from ..errors import UnsupportedError
from ..spec.conv import (
    ConvSpec,
    GlobalPoolSpec,
    PadCropSpec,
    PermuteNDSpec,
    PoolSpec,
    UpSamplingSpec,
    same_pads,
)
from .context import LoweringContext

INT64_MAX = np.iinfo(np.int64).max


def keras_layout(fn: Callable) -> Callable:
    """Run ``fn`` on Keras's batch-major layout: rank-3 graph values are time-major."""
    @wraps(fn)
    def run(ctx: LoweringContext, layer: Any, xs: list[Any], masks: list[Any], ranks: list[int]) -> Any:
        ins = [ctx.op.Transpose(x, perm=[1, 0, 2]) if r == 3 else x for x, r in zip(xs, ranks, strict=False)]
        y = fn(ctx, layer, ins, masks, ranks)
        return ctx.op.Transpose(y, perm=[1, 0, 2]) if len(layer.out_shape) == 2 else y
    return run


def to_onnx_layout(ctx: LoweringContext, x: Any, n: int, first: bool) -> Any:
    """channels_last (batch, d1..dn, c) -> (batch, c, d1..dn)."""
    return x if first else ctx.op.Transpose(x, perm=[0, n + 1, *range(1, n + 1)])


def from_onnx_layout(ctx: LoweringContext, y: Any, n: int, first: bool) -> Any:
    return y if first else ctx.op.Transpose(y, perm=[0, *range(2, n + 2), 1])


def _space(shape: tuple, first: bool) -> tuple:
    return tuple(shape[1:]) if first else tuple(shape[:-1])


def _pad_attrs(padding: str, space: tuple, spans: tuple[int, ...], strides: tuple[int, ...]) -> dict[str, Any]:
    n = len(spans)
    if padding == "valid":
        return {"pads": [0] * (2 * n)}
    if padding == "causal":
        return {"pads": [span - 1 for span in spans] + [0] * n}
    if any(L is None for L in space):
        return {"auto_pad": "SAME_UPPER"}
    pairs = [same_pads(L, span, s) for L, span, s in zip(space, spans, strides, strict=False)]
    return {"pads": [a for a, _ in pairs] + [b for _, b in pairs]}


@keras_layout
def conv(ctx: LoweringContext, layer: ConvSpec, xs, masks, ranks):
    op, n, first = ctx.op, layer.n, layer.channels_first
    x = to_onnx_layout(ctx, xs[0], n, first)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(layer.kernel_size, layer.dilation, strict=False))
    space = _space(layer.in_shape, first)
    spatial_axes = tuple(range(n))
    attrs: dict[str, Any] = {"kernel_shape": list(layer.kernel_size), "strides": list(layer.strides),
                             "dilations": list(layer.dilation)}
    bias = [ctx.weight("bias", layer.bias)] if layer.bias is not None else []
    if layer.kind == "transpose":
        y = _conv_transpose(ctx, layer, x, attrs, spans, space, bias)
    else:
        attrs.update(_pad_attrs(layer.padding, space, spans, layer.strides))
        to_onnx = (n + 1, n, *spatial_axes)  # Keras (k..., in, out) -> ONNX (out, in, k...)
        if layer.kind == "conv":
            weight = np.transpose(layer.kernel, to_onnx)
            y = op.Conv(x, ctx.weight("kernel", weight), *bias, group=layer.groups, **attrs)
        else:  # depthwise (k..., c, m) -> (c*m, 1, k...): output channel c*m + j reads channel c
            c, m = layer.kernel.shape[-2:]
            weight = np.transpose(layer.kernel, (n, n + 1, *spatial_axes)).reshape(c * m, 1, *layer.kernel_size)
            if layer.kind == "depthwise":
                y = op.Conv(x, ctx.weight("depthwise_kernel", weight), *bias, group=c, **attrs)
            else:
                y = op.Conv(x, ctx.weight("depthwise_kernel", weight), group=c, **attrs)
                assert layer.pointwise is not None
                point = np.transpose(layer.pointwise, to_onnx)
                y = op.Conv(y, ctx.weight("pointwise_kernel", point), *bias, kernel_shape=[1] * n)
    return layer.activation.emit(op, from_onnx_layout(ctx, y, n, first))


def _conv_transpose(ctx: LoweringContext, layer: ConvSpec, x: Any, attrs: dict[str, Any], spans: tuple[int, ...],
                    space: tuple, bias: list[Any]) -> Any:
    """ConvTranspose with pads that crop the full adjoint to Keras's output size: ``before``
    as TF derives it from the forward convolution, the rest at the end (negative rest:
    ONNX output_padding, zero rows plus the bias, as Keras's output_padding gives)."""
    n = layer.n
    out_space = _space(layer.out_shape, layer.channels_first)
    begins, ends, extra = [], [], []
    for L_in, L_out, span, s in zip(space, out_space, spans, layer.strides, strict=False):
        full = (L_in - 1) * s + span
        before = max(full - L_out, 0) // 2 if layer.padding == "same" else 0
        after = full - before - L_out
        begins.append(before)
        ends.append(max(after, 0))
        extra.append(max(-after, 0))
    if any(e >= max(s, d) for e, s, d in zip(extra, layer.strides, layer.dilation, strict=False)):
        raise UnsupportedError(layer.name, f"{layer.class_name}: output_padding {layer.output_padding} cannot be "
                               "expressed with ONNX ConvTranspose", "output_padding")
    weight = np.transpose(layer.kernel, (n + 1, n, *range(n)))  # (k..., out, in) -> (in, out, k...)
    return ctx.op.ConvTranspose(x, ctx.weight("kernel", weight), *bias, pads=begins + ends, output_padding=extra,
                                **attrs)


@keras_layout
def pool(ctx: LoweringContext, layer: PoolSpec, xs, masks, ranks):
    op, n, first = ctx.op, layer.n, layer.channels_first
    x = to_onnx_layout(ctx, xs[0], n, first)
    attrs: dict[str, Any] = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides)}
    attrs.update(_pad_attrs(layer.padding, _space(layer.in_shape, first), layer.pool_size, layer.strides))
    if layer.op == "max":
        y = op.MaxPool(x, **attrs)
    else:
        y = op.AveragePool(x, count_include_pad=0, **attrs)  # Keras averages the real elements only
    return from_onnx_layout(ctx, y, n, first)


@keras_layout
def global_pool(ctx: LoweringContext, layer: GlobalPoolSpec, xs, masks, ranks):
    kind = "Max" if layer.op == "max" else "Mean"
    keep = 1 if layer.keepdims else 0
    if not ctx.target.multi_axis_reduce and len(layer.axes) > 1:
        # one axis at a time, the last first (the earlier axis numbers stay valid): every group
        # has the same size, so a mean of means is the mean
        y = xs[0]
        for axis in sorted(layer.axes, reverse=True):
            y = ctx.reduce(kind, y, axis, keep)
        return y
    if ctx.opset >= 18:  # axes became an input of ReduceMax/Mean in opset 18
        return getattr(ctx.op, f"Reduce{kind}")(xs[0], ctx.ints(*layer.axes), keepdims=keep)
    return getattr(ctx.op, f"Reduce{kind}")(xs[0], axes=list(layer.axes), keepdims=keep)


@keras_layout
def pad_crop(ctx: LoweringContext, layer: PadCropSpec, xs, masks, ranks):
    amounts = [(0, 0), *layer.amounts]
    if layer.op == "pad":
        pads = [a for a, _ in amounts] + [b for _, b in amounts]
        return ctx.op.Pad(xs[0], ctx.ints(*pads))
    axes = [i for i, (a, b) in enumerate(amounts) if (a, b) != (0, 0)]
    starts = [amounts[i][0] for i in axes]
    ends = [-amounts[i][1] if amounts[i][1] else INT64_MAX for i in axes]
    return ctx.op.Slice(xs[0], ctx.ints(*starts), ctx.ints(*ends), ctx.ints(*axes))


@keras_layout
def upsampling(ctx: LoweringContext, layer: UpSamplingSpec, xs, masks, ranks):
    op = ctx.op
    x = xs[0]
    rank = len(layer.out_shape) + 1
    if layer.interpolation == "nearest":
        # repeat each element: insert an axis after the repeated one, Expand it, merge the two
        for axis, factor in enumerate(layer.factors, start=1):
            if factor == 1:
                continue
            target = op.Mul(op.Shape(x), ctx.ints(*[factor if a == axis else 1 for a in range(rank)]))
            repeat = [1] * (rank + 1)
            repeat[axis + 1] = factor
            x = op.Reshape(op.Expand(ctx.unsqueeze(x, axis + 1), ctx.ints(*repeat)), target)
        return x
    first = layer.channels_first
    y = to_onnx_layout(ctx, x, 2, first)
    scales = [1.0, 1.0, *[float(f) for f in (layer.factors[1:] if first else layer.factors[:-1])]]
    y = op.Resize(y, op.Constant(value=_floats([])), op.Constant(value=_floats(scales)), mode="linear",
                  coordinate_transformation_mode="half_pixel")
    return from_onnx_layout(ctx, y, 2, first)


def _floats(values: list[float]) -> Any:
    return ir.tensor(np.array(values, dtype=np.float32))


@keras_layout
def permute(ctx: LoweringContext, layer: PermuteNDSpec, xs, masks, ranks):
    return ctx.op.Transpose(xs[0], perm=[0, *layer.dims])


LOWERINGS: dict[type, Callable] = {
    PermuteNDSpec: permute,
    ConvSpec: conv,
    PoolSpec: pool,
    GlobalPoolSpec: global_pool,
    PadCropSpec: pad_crop,
    UpSamplingSpec: upsampling,
}
