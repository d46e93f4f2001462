"""Convolutions and their companions over 1, 2 or 3 spatial axes: parsed from Keras configs.

One spec per family (:class:`ConvSpec` for Conv/Depthwise/Separable/Transpose convolutions,
:class:`PoolSpec`, :class:`GlobalPoolSpec`, :class:`PadCropSpec`, :class:`UpSamplingSpec`),
each carrying the Keras-layout shape of its output (``out_shape``, every non-batch dim,
``None`` where the model leaves it open) so no later stage re-derives a shape.

Keras semantics followed (keras/src/ops/operation_utils.py, backend conv/pool code):
``same`` pads ``max((out-1)*s + span - in, 0)`` with the odd element at the end; ``causal``
pads ``span-1`` at the start; average pooling with ``same`` excludes the padding from the
count; a transposed convolution is the adjoint of the forward convolution whose output has
the transposed one's input size, and its output length follows ``deconv_output_length``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer, RawModel
from .activations import ActivationSpec
from .checks import (
    BASE_KEYS,
    TRAINING_ONLY,
    TensorFacts,
    WeightFeed,
    check_dtype,
    check_keys,
    flag,
    integers,
    read_activation,
    read_weight,
)
from .node import Node
from .types import Ref

Dims = tuple[int | None, ...]
Parsed = tuple[Any, TensorFacts]


# --- shared readers ---------------------------------------------------------------------
def ints(value: Any, n: int, layer: str, key: str, minimum: int = 1) -> tuple[int, ...]:
    """A Keras size argument: one int for every axis, or one per axis."""
    items = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(items) == 1 and n > 1:
        items = items * n
    if len(items) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in items):
        raise LayerError(layer, f"must be {n} integer(s) >= {minimum}, got {value!r}", key)
    return tuple(items)


def channels_first(config: Mapping[str, Any], layer: str) -> bool:
    fmt = config.get("data_format") or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        raise LayerError(layer, f"unknown data_format {fmt!r}", "data_format")
    return fmt == "channels_first"


def spatial(shape: Dims, first: bool) -> Dims:
    return tuple(shape[1:]) if first else tuple(shape[:-1])


def with_channels(space: Sequence[int | None], channels: int | None, first: bool) -> Dims:
    return (channels, *space) if first else (*space, channels)


def info_of(shape: Dims, masked: bool = False) -> TensorFacts:
    """The parser's record of a tensor whose every dim is known to the spec."""
    steps = shape[0] if len(shape) >= 2 else None
    return TensorFacts(shape[-1], len(shape) + 1, masked, steps=steps, shape=tuple(shape))


