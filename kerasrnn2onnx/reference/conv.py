"""NumPy forms of the convolution family (spec/conv.py), written from Keras's definitions
(windows, padding rules, the transposed convolution as the adjoint of the forward one),
not from ONNX's, so ``verify`` checks one against the other. Batch-major Keras layout."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ..spec.conv import (
    ConvSpec,
    GlobalPoolSpec,
    PadCropSpec,
    PermuteNDSpec,
    PoolSpec,
    UpSamplingSpec,
    same_pads,
)


def _last(x: np.ndarray, first: bool) -> np.ndarray:
    """channels_first -> channels_last."""
    return np.moveaxis(x, 1, -1) if first else x


def _back(y: np.ndarray, first: bool) -> np.ndarray:
    return np.moveaxis(y, -1, 1) if first else y


def _pads(spec: ConvSpec | PoolSpec, space: tuple[int, ...], spans: tuple[int, ...]) -> list[tuple[int, int]]:
    if spec.padding == "valid":
        return [(0, 0)] * len(space)
    if spec.padding == "causal":
        return [(span - 1, 0) for span in spans]
    return [same_pads(L, span, s) for L, span, s in zip(space, spans, spec.strides, strict=False)]


def _windows(x: np.ndarray, out: tuple[int, ...], size: tuple[int, ...], strides: tuple[int, ...],
             dilation: tuple[int, ...]):
    """(kernel offset, strided slice of x (batch, *out, channels)) for every kernel position."""
    for offset in itertools.product(*(range(k) for k in size)):
        index = (slice(None),) + tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                                       for o, d, n, s in zip(offset, dilation, out, strides, strict=False))
        yield offset, x[index]


def conv(spec: ConvSpec, xs, masks):
    x = _last(xs[0], spec.channels_first)
    dtype = x.dtype
    space = x.shape[1:-1]
    if spec.kind == "transpose":
        return _back(_transpose(spec, x), spec.channels_first)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(spec.kernel_size, spec.dilation, strict=False))
    pads = _pads(spec, space, spans)
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = tuple((L + a + b - span) // s + 1
                for L, (a, b), span, s in zip(space, pads, spans, spec.strides, strict=True))
    kernel = spec.kernel.astype(dtype)
    batch, channels = x.shape[0], x.shape[-1]
    if spec.kind == "conv":
        g = spec.groups
        y = np.zeros((batch, *out, g, spec.filters // g), dtype)
        k = kernel.reshape(*spec.kernel_size, channels // g, g, spec.filters // g)
        for offset, window in _windows(x, out, spec.kernel_size, spec.strides, spec.dilation):
            w = window.reshape(*window.shape[:-1], g, channels // g)
            for group in range(g):  # group g reads its slice of the channels, writes its filters
                y[..., group, :] += w[..., group, :] @ k[offset][:, group, :]
        y = y.reshape(batch, *out, spec.filters)
    else:
        multiplier = kernel.shape[-1]
        y = np.zeros((batch, *out, channels, multiplier), dtype)
        for offset, window in _windows(x, out, spec.kernel_size, spec.strides, spec.dilation):
            y += window[..., None] * kernel[offset]
        y = y.reshape(batch, *out, channels * multiplier)
        if spec.kind == "separable":
            assert spec.pointwise is not None
            y = y @ spec.pointwise.reshape(spec.pointwise.shape[-2:]).astype(dtype)
    if spec.bias is not None:
        y = y + spec.bias.astype(dtype)
    return _back(spec.activation.numpy(y), spec.channels_first)


def _transpose(spec: ConvSpec, x: np.ndarray) -> np.ndarray:
    """The adjoint of the forward convolution from the output size to the input size: each
    input step scatters ``x[j] . kernel[k]`` to position ``j*s + k*d - before``."""
    dtype = x.dtype
    space = x.shape[1:-1]
    out_space = tuple(int(d or 0) for d in (spec.out_shape[1:] if spec.channels_first else spec.out_shape[:-1]))
    spans = tuple(d * (k - 1) + 1 for k, d in zip(spec.kernel_size, spec.dilation, strict=False))
    befores = []
    for L_in, L_out, span, s in zip(space, out_space, spans, spec.strides, strict=False):
        befores.append(max((L_in - 1) * s + span - L_out, 0) // 2 if spec.padding == "same" else 0)
    full = tuple((L - 1) * s + span + L_out
                 for L, s, span, L_out in zip(space, spec.strides, spans, out_space, strict=True))
    buffer = np.zeros((x.shape[0], *full, spec.filters), dtype)
    kernel = spec.kernel.astype(dtype)  # (k..., filters, in)
    for offset in itertools.product(*(range(k) for k in spec.kernel_size)):
        index = (slice(None),) + tuple(slice(o * d, o * d + (L - 1) * s + 1, s)
                                       for o, d, L, s in zip(offset, spec.dilation, space, spec.strides, strict=False))
        buffer[index] += x @ kernel[offset].T
    crop = (slice(None),) + tuple(slice(b, b + L) for b, L in zip(befores, out_space, strict=False))
    y = buffer[crop]
    if spec.bias is not None:
        y = y + spec.bias.astype(dtype)
    return spec.activation.numpy(y)


def pool(spec: PoolSpec, xs, masks):
    x = _last(xs[0], spec.channels_first)
    space = x.shape[1:-1]
    pads = _pads(spec, space, spec.pool_size)
    out = tuple((L + a + b - k) // s + 1
                for L, (a, b), k, s in zip(space, pads, spec.pool_size, spec.strides, strict=True))
    width = [(0, 0), *pads, (0, 0)]
    ones = (1,) * len(space)
    if spec.op == "max":
        padded = np.pad(x, width, constant_values=-np.inf)
        y = np.full((x.shape[0], *out, x.shape[-1]), -np.inf, x.dtype)
        for _, window in _windows(padded, out, spec.pool_size, spec.strides, ones):
            y = np.maximum(y, window)
    else:  # the padding is not counted: divide by the number of real elements in each window
        padded = np.pad(x, width)
        count_in = np.pad(np.ones((1, *space, 1), x.dtype), width)
        y = np.zeros((x.shape[0], *out, x.shape[-1]), x.dtype)
        count = np.zeros((1, *out, 1), x.dtype)
        for (_, window), (_, real) in zip(_windows(padded, out, spec.pool_size, spec.strides, ones),
                                          _windows(count_in, out, spec.pool_size, spec.strides, ones), strict=False):
            y += window
            count += real
        y = y / count
    return _back(y, spec.channels_first)


def global_pool(spec: GlobalPoolSpec, xs, masks):
    reduce = np.max if spec.op == "max" else np.mean
    return reduce(xs[0], axis=spec.axes, keepdims=spec.keepdims)


def pad_crop(spec: PadCropSpec, xs, masks):
    x = xs[0]
    amounts = [(0, 0), *spec.amounts]
    if spec.op == "pad":
        return np.pad(x, amounts)
    return x[tuple(slice(a, x.shape[i] - b) for i, (a, b) in enumerate(amounts))]


def _bilinear_axis(x: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Half-pixel-centre linear interpolation along ``axis``, sources clamped to the edge."""
    length = x.shape[axis]
    src = (np.arange(length * factor) + 0.5) / factor - 0.5
    src = np.clip(src, 0, length - 1)
    low = np.floor(src).astype(np.int64)
    high = np.minimum(low + 1, length - 1)
    shape = [1] * x.ndim
    shape[axis] = -1
    w = (src - low).astype(x.dtype).reshape(shape)
    return np.take(x, low, axis=axis) * (1 - w) + np.take(x, high, axis=axis) * w


def upsampling(spec: UpSamplingSpec, xs, masks):
    y = xs[0]
    for axis, factor in enumerate(spec.factors, start=1):
        if factor == 1:
            continue
        y = np.repeat(y, factor, axis=axis) if spec.interpolation == "nearest" else _bilinear_axis(y, axis, factor)
    return y


RUNNERS: dict[type, Callable] = {
    ConvSpec: conv,
    PoolSpec: pool,
    GlobalPoolSpec: global_pool,
    PadCropSpec: pad_crop,
    UpSamplingSpec: upsampling,
    PermuteNDSpec: lambda spec, xs, masks: np.transpose(xs[0], (0, *spec.dims)),
}
