"""ONNX forms of TimeDistributed (Reshape time into the batch around the wrapped layer's own
lowering) and of Embedding over ids of any rank (one Gather)."""

from __future__ import annotations

from collections.abc import Callable

import onnx_ir as ir

from ..spec.wrappers import TimeDistributedSpec, TokenEmbeddingSpec
from .context import LoweringContext
from .conv import keras_layout


@keras_layout
def time_distributed(ctx: LoweringContext, layer: TimeDistributedSpec, xs, masks, ranks):
    from .layers import lower_feed_forward  # the registry this module is part of

    op = ctx.op
    x = xs[0]  # (batch, time, ...) in Keras's layout
    rank = ranks[0]
    in_dims = [d for d in layer.in_shape if isinstance(d, int)]
    out_dims = [d for d in layer.out_shape if isinstance(d, int)]
    static = ctx.target.static_reshapes and (len(in_dims), len(out_dims)) == (len(layer.in_shape), len(layer.out_shape))
    if static:  # OpenCV's importer cannot Reshape to a shape computed from Shape
        folded = op.Reshape(x, ctx.ints(-1, *in_dims[1:]))
    else:
        folded = op.Reshape(x, op.Concat(ctx.ints(-1), ctx.dims(x, 2, rank), axis=0))
    inner_in = op.Transpose(folded, perm=[1, 0, 2]) if layer.inner_in_rank == 3 else folded
    y = inner_in
    for inner, in_rank, _ in layer.chain:
        if len(layer.chain) == 1:
            y = lower_feed_forward(ctx, inner, [y], [None], [in_rank])
        else:
            # the wrapped model's own names (a nested model's layers keep their "<model>/" part)
            with ctx.scope(inner.name.removeprefix(layer.name + "/")):
                y = lower_feed_forward(ctx, inner, [y], [None], [in_rank])
    if layer.inner_out_rank == 3:
        y = op.Transpose(y, perm=[1, 0, 2])
    if static:
        return op.Reshape(y, ctx.ints(-1, *out_dims))
    return op.Reshape(y, op.Concat(ctx.dims(x, 0, 2), ctx.dims(y, 1, layer.inner_out_rank), axis=0))


@keras_layout
def token_embedding(ctx: LoweringContext, layer: TokenEmbeddingSpec, xs, masks, ranks):
    ids = ctx.op.Cast(xs[0], to=ir.DataType.INT64)
    return ctx.op.Gather(ctx.weight("embeddings", layer.table), ids, axis=0)


LOWERINGS: dict[type, Callable] = {TimeDistributedSpec: time_distributed, TokenEmbeddingSpec: token_embedding}
