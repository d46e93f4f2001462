"""ONNX forms of TimeDistributed (Reshape time into the batch around the wrapped layer's own
lowering) and of Embedding over ids of any rank (one Gather)."""

from __future__ import annotations

from collections.abc import Callable

import onnx_ir as ir

from ..spec.folds import FoldSpec, UnfoldSpec
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


def _batch_major(ctx: LoweringContext, x, rank: int):
    """A graph value in Keras's (batch, time, ...) layout: rank-3 values are time-major."""
    return ctx.op.Transpose(x, perm=[1, 0, 2]) if rank == 3 else x


def _graph_layout(ctx: LoweringContext, x, facts):
    """A batch-major value in the graph's layout: sequences and token ids are time-major."""
    if facts.rank == 3:
        return ctx.op.Transpose(x, perm=[1, 0, 2])
    if facts.rank == 2 and facts.width is None:  # token ids, (time, batch) like a tokens input
        return ctx.op.Transpose(x, perm=[1, 0])
    return x


def _shape(ctx: LoweringContext, lead: list, dims, value, start: int):
    """A Reshape target: ``lead`` (int64 1-D values), then ``dims`` as constants when all are
    fixed, else ``value``'s own dims from ``start`` on."""
    if all(isinstance(d, int) for d in dims):
        rest = [ctx.ints(*dims)] if dims else []
    else:
        rest = [ctx.dims(value, start, start + len(dims))]
    parts = [*lead, *rest]
    return parts[0] if len(parts) == 1 else ctx.op.Concat(*parts, axis=0)


def _nonzero(ctx: LoweringContext, ids):
    """An Embedding(mask_zero=True) mask: the ids as given (float ids too) compared with 0."""
    op = ctx.op
    if ids.dtype == ir.DataType.FLOAT:
        return op.Not(op.Equal(ids, ctx.scalar_like(0, ids)))
    return op.Not(op.Equal(op.Cast(ids, to=ir.DataType.INT64), ctx.ints(0)))


def fold(ctx: LoweringContext, layer: FoldSpec, xs, ranks):
    """One Reshape merging the batch and time axes (a Transpose around it for time-major
    values), so the wrapped layers' own lowerings run on (batch * time, ...); with
    ``mask_ids``, the (steps, batch * time, 1) mask of the ids, folded the same way."""
    x = _batch_major(ctx, xs[0], ranks[0])
    y = ctx.op.Reshape(x, _shape(ctx, [ctx.ints(-1)], layer.in_shape[1:], x, 2))
    mask = None
    if layer.mask_ids:  # ids: (time, batch, steps) in the graph
        ids = _batch_major(ctx, _nonzero(ctx, xs[1]), 3)
        folded = ctx.op.Reshape(ids, _shape(ctx, [ctx.ints(-1)], layer.in_shape[1:2], ids, 2))
        mask = ctx.unsqueeze(ctx.op.Transpose(folded, perm=[1, 0]), 2)
    return _graph_layout(ctx, y, layer.out[0]), mask


def unfold(ctx: LoweringContext, layer: UnfoldSpec, xs, ranks):
    """One Reshape splitting (batch * time) again, the time size from the wrapper's input;
    the ``any_ids`` rule's (time, batch, 1) mask."""
    outer, y = xs[0], xs[1]
    y = _batch_major(ctx, y, ranks[1])
    steps = layer.out_shape[0]
    if isinstance(steps, int):
        time = ctx.ints(steps)
    else:  # the input's time axis: first in the time-major rank-3 layout, second otherwise
        time = ctx.dims(outer, 0, 1) if ranks[0] == 3 else ctx.dims(outer, 1, 2)
    z = ctx.op.Reshape(y, _shape(ctx, [ctx.ints(-1), time], layer.out_shape[1:], y, 1))
    mask = None
    if layer.mask_rule == "any_ids":  # ids: (time, batch, steps) in the graph
        kept = ctx.reduce("Max", ctx.op.Cast(_nonzero(ctx, xs[2]), to=ir.DataType.FLOAT), -1, 1)
        mask = ctx.op.Greater(kept, 0.0)
    return _graph_layout(ctx, z, layer.out[0]), mask


LOWERINGS: dict[type, Callable] = {TimeDistributedSpec: time_distributed, TokenEmbeddingSpec: token_embedding}
FOLD_LOWERINGS: dict[type, Callable] = {FoldSpec: fold, UnfoldSpec: unfold}
"""TimeDistributed's fold and unfold: ``(ctx, spec, xs, ranks) -> (value, mask)`` (their masks
follow no feed-forward rule: spec/folds.py)."""
