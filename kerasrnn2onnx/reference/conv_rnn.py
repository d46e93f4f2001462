"""NumPy forms of the ConvLSTM boundary specs (the loop itself runs in reference/loop.py,
its step in :meth:`ConvLSTMStep.numpy_step`): frames to flat channels-first step vectors
and back to Keras's shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..spec.conv_rnn import ConvFramesSpec, ConvStateFlattenSpec, ConvUnflattenSequenceSpec, ConvUnflattenSpec


def _frames(layer: ConvFramesSpec, xs: list[np.ndarray], masks: list[Any]) -> np.ndarray:
    x = xs[0] if layer.channels_first else np.moveaxis(xs[0], -1, 2)  # (batch, time, channels, *spatial)
    return x.reshape(x.shape[0], x.shape[1], -1)


def _unflatten(layer: ConvUnflattenSpec, xs: list[np.ndarray], masks: list[Any]) -> Any:
    outs = []
    for x, timed in zip(xs, layer.output_timed, strict=True):
        lead = x.shape[:2] if timed else x.shape[:1]
        y = x.reshape(*lead, layer.filters, *layer.out_spatial)
        outs.append(y if layer.channels_first else np.moveaxis(y, len(lead), -1))
    return tuple(outs) if len(outs) > 1 else outs[0]


def _flat_state(layer: ConvStateFlattenSpec, xs: list[np.ndarray], masks: list[Any]) -> np.ndarray:
    x = xs[0] if layer.channels_first else np.moveaxis(xs[0], -1, 1)  # (batch, filters, *spatial)
    return x.reshape(x.shape[0], -1)


CONV_RNN_RUNNERS: dict[type, Callable[..., Any]] = {
    ConvFramesSpec: _frames, ConvUnflattenSpec: _unflatten, ConvUnflattenSequenceSpec: _unflatten,
    ConvStateFlattenSpec: _flat_state}
