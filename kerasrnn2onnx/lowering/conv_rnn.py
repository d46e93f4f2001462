"""ONNX forms of the ConvLSTM boundary specs (the loop is lowering/loops.py's, its step
:meth:`ConvLSTMStep.onnx_step`). Frames arrive batch-major in Keras's layout (tensors of
rank 4+ keep it); the loop takes time-major (time, batch, width) vectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..spec.conv_rnn import ConvFramesSpec, ConvStateFlattenSpec, ConvUnflattenSequenceSpec, ConvUnflattenSpec
from .context import LoweringContext


def _frames(ctx: LoweringContext, layer: ConvFramesSpec, xs: list[Any], masks: list[Any], ranks: list[int]) -> Any:
    rank = ranks[0]
    spatial = list(range(2, rank - 1)) if not layer.channels_first else list(range(3, rank))
    channel = rank - 1 if not layer.channels_first else 2
    moved = ctx.op.Transpose(xs[0], perm=[1, 0, channel, *spatial])  # (time, batch, channels, *spatial)
    return ctx.op.Reshape(moved, ctx.ints(0, 0, -1))


def _unflatten(ctx: LoweringContext, layer: ConvUnflattenSpec, xs: list[Any], masks: list[Any],
               ranks: list[int]) -> Any:
    op, outs = ctx.op, []
    rank = len(layer.out_spatial)
    for x, timed in zip(xs, layer.output_timed, strict=True):
        if timed:  # (time, batch, flat) -> (batch, time, filters, *spatial) -> Keras's layout
            y = op.Reshape(x, ctx.ints(0, 0, layer.filters, *layer.out_spatial))
            tail = [2, *range(3, 3 + rank)] if layer.channels_first else [*range(3, 3 + rank), 2]
            outs.append(op.Transpose(y, perm=[1, 0, *tail]))
        else:  # (batch, flat) -> (batch, filters, *spatial) -> Keras's layout
            y = op.Reshape(x, ctx.ints(0, layer.filters, *layer.out_spatial))
            if not layer.channels_first:
                y = op.Transpose(y, perm=[0, *range(2, 2 + rank), 1])
            # a rank-3 result (ConvLSTM1D's last output or states) is time-major like every rank-3 value
            outs.append(op.Transpose(y, perm=[1, 0, 2]) if rank == 1 else y)
    return tuple(outs) if len(outs) > 1 else outs[0]


def _flat_state(ctx: LoweringContext, layer: ConvStateFlattenSpec, xs: list[Any], masks: list[Any],
                ranks: list[int]) -> Any:
    """(batch, *spatial, filters) (rank 3: time-major (spatial, batch, filters), as every
    rank-3 value) -> (batch, filters * prod(spatial)) channels-first."""
    rank, x = ranks[0], xs[0]
    if rank == 3:
        x = ctx.op.Transpose(x, perm=[1, 0, 2])
    if not layer.channels_first:
        x = ctx.op.Transpose(x, perm=[0, rank - 1, *range(1, rank - 1)])
    return ctx.op.Flatten(x, axis=1)


CONV_RNN_LOWERINGS: dict[type, Callable[..., Any]] = {
    ConvFramesSpec: _frames, ConvUnflattenSpec: _unflatten, ConvUnflattenSequenceSpec: _unflatten,
    ConvStateFlattenSpec: _flat_state}
