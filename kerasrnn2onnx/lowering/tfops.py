"""ONNX forms of the whitelisted TensorFlow functions (spec/tfops.py).

Each op is written once, in Keras's batch-major layout: rank-3 inputs are transposed from
the graph's time-major layout first and a rank-3 result back after (onnxruntime folds the
adjacent Transposes). The time-major transpose changes no values and emits nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..spec.tfops import TFOpSpec
from .context import INT64_MIN, LoweringContext

INT64_MAX = np.iinfo(np.int64).max


def _binary(ctx: LoweringContext, layer: TFOpSpec, xs: list[Any]) -> Any:
    a, b = (xs[o.source] if o.source is not None else ctx.weight("constant", np.asarray(o.constant))
            for o in layer.params["operands"])
    return getattr(ctx.op, {"add": "Add", "subtract": "Sub", "multiply": "Mul", "truediv": "Div"}[layer.op])(a, b)


def _reduce(ctx: LoweringContext, layer: TFOpSpec, xs: list[Any]) -> Any:
    kind = {"reduce_mean": "Mean", "reduce_sum": "Sum", "reduce_max": "Max"}[layer.op]
    keep = int(layer.params["keepdims"])
    y = xs[0]
    for axis in sorted(layer.params["axes"], reverse=True):  # highest first: lower axes keep their number
        y = ctx.reduce(kind, y, axis, keep)
    return y


def _getitem(ctx: LoweringContext, layer: TFOpSpec, xs: list[Any]) -> Any:
    y = xs[0]
    gathered = []
    for axis, entry in enumerate(layer.params["index"], start=1):
        if isinstance(entry, int):
            gathered.append((axis, entry))
            continue
        start, stop, step = entry
        step = 1 if step is None else step
        if (start, stop, step) == (None, None, 1):
            continue
        if start is None:
            start = 0 if step > 0 else INT64_MAX
        if stop is None:
            stop = INT64_MAX if step > 0 else INT64_MIN
        y = ctx.op.Slice(y, ctx.ints(start), ctx.ints(stop), ctx.ints(axis), ctx.ints(step))
    for axis, index in reversed(gathered):  # highest axis first: the lower ones keep their number
        scalar = ctx.op.Constant(value_int=index)
        y = ctx.op.Gather(y, scalar, axis=axis)
    return y


def _stack(ctx: LoweringContext, layer: TFOpSpec, xs: list[Any]) -> Any:
    axis = layer.params["axis"]
    return ctx.op.Concat(*(ctx.unsqueeze(x, axis) for x in xs), axis=axis)


OPS: dict[str, Callable[[LoweringContext, TFOpSpec, list[Any]], Any]] = {
    "transpose": lambda ctx, layer, xs: ctx.op.Transpose(xs[0], perm=list(layer.params["perm"])),
    "expand_dims": lambda ctx, layer, xs: ctx.unsqueeze(xs[0], layer.params["axis"]),
    "squeeze": lambda ctx, layer, xs: ctx.squeeze(xs[0], layer.params["axis"]),
    "reshape": lambda ctx, layer, xs: ctx.op.Reshape(xs[0], ctx.ints(0, *layer.params["shape"])),
    "concat": lambda ctx, layer, xs: ctx.op.Concat(*xs, axis=layer.params["axis"]),
    "stack": _stack,
    "add": _binary,
    "subtract": _binary,
    "multiply": _binary,
    "truediv": _binary,
    "reduce_mean": _reduce,
    "reduce_sum": _reduce,
    "reduce_max": _reduce,
    "getitem": _getitem,
}


def lower_tfop(ctx: LoweringContext, layer: TFOpSpec, xs: list[Any], masks: list[Any], ranks: list[int]) -> Any:
    if layer.layout_only:
        return xs[0]
    batch_major = [ctx.op.Transpose(x, perm=[1, 0, 2]) if r == 3 else x for x, r in zip(xs, ranks, strict=True)]
    y = OPS[layer.op](ctx, layer, batch_major)
    return ctx.op.Transpose(y, perm=[1, 0, 2]) if layer.out_rank == 3 else y