def conv_length(length: int | None, span: int, stride: int, padding: str) -> int | None:
    if length is None:
        return None
    if padding == "valid":
        return (length - span) // stride + 1 if length >= span else 0
    return -(-length // stride)  # same and causal


def same_pads(length: int, span: int, stride: int) -> tuple[int, int]:
    """TF/Keras 'same': the odd padding element goes at the end."""
    out = -(-length // stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def deconv_length(length: int | None, kernel: int, stride: int, padding: str, dilation: int,
                  output_padding: int | None) -> int | None:
    """keras/src/ops/operation_utils deconv_output_length."""
    if length is None:
        return None
    span = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        return length * stride + max(span - stride, 0) if padding == "valid" else length * stride
    pad = span // 2 if padding == "same" else 0
    return (length - 1) * stride + span - 2 * pad + output_padding


def _need_rank(info: TensorFacts, rank: int, layer: str, what: str) -> Dims:
    if info.rank != rank:
        raise LayerError(layer, f"{what} needs a rank-{rank} input (batch included), got rank {info.rank}")
    if info.boolean:
        raise UnsupportedError(layer, "a boolean mask tensor is not a valid input here")
    return info.dims()


def _done(feed: WeightFeed, it: Any, layer: str) -> None:
    if feed.is_per_layer and next(it, None) is not None:
        raise LayerError(layer, "the file holds more weights than the layer uses")


# --- specs -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConvSpec(Node):
    """Any Keras convolution over ``n`` spatial axes. ``kind``: ``conv`` (kernel
    (k..., in/groups, filters)), ``depthwise`` (kernel (k..., in, multiplier)), ``separable``
    (depthwise then ``pointwise`` (1..., in*multiplier, filters)), ``transpose`` (kernel
    (k..., filters, in)). Kernels stay in Keras's layout; ends the mask."""

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    kind: str
    n: int
    channels_first: bool
    in_shape: Dims
    out_shape: Dims
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    dilation: tuple[int, ...]
    groups: int
    activation: ActivationSpec
    kernel: np.ndarray
    bias: np.ndarray | None
    pointwise: np.ndarray | None = None
    output_padding: tuple[int, ...] | None = None
    mask: ClassVar[str] = "drop"

    def out_time(self, time: Any) -> Any:
        return self.out_shape[0]

    def describe(self) -> str:
        return (f"{self.class_name}({self.filters}, {self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"{'channels_first' if self.channels_first else 'channels_last'}, "
                f"activation={self.activation.describe()})")


@dataclass(frozen=True, eq=False)
class PoolSpec(Node):
    """Max or average pooling over ``n`` spatial axes ('same' averages exclude padding)."""

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    op: str
    n: int
    channels_first: bool
    in_shape: Dims
    out_shape: Dims
    pool_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    mask: ClassVar[str] = "drop"

    def out_time(self, time: Any) -> Any:
        return self.out_shape[0]

    def describe(self) -> str:
        return f"{self.class_name}({self.pool_size}, strides={self.strides}, padding={self.padding})"


@dataclass(frozen=True, eq=False)
class GlobalPoolSpec(Node):
    """Global max/average over every spatial axis (2D/3D, or 1D channels_first/keepdims)."""

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    op: str
    axes: tuple[int, ...]  # Keras-layout axes, batch = 0
    keepdims: bool
    out_shape: Dims
    mask: ClassVar[str] = "drop"

    def out_time(self, time: Any) -> Any:
        return self.out_shape[0] if len(self.out_shape) > 1 else None

    def describe(self) -> str:
        return f"{self.class_name}(keepdims={self.keepdims})"


@dataclass(frozen=True, eq=False)
class PadCropSpec(Node):
    """ZeroPadding (``op`` pad) or Cropping (``op`` crop): ``amounts`` (before, after) per
    Keras-layout axis after the batch."""

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    op: str
    amounts: tuple[tuple[int, int], ...]
    out_shape: Dims
    mask: ClassVar[str] = "drop"

    def out_time(self, time: Any) -> Any:
        before, after = self.amounts[0]
        return time if (before, after) == (0, 0) else self.out_shape[0]

    def describe(self) -> str:
        return f"{self.class_name}({self.amounts})"


@dataclass(frozen=True, eq=False)
class UpSamplingSpec(Node):
    """Repeat each element ``factors`` times along the spatial axes (``nearest``), or
    bilinear resize with half-pixel centres (UpSampling2D ``bilinear``)."""

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    factors: tuple[int, ...]  # per Keras-layout axis after the batch (1 for channels)
    interpolation: str
    channels_first: bool
    out_shape: Dims
    mask: ClassVar[str] = "drop"

    def out_time(self, time: Any) -> Any:
        return time if self.factors[0] == 1 else self.out_shape[0]

    def describe(self) -> str:
        return f"{self.class_name}({self.factors}, interpolation={self.interpolation})"


@dataclass(frozen=True, eq=False)
class PermuteNDSpec(Node):
    """``Permute(dims)`` of a rank 4+ tensor (or one whose result is): Keras-layout axes."""

    name: str
    inputs: tuple[Ref, ...]
    dims: tuple[int, ...]  # Keras's permutation of the non-batch axes (1-based)
    out_shape: Dims
    mask: ClassVar[str] = "drop"

    def out_time(self, time: Any) -> Any:
        return time if self.dims[0] == 1 else self.out_shape[0]

    def describe(self) -> str:
        return f"Permute({self.dims})"


def parse_permute_nd(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...],
                     infos: list[TensorFacts], model: RawModel, feed: WeightFeed) -> Parsed:
    check_keys(config, BASE_KEYS | {"dims"}, raw.name)
    dims = integers(config.get("dims"), raw.name, "dims")
    shape = infos[0].dims()
    if sorted(dims) != list(range(1, len(shape) + 1)):
        raise LayerError(raw.name, f"Permute{dims} is not a permutation of the {len(shape)} non-batch axes", "dims")
    out = tuple(shape[d - 1] for d in dims)
    return PermuteNDSpec(raw.name, sources, dims, out), info_of(out)


