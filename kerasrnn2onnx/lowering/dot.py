"""ONNX form of Keras ``Dot``: batch-major MatMul of (batch, m, k) by (batch, k, n).

Rank-3 values arrive time-major (time, batch, features), so each input is first put in
Keras's batch-major order with its contracted axis last (first input) or in the middle
(second input); the result is reshaped to Keras's output and made time-major again.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir

from ..spec.dot import K2_SQUARE_SUM_FLOOR, K3_INV_NORM_LIMIT, DotSpec
from .context import LoweringContext


def _normalize(ctx: LoweringContext, x: Any, axis: int, keras_major: int | None) -> Any:
    op = ctx.op
    square_sum = ctx.reduce("Sum", op.Mul(x, x), axis, 1)
    if keras_major == 3:
        inv = op.Min(op.Reciprocal(op.Sqrt(square_sum)), ctx.scalar(K3_INV_NORM_LIMIT, ir.DataType.FLOAT))
    else:
        inv = op.Reciprocal(op.Sqrt(op.Max(square_sum, ctx.scalar(K2_SQUARE_SUM_FLOOR, ir.DataType.FLOAT))))
    return op.Mul(x, inv)


def lower_dot(ctx: LoweringContext, layer: DotSpec, xs: list[Any], masks: list[Any], ranks: list[int]) -> Any:
    op = ctx.op
    x1, x2 = (op.Transpose(x, perm=[1, 0, 2]) if r == 3 else x for x, r in zip(xs, ranks, strict=True))  # batch-major
    a1, a2 = layer.axes
    r1, r2 = layer.ranks
    if layer.normalize:
        x1, x2 = _normalize(ctx, x1, a1, layer.keras_major), _normalize(ctx, x2, a2, layer.keras_major)
    # first input as (batch, m, k), second as (batch, k, n)
    if r1 == 2:
        x1 = ctx.unsqueeze(x1, 1)
    elif a1 == 1:
        x1 = op.Transpose(x1, perm=[0, 2, 1])
    if r2 == 2:
        x2 = ctx.unsqueeze(x2, 2)
    elif a2 == 2:
        x2 = op.Transpose(x2, perm=[0, 2, 1])
    y = op.MatMul(x1, x2)  # (batch, m, n), m = 1 / n = 1 for a rank-2 input
    if r1 == 2 and r2 == 2:
        return op.Reshape(y, ctx.ints(0, 1))
    if r1 == 2:
        return ctx.squeeze(y, 1)
    if r2 == 2:
        return ctx.squeeze(y, 2)
    return op.Transpose(y, perm=[1, 0, 2])  # back to time-major
