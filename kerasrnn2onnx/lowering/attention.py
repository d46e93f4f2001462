"""ONNX forms of the attention layers.

Sequences arrive time-major (time, batch, features) with (time, batch, 1) boolean masks;
attention works batch-major, so each input is transposed once, the output goes back to
time-major, and Attention's scores (batch, Tq, Tv) leave time-major too (Tq, batch, Tv)
like any other rank-3 value; MultiHeadAttention's scores stay (batch, heads, Tq, Tv).
Masked scores follow the spec's ``softmax`` rule with the same float32 arithmetic as Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx_ir as ir

from ..spec.attention import AttentionSpec, MultiHeadAttentionSpec
from .context import LoweringContext

BIG = 1e9


def _batch_major(ctx: LoweringContext, x: Any) -> Any:
    return ctx.op.Transpose(x, perm=[1, 0, 2])


def _causal_keep(ctx: LoweringContext, q_time_major: Any, v_time_major: Any) -> Any:
    """(Tq, Tv) booleans, row >= column (Keras builds it from two cumulative sums too)."""
    op = ctx.op
    shape = op.Concat(ctx.dims(q_time_major, 0, 1), ctx.dims(v_time_major, 0, 1), axis=0)
    ones = op.ConstantOfShape(shape, value=ir.tensor(np.ones(1, np.int64)))
    # CumSum axes as 0-D tensors, the spec's form (tract and the reference evaluator reject 1-D)
    int64 = ir.DataType.INT64
    return op.GreaterOrEqual(op.CumSum(ones, ctx.scalar(0, int64)), op.CumSum(ones, ctx.scalar(1, int64)))


def _and(ctx: LoweringContext, a: Any | None, b: Any | None) -> Any | None:
    if a is None:
        return b
    return a if b is None else ctx.op.And(a, b)


def masked_softmax(ctx: LoweringContext, scores: Any, keep: Any | None, rule: str) -> Any:
    op = ctx.op
    if keep is None:
        return op.Softmax(scores, axis=-1)
    if rule == "subtract":
        return op.Softmax(op.Where(keep, scores, op.Sub(scores, BIG)), axis=-1)
    weights = op.Softmax(op.Where(keep, scores, ctx.scalar(-BIG, ir.DataType.FLOAT)), axis=-1)
    if rule == "zero":
        weights = op.Where(keep, weights, ctx.scalar(0.0, ir.DataType.FLOAT))
    return weights


def _value_keep(ctx: LoweringContext, mask: Any | None) -> Any | None:
    """A (time, batch, 1) mask as (batch, 1, time): blocks value steps."""
    return ctx.op.Transpose(mask, perm=[1, 2, 0]) if mask is not None else None


def _attention(ctx: LoweringContext, layer: AttentionSpec, xs: list[Any], masks: list[Any], ranks: list[int]) -> Any:
    op = ctx.op
    q, v = _batch_major(ctx, xs[0]), _batch_major(ctx, xs[1])
    k = _batch_major(ctx, xs[2]) if len(xs) > 2 else v
    if layer.score_mode == "dot":
        scores = op.MatMul(q, op.Transpose(k, perm=[0, 2, 1]))
        if layer.scale is not None:
            scores = op.Mul(scores, ctx.weight("scale", layer.scale))
    else:
        summed = op.Add(ctx.unsqueeze(q, 2), ctx.unsqueeze(k, 1))  # (batch, Tq, Tv, dim)
        if layer.score_mode == "concat":
            inner = op.Mul(summed, ctx.weight("scale", layer.scale)) if layer.scale is not None else summed
            assert layer.concat_score_weight is not None  # read with score_mode="concat"
            scores = op.Mul(ctx.weight("concat_score_weight", layer.concat_score_weight),
                            ctx.reduce("Sum", op.Tanh(inner), -1, 0))
        else:
            tanh = op.Tanh(summed)
            scaled = op.Mul(tanh, ctx.weight("scale", layer.scale)) if layer.scale is not None else tanh
            scores = ctx.reduce("Sum", scaled, -1, 0)
    keep = _value_keep(ctx, masks[1] if len(masks) > 1 else None)
    if layer.causal:
        keep = _and(ctx, keep, _causal_keep(ctx, xs[0], xs[2] if len(xs) > 2 else xs[1]))
    weights = masked_softmax(ctx, scores, keep, layer.softmax)
    out = op.MatMul(weights, v)
    if masks[0] is not None:
        out = op.Where(op.Transpose(masks[0], perm=[1, 0, 2]), out, ctx.scalar(0.0, ir.DataType.FLOAT))
    out = _batch_major(ctx, out)  # back to time-major (the same swap)
    return (out, _batch_major(ctx, weights)) if layer.return_scores else out


def _project(ctx: LoweringContext, x: Any, kernel: np.ndarray, bias: np.ndarray | None, name: str) -> Any:
    """(batch, time, dim) -> (batch, heads, time, size): one MatMul, a Reshape, a Transpose."""
    op = ctx.op
    dim, heads, size = kernel.shape
    y = op.MatMul(x, ctx.weight(f"{name}/kernel", kernel.reshape(dim, heads * size)))
    if bias is not None:
        y = op.Add(y, ctx.weight(f"{name}/bias", bias.reshape(heads * size)))
    y = op.Reshape(y, ctx.ints(0, 0, heads, size))
    return op.Transpose(y, perm=[0, 2, 1, 3])


def _multi_head(ctx: LoweringContext, layer: MultiHeadAttentionSpec, xs: list[Any], masks: list[Any],
                ranks: list[int]) -> Any:
    op = ctx.op
    by_role = dict(zip(layer.roles, xs, strict=True))
    mask_of = dict(zip(layer.roles, masks, strict=True))
    query_tm, value_tm = by_role["query"], by_role["value"]
    key_tm = by_role.get("key", value_tm)
    keep = None
    if mask_of["query"] is not None:
        keep = op.Transpose(mask_of["query"], perm=[1, 0, 2])  # (batch, Tq, 1)
    for role in ("value", "key"):
        if mask_of.get(role) is not None:
            keep = _and(ctx, keep, _value_keep(ctx, mask_of[role]))
    if layer.causal:
        keep = _and(ctx, keep, _causal_keep(ctx, query_tm, value_tm))
    if "attention_mask" in by_role:  # a (batch, Tq, Tv) input, time-major in the graph: (Tq, batch, Tv)
        given = _batch_major(ctx, by_role["attention_mask"])
        given = op.Not(op.Equal(given, ctx.scalar_like(0.0, given)))
        keep = _and(ctx, given, keep)
    q = _project(ctx, _batch_major(ctx, query_tm), layer.query_kernel, layer.query_bias, "query")
    q = op.Mul(q, ctx.scalar(1.0 / np.sqrt(layer.key_dim), ir.DataType.FLOAT))
    k = _project(ctx, _batch_major(ctx, key_tm), layer.key_kernel, layer.key_bias, "key")
    v = _project(ctx, _batch_major(ctx, value_tm), layer.value_kernel, layer.value_bias, "value")
    scores = op.MatMul(q, op.Transpose(k, perm=[0, 1, 3, 2]))  # (batch, heads, Tq, Tv)
    if keep is not None:
        keep = ctx.unsqueeze(keep, 1)
    weights = masked_softmax(ctx, scores, keep, layer.softmax)
    heads = op.Transpose(op.MatMul(weights, v), perm=[0, 2, 1, 3])  # (batch, Tq, heads, value_dim)
    h, size, width = layer.output_kernel.shape
    out = op.MatMul(op.Reshape(heads, ctx.ints(0, 0, h * size)),
                    ctx.weight("attention_output/kernel", layer.output_kernel.reshape(h * size, width)))
    if layer.output_bias is not None:
        out = op.Add(out, ctx.weight("attention_output/bias", layer.output_bias))
    out = _batch_major(ctx, out)
    return (out, weights) if layer.return_scores else out


ATTENTION_LOWERINGS: dict[type, Callable[..., Any]] = {AttentionSpec: _attention, MultiHeadAttentionSpec: _multi_head}