# --- parsers -----------------------------------------------------------------------------
CONV_KEYS = frozenset({"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                       "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
                       "bias_regularizer", "kernel_constraint", "bias_constraint", "lora_rank", "lora_alpha",
                       "quantization_config", "depth_multiplier", "depthwise_initializer", "depthwise_regularizer",
                       "depthwise_constraint", "pointwise_initializer", "pointwise_regularizer",
                       "pointwise_constraint", "output_padding"})
CONV_CLASSES = {  # class -> (kind, spatial axes)
    "Conv1D": ("conv", 1), "Conv2D": ("conv", 2), "Conv3D": ("conv", 3),
    "Convolution1D": ("conv", 1), "Convolution2D": ("conv", 2), "Convolution3D": ("conv", 3),
    "DepthwiseConv1D": ("depthwise", 1), "DepthwiseConv2D": ("depthwise", 2),
    "SeparableConv1D": ("separable", 1), "SeparableConv2D": ("separable", 2),
    "SeparableConvolution1D": ("separable", 1), "SeparableConvolution2D": ("separable", 2),
    "Conv1DTranspose": ("transpose", 1), "Conv2DTranspose": ("transpose", 2), "Conv3DTranspose": ("transpose", 3),
    "Convolution2DTranspose": ("transpose", 2), "Convolution3DTranspose": ("transpose", 3),
}


def parse_conv(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...], infos: list[TensorFacts],
               model: RawModel, feed: WeightFeed) -> Parsed:
    kind, n = CONV_CLASSES[raw.class_name]
    name = raw.name
    check_keys(config, BASE_KEYS | TRAINING_ONLY | CONV_KEYS, name)
    check_dtype(config, name)
    if config.get("lora_rank") or config.get("quantization_config"):
        raise UnsupportedError(name, "LoRA or quantized convolutions are not supported", "lora_rank")
    shape = _need_rank(infos[0], n + 2, name, raw.class_name)
    first = channels_first(config, name)
    channels = shape[0] if first else shape[-1]
    if channels is None:
        raise LayerError(name, "the input's channel dimension must be known", "data_format")
    padding = str(config.get("padding", "valid")).lower()
    if padding not in ("valid", "same") and not (padding == "causal" and n == 1 and kind in ("conv", "depthwise")):
        raise UnsupportedError(name, f"padding {padding!r} is not supported for {raw.class_name}", "padding")
    if padding == "causal" and first:
        raise UnsupportedError(name, "causal padding with channels_first is not supported", "padding")
    size = ints(config.get("kernel_size"), n, name, "kernel_size")
    strides = ints(config.get("strides", 1), n, name, "strides")
    dilation = ints(config.get("dilation_rate", 1), n, name, "dilation_rate")
    groups = config.get("groups", 1) or 1
    if not isinstance(groups, int) or groups < 1 or channels % groups:
        raise LayerError(name, f"groups {groups!r} must divide the {channels} input channels", "groups")
    use_bias = flag(config, "use_bias", True, name)
    multiplier = ints(config.get("depth_multiplier", 1), 1, name, "depth_multiplier")[0]
    it = feed.for_layer(raw)
    pointwise = None
    output_padding = None
    if kind == "conv":
        filters = ints(config.get("filters"), 1, name, "filters")[0]
        if filters % groups:
            raise LayerError(name, f"groups {groups} must divide filters {filters}", "groups")
        kernel = read_weight(feed, it, name, name, "kernel", (*size, channels // groups, filters))
    elif kind == "depthwise":
        filters = channels * multiplier
        kernel = read_weight(feed, it, name, name, "depthwise_kernel", (*size, channels, multiplier))
    elif kind == "separable":
        filters = ints(config.get("filters"), 1, name, "filters")[0]
        kernel = read_weight(feed, it, name, name, "depthwise_kernel", (*size, channels, multiplier))
        pointwise = read_weight(feed, it, name, name, "pointwise_kernel", (*(1,) * n, channels * multiplier, filters))
    else:
        filters = ints(config.get("filters"), 1, name, "filters")[0]
        if config.get("output_padding") is not None:
            output_padding = ints(config.get("output_padding"), n, name, "output_padding", minimum=0)
            for p, s, d in zip(output_padding, strides, dilation, strict=False):
                if p >= s and p >= d:
                    raise LayerError(name, f"output_padding {output_padding} must be below strides or dilation",
                                     "output_padding")
        kernel = read_weight(feed, it, name, name, "kernel", (*size, filters, channels))
    if kind != "conv" and groups != 1:
        raise LayerError(name, "groups is only an argument of plain convolutions", "groups")
    bias = read_weight(feed, it, name, name, "bias", (filters,)) if use_bias else None
    _done(feed, it, name)
    if any(s > 1 for s in strides) and any(d > 1 for d in dilation) and kind != "transpose":
        raise UnsupportedError(name, "strides > 1 together with dilation_rate > 1 is not supported", "dilation_rate")
    space = spatial(shape, first)
    if kind == "transpose":
        out_space = tuple(deconv_length(L, k, s, padding, d, None if output_padding is None else p)
                          for L, k, s, d, p in zip(space, size, strides, dilation, output_padding or (0,) * n,
                                                   strict=True))
        if any(L is None for L in space):
            raise UnsupportedError(name, f"{raw.class_name} needs fixed spatial dimensions (the input has {shape})")
    else:
        out_space = tuple(conv_length(L, d * (k - 1) + 1, s, padding)
                          for L, k, s, d in zip(space, size, strides, dilation, strict=True))
    if any(L is not None and L < 1 for L in out_space):
        raise LayerError(name, f"the input {shape} is too small for kernel {size} (output {out_space})", "kernel_size")
    out_shape = with_channels(out_space, filters, first)
    act = read_activation(config, "activation", None, model.keras_major, name)
    spec = ConvSpec(name, sources, raw.class_name, kind, n, first, shape, out_shape, filters, size, strides, padding,
                    dilation, groups, act, kernel, bias, pointwise, output_padding)
    return spec, info_of(out_shape)


POOL_CLASSES = {"MaxPooling1D": ("max", 1), "MaxPooling2D": ("max", 2), "MaxPooling3D": ("max", 3),
                "AveragePooling1D": ("average", 1), "AveragePooling2D": ("average", 2),
                "AveragePooling3D": ("average", 3), "MaxPool1D": ("max", 1), "MaxPool2D": ("max", 2),
                "MaxPool3D": ("max", 3), "AvgPool1D": ("average", 1), "AvgPool2D": ("average", 2),
                "AvgPool3D": ("average", 3)}


def parse_pool(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...], infos: list[TensorFacts],
               model: RawModel, feed: WeightFeed) -> Parsed:
    op, n = POOL_CLASSES[raw.class_name]
    name = raw.name
    check_keys(config, BASE_KEYS | {"pool_size", "strides", "padding", "data_format"}, name)
    shape = _need_rank(infos[0], n + 2, name, raw.class_name)
    first = channels_first(config, name)
    padding = str(config.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise LayerError(name, f"unknown padding {padding!r}", "padding")
    size = ints(config.get("pool_size", 2), n, name, "pool_size")
    strides = ints(config.get("strides") or size, n, name, "strides")
    space = spatial(shape, first)
    out_space = tuple(conv_length(L, k, s, padding) for L, k, s in zip(space, size, strides, strict=True))
    if any(L is not None and L < 1 for L in out_space):
        raise LayerError(name, f"the input {shape} is smaller than pool_size {size}", "pool_size")
    channels = shape[0] if first else shape[-1]
    out_shape = with_channels(out_space, channels, first)
    spec = PoolSpec(name, sources, raw.class_name, op, n, first, shape, out_shape, size, strides, padding)
    return spec, info_of(out_shape)


GLOBAL_CLASSES = {"GlobalMaxPooling1D": ("max", 1), "GlobalMaxPooling2D": ("max", 2), "GlobalMaxPooling3D": ("max", 3),
                  "GlobalAveragePooling1D": ("average", 1), "GlobalAveragePooling2D": ("average", 2),
                  "GlobalAveragePooling3D": ("average", 3), "GlobalMaxPool1D": ("max", 1),
                  "GlobalMaxPool2D": ("max", 2), "GlobalMaxPool3D": ("max", 3), "GlobalAvgPool1D": ("average", 1),
                  "GlobalAvgPool2D": ("average", 2), "GlobalAvgPool3D": ("average", 3)}


def parse_global_pool(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...],
                      infos: list[TensorFacts], model: RawModel, feed: WeightFeed) -> Parsed:
    op, n = GLOBAL_CLASSES[raw.class_name]
    name = raw.name
    check_keys(config, BASE_KEYS | {"data_format", "keepdims"}, name)
    shape = _need_rank(infos[0], n + 2, name, raw.class_name)
    if infos[0].masked:
        raise UnsupportedError(name, f"{raw.class_name} of a masked input is supported for 1-D channels_last only")
    first = channels_first(config, name)
    keepdims = flag(config, "keepdims", False, name)
    axes = tuple(range(2, n + 2)) if first else tuple(range(1, n + 1))
    channels = shape[0] if first else shape[-1]
    out_shape = with_channels((1,) * n, channels, first) if keepdims else (channels,)
    return GlobalPoolSpec(name, sources, raw.class_name, op, axes, keepdims, out_shape), info_of(out_shape)


PAD_CROP_CLASSES = {"ZeroPadding1D": ("pad", 1), "ZeroPadding2D": ("pad", 2), "ZeroPadding3D": ("pad", 3),
                    "Cropping1D": ("crop", 1), "Cropping2D": ("crop", 2), "Cropping3D": ("crop", 3)}


def _amounts(value: Any, n: int, layer: str, key: str) -> tuple[tuple[int, int], ...]:
    """Keras's forms: ``k``; ``(a, b)`` (1-D: before/after; 2-D/3-D: symmetric per axis);
    ``((a, b), (c, d), ...)``."""
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if ok(value):
        return ((value, value),) * n
    if isinstance(value, (list, tuple)):
        items = list(value)
        if n == 1 and len(items) == 2 and all(ok(v) for v in items):
            return ((items[0], items[1]),)
        if len(items) == n and all(ok(v) for v in items):
            return tuple((v, v) for v in items)
        if len(items) == n and all(isinstance(v, (list, tuple)) and len(v) == 2 and all(ok(u) for u in v)
                                   for v in items):
            return tuple((v[0], v[1]) for v in items)
    raise LayerError(layer, f"cannot read {value!r} as {n} pair(s) of non-negative integers", key)


def parse_pad_crop(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...], infos: list[TensorFacts],
                   model: RawModel, feed: WeightFeed) -> Parsed:
    op, n = PAD_CROP_CLASSES[raw.class_name]
    name = raw.name
    key = "padding" if op == "pad" else "cropping"
    check_keys(config, BASE_KEYS | {key, "data_format"}, name)
    shape = _need_rank(infos[0], n + 2, name, raw.class_name)
    first = channels_first(config, name) if n > 1 else False
    default = 1 if op == "pad" else 0
    space_amounts = _amounts(config.get(key, default), n, name, key)
    amounts = ((0, 0), *space_amounts) if first else (*space_amounts, (0, 0))
    out: list[int | None] = []
    for length, (a, b) in zip(shape, amounts, strict=False):
        if length is None:
            out.append(None)
            continue
        new = length + a + b if op == "pad" else length - a - b
        if new < 1:
            raise LayerError(name, f"cropping {amounts} leaves nothing of the input {shape}", key)
        out.append(new)
    spec = PadCropSpec(name, sources, raw.class_name, op, tuple(amounts), tuple(out))
    return spec, info_of(tuple(out))


UPSAMPLING_CLASSES = {"UpSampling1D": 1, "UpSampling2D": 2, "UpSampling3D": 3}


def parse_upsampling(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...],
                     infos: list[TensorFacts], model: RawModel, feed: WeightFeed) -> Parsed:
    n = UPSAMPLING_CLASSES[raw.class_name]
    name = raw.name
    check_keys(config, BASE_KEYS | {"size", "data_format", "interpolation"}, name)
    shape = _need_rank(infos[0], n + 2, name, raw.class_name)
    first = channels_first(config, name) if n > 1 else False
    size = ints(config.get("size", 2), n, name, "size")
    interpolation = config.get("interpolation", "nearest")
    if interpolation not in ("nearest", "bilinear") or (interpolation == "bilinear" and n != 2):
        raise UnsupportedError(name, f"interpolation {interpolation!r} is not supported (nearest; bilinear for "
                               "UpSampling2D)", "interpolation")
    factors = ((1, *size) if first else (*size, 1))
    out = tuple(None if d is None else d * f for d, f in zip(shape, factors, strict=False))
    return UpSamplingSpec(name, sources, raw.class_name, factors, interpolation, first, out), info_of(out)


PARSERS: dict[str, Callable[..., Parsed]] = {
    **{name: parse_conv for name in CONV_CLASSES},
    **{name: parse_pool for name in POOL_CLASSES},
    **{name: parse_global_pool for name in GLOBAL_CLASSES},
    **{name: parse_pad_crop for name in PAD_CROP_CLASSES},
    **{name: parse_upsampling for name in UPSAMPLING_CLASSES},
}
