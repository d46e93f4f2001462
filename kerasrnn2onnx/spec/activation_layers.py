"""Activation layers and elementwise rescalings, parsed from Keras configs: ReLU (with
max_value / negative_slope / threshold), LeakyReLU, ThresholdedReLU, ELU, PReLU, Softmax,
UnitNormalization, Rescaling and Normalization (inference form).

One :class:`ReLUSpec` covers ReLU, LeakyReLU and ThresholdedReLU because Keras computes all
three with one formula (keras/src/layers/activations/relu.py, tf-keras backend.relu)::

    y = (x if x > threshold else 0)  [relu(x) when threshold == 0]
    y = clip(y, 0, max_value)        [when max_value is set]
    y = y - negative_slope * relu(threshold - x)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer
from .checks import BASE_KEYS, TensorFacts, check_declared, check_dtype, check_keys, flag, float_array
from .conv import Dims, info_of
from .node import Node
from .types import Ref

Parsed = tuple[Any, TensorFacts]


def _number(config: Mapping[str, Any], key: str, default: float | None, layer: str) -> float | None:
    value = config.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise LayerError(layer, f"must be a finite number, got {value!r}", key)
    return float(value)


def _axes(value: Any, rank: int, layer: str, key: str) -> tuple[int, ...]:
    """Keras axes (batch = 0) made non-negative; the batch axis is refused."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    out = []
    for axis in items:
        if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank:
            raise LayerError(layer, f"axis {value!r} is out of range for a rank-{rank} input", key)
        axis %= rank
        if axis == 0:
            raise UnsupportedError(layer, "an axis over the batch is not supported", key)
        out.append(axis)
    return tuple(sorted(set(out)))


class _Elementwise(Node):
    """Keeps every dim and the mask."""

    mask: ClassVar[str] = "pass"
    out_shape: Dims

    def out_time(self, time: Any) -> Any:
        return time


@dataclass(frozen=True, eq=False)
class ReLUSpec(_Elementwise):
    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    out_shape: Dims
    max_value: float | None
    negative_slope: float
    threshold: float

    def describe(self) -> str:
        return (f"{self.class_name}(max_value={self.max_value}, negative_slope={self.negative_slope:g}, "
                f"threshold={self.threshold:g})")


@dataclass(frozen=True, eq=False)
class ELUSpec(_Elementwise):
    name: str
    inputs: tuple[Ref, ...]
    out_shape: Dims
    alpha: float

    def describe(self) -> str:
        return f"ELU(alpha={self.alpha:g})"


@dataclass(frozen=True, eq=False)
class PReLUSpec(_Elementwise):
    """``x`` where positive, ``alpha * x`` elsewhere; ``alpha`` has the input's non-batch
    shape with 1 on the shared axes (Keras layout)."""

    name: str
    inputs: tuple[Ref, ...]
    out_shape: Dims
    alpha: np.ndarray

    def describe(self) -> str:
        return f"PReLU(alpha shape {self.alpha.shape})"


SOFTMAX_MASK_RULES = ("where_zero", "add", "where")
"""How a ``Softmax`` applies its ``mask`` (the second source), read from each version's source:

- ``"where_zero"`` (Keras 3, keras/src/layers/activations/softmax.py): keep = the mask if
  boolean, else ``mask > 0.5``; ``where(keep, x, -1e9)``, softmax, then ``where(keep, y, 0)``
  (a fully masked row is all zeros).
- ``"add"`` (tf-keras 2.x default, tf_keras/src/layers/activation/softmax.py):
  ``x + (1 - float(mask)) * -1e9`` in float32, then softmax, no zeroing: the sum rounds to
  multiples of 64 near -1e9, so a fully masked row is (nearly) uniform.
- ``"where"`` (tf-keras ``robust_masking=True``): ``where(keep, x, -1e9)``, softmax.

Both versions use -1e9 for float32 (float16 differs: -3e4 in Keras 3, float16.min / 2 in
tf-keras; only the float32 policy is accepted here). The mask broadcasts against the input as
NumPy does, from the last axis; it must have the input's rank (see :func:`parse_softmax`)."""
MASK_NEGATIVE = -1e9


@dataclass(frozen=True, eq=False)
class SoftmaxSpec(_Elementwise):
    """``Softmax(axis)``; with ``mask_rule`` set, ``sources[1]`` is the mask tensor Keras
    passed to the call (``mask=`` given, or the mask Keras propagated from such a call)."""

    name: str
    inputs: tuple[Ref, ...]
    out_shape: Dims
    axes: tuple[int, ...]  # Keras layout, batch = 0
    mask_rule: str | None = None  # one of SOFTMAX_MASK_RULES
    mask_boolean: bool = False  # the mask tensor is boolean (else float: > 0.5, or 1 - mask)

    def describe(self) -> str:
        masked = f", mask={self.inputs[1].layer} ({self.mask_rule})" if self.mask_rule else ""
        return f"Softmax(axis={self.axes}{masked})"


@dataclass(frozen=True, eq=False)
class UnitNormSpec(_Elementwise):
    """``x / max(||x||, floor)`` over ``axes``: Keras 3 passes epsilon 1e-12 as the floor of
    the norm; tf-keras's l2_normalize floors the squared sum at 1e-12 (norm 1e-6)."""

    name: str
    inputs: tuple[Ref, ...]
    out_shape: Dims
    axes: tuple[int, ...]
    floor: float

    def describe(self) -> str:
        return f"UnitNormalization(axis={self.axes})"


@dataclass(frozen=True, eq=False)
class AffineSpec(Node):
    """``Rescaling`` (``x * scale + offset``) and ``Normalization`` (``(x - mean) / denom``,
    or ``mean + x * denom`` inverted, ``denom = max(sqrt(variance), 1e-7)``). Arrays are
    shaped to broadcast against the Keras-layout input without its batch axis."""

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    out_shape: Dims
    scale: np.ndarray
    offset: np.ndarray
    normalize: bool = False  # True: (x - offset) / scale (Normalization), invert: offset + x * scale
    invert: bool = False
    # Keras 3 passes the mask on (supports_masking = True in rescaling.py / normalization.py);
    # tf-keras's preprocessing layers do not support masking, so the mask ends there
    # (base_layer._set_mask_metadata returns early): "drop"
    mask: str = "pass"

    def out_time(self, time: Any) -> Any:
        return time

    def describe(self) -> str:
        return f"{self.class_name}(scale shape {self.scale.shape}, offset shape {self.offset.shape})"


def _frozen(array: Any) -> np.ndarray:
    out = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    out.setflags(write=False)
    return out


def _relu(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    name, cls = raw.name, raw.class_name
    if cls == "ReLU":
        check_keys(config, BASE_KEYS | {"max_value", "negative_slope", "threshold"}, name)
        max_value = _number(config, "max_value", None, name)
        slope = _number(config, "negative_slope", 0.0, name) or 0.0
        threshold = _number(config, "threshold", 0.0, name) or 0.0
    elif cls == "LeakyReLU":  # Keras 3 names it negative_slope, Keras 2 alpha; both default 0.3
        check_keys(config, BASE_KEYS | {"negative_slope", "alpha"}, name)
        key = "negative_slope" if "negative_slope" in config else "alpha"
        max_value, slope, threshold = None, _number(config, key, 0.3, name) or 0.0, 0.0
    else:  # ThresholdedReLU (Keras 2): x * (x > theta)
        check_keys(config, BASE_KEYS | {"theta"}, name)
        max_value, slope, threshold = None, 0.0, _number(config, "theta", 1.0, name) or 0.0
    if max_value is not None and max_value < 0:
        raise LayerError(name, f"max_value must be >= 0, got {max_value}", "max_value")
    shape = infos[0].dims()
    return ReLUSpec(name, sources, cls, shape, max_value, slope, threshold), infos[0]


def _elu(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"alpha"}, raw.name)
    alpha = _number(config, "alpha", 1.0, raw.name)
    return ELUSpec(raw.name, sources, infos[0].dims(), float(alpha or 0.0)), infos[0]


def _prelu(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    name = raw.name
    check_keys(config, BASE_KEYS | {"alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes"},
               name)
    check_dtype(config, name)
    shape = infos[0].dims()
    shared = config.get("shared_axes") or []
    shared = _axes(shared, len(shape) + 1, name, "shared_axes") if shared else ()
    param = tuple(1 if axis in shared else d for axis, d in enumerate(shape, start=1))
    if any(d is None for d in param):
        raise UnsupportedError(name, f"PReLU over a dynamic dimension of {shape} needs that axis in shared_axes",
                               "shared_axes")
    it = feed.for_layer(raw)
    handle = feed.take(it, name, "alpha")
    check_declared(feed, handle, name, "weight 'alpha'", param)  # before the read
    alpha = handle.read()
    if not np.all(np.isfinite(alpha)):
        raise LayerError(name, "weight 'alpha' contains NaN or infinity")
    if feed.is_per_layer and next(it, None) is not None:
        raise LayerError(name, "the file holds more weights than the layer uses")
    return PReLUSpec(name, sources, shape, _frozen(alpha)), infos[0]


def _softmax(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    return parse_softmax(raw, sources, infos, None, None, None, model.keras_major)


def parse_softmax(raw: RawLayer, sources: tuple[Ref, ...], infos: list[TensorFacts],
                  mask: Ref | None, mask_info: TensorFacts | None, mask_dtype: str | None,
                  keras_major: int | None) -> Parsed:
    """``Softmax`` and the mask Keras hands its call: ``mask`` is the tensor passed as
    ``mask=`` (or propagated from such a call), ``mask_info`` its facts, ``mask_dtype`` its
    dtype when it is a model input.

    A (batch, time) mask propagated from Masking or Embedding(mask_zero=True) onto a
    (batch, time, ...) input is refused: both versions broadcast the mask against the input's
    *last* axes (Keras 3 ``where(mask, x, ...)``, tf-keras ``x + adder``), so the model runs
    only when the batch size happens to equal the time steps (measured: Keras 3.15 raises
    "The `mask` must be broadcastable to `inputs`", tf-keras 2.21 "Incompatible shapes:
    [2,6,6] vs. [2,6]" for a batch of 2)."""
    name, config = raw.name, raw.config
    # robust_masking is tf-keras's own argument (Keras 3's Softmax has none: an unknown key there)
    check_keys(config, BASE_KEYS | {"axis"} | ({"robust_masking"} if keras_major == 2 else set()), name)
    check_dtype(config, name)
    shape = infos[0].dims()
    axes = _axes(config.get("axis", -1), len(shape) + 1, name, "axis")
    if mask is None:
        if infos[0].masked:
            raise UnsupportedError(name, "Softmax of a tensor carrying a (batch, time) mask is not supported: Keras "
                                   "broadcasts that mask against the input's last axes, which runs only when the "
                                   "batch size equals the time steps (Keras raises otherwise)", "mask")
        return SoftmaxSpec(name, sources[:1], shape, axes), infos[0]
    assert mask_info is not None  # the caller looked the mask tensor up
    if mask_dtype not in (None, "float32"):
        raise UnsupportedError(name, f"a {mask_dtype} mask tensor '{mask.layer}' is not supported (float32 or "
                               "boolean)", "mask")
    mask_dims = mask_info.dims()
    if len(mask_dims) != len(shape):
        raise UnsupportedError(name, f"its mask '{mask.layer}' has rank {len(mask_dims) + 1}, the input rank "
                               f"{len(shape) + 1}: Keras broadcasts it from the last axis, so the batch axis "
                               "would meet another axis (only a mask of the input's rank is supported)", "mask")
    for m, d in zip(mask_dims, shape, strict=True):
        if m is not None and d is not None and m not in (1, d):
            raise LayerError(name, f"mask shape {mask_dims} does not broadcast to the input's {shape}", "mask")
    if keras_major == 3:
        rule = "where_zero"
    else:
        rule = "where" if flag(config, "robust_masking", False, name) else "add"
    spec = SoftmaxSpec(name, (sources[0], mask), shape, axes, rule, mask_info.boolean)
    return spec, replace(infos[0], masked=False)


def _unit_norm(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"axis"}, raw.name)
    shape = infos[0].dims()
    axes = _axes(config.get("axis", -1), len(shape) + 1, raw.name, "axis")
    floor = 1e-6 if model.keras_major == 2 else 1e-12
    return UnitNormSpec(raw.name, sources, shape, axes, floor), infos[0]


def _vector(value: Any, shape: Dims, layer: str, key: str) -> np.ndarray:
    """A scalar or a per-last-axis list (Keras reshapes lists to (1, ..., -1))."""
    array = float_array(value, layer, key)
    if array.ndim > 1:
        raise LayerError(layer, f"must be a number or a list of numbers, got {value!r}", key)
    if array.ndim == 1 and shape[-1] is not None and array.size not in (1, shape[-1]):
        raise LayerError(layer, f"has {array.size} values for {shape[-1]} features", key)
    return _frozen(array if array.ndim == 1 else array.reshape(()))


def _preprocessing_mask(model: Any) -> str:
    return "drop" if model.keras_major == 2 else "pass"


def _after_preprocessing(spec: AffineSpec, info: TensorFacts) -> TensorFacts:
    return info if spec.mask == "pass" else replace(info, masked=False)


def _rescaling(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"scale", "offset"}, raw.name)
    shape = infos[0].dims()
    scale = _vector(config.get("scale", 1.0), shape, raw.name, "scale")
    offset = _vector(config.get("offset", 0.0), shape, raw.name, "offset")
    spec = AffineSpec(raw.name, sources, "Rescaling", shape, scale, offset, mask=_preprocessing_mask(model))
    return spec, _after_preprocessing(spec, infos[0])


def _broadcast(array: np.ndarray, shape: tuple[int, ...], layer: str, key: str) -> np.ndarray:
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        raise LayerError(layer, f"has shape {array.shape}, which does not broadcast to {shape}", key) from None


NORMALIZATION_KEYS = {"axis", "mean", "variance", "invert"}
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), the floor of sqrt(variance)


def _normalization_layer(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    name = raw.name
    check_keys(config, BASE_KEYS | NORMALIZATION_KEYS, name)
    shape = infos[0].dims()
    rank = len(shape) + 1
    axis = config.get("axis", -1)
    kept = () if axis is None else _axes(axis, rank, name, "axis")
    stat_shape = tuple(shape[a - 1] for a in kept)
    if any(d is None for d in stat_shape):
        raise UnsupportedError(name, f"Normalization over a dynamic axis of {shape}", "axis")
    broadcast = tuple(shape[a - 1] if a in kept else 1 for a in range(1, rank))
    if config.get("mean") is not None or config.get("variance") is not None:
        if config.get("mean") is None or config.get("variance") is None:
            raise LayerError(name, "mean and variance must be given together", "mean")
        mean, variance = (_broadcast(float_array(config[key], name, key), stat_shape, name, key)
                          for key in ("mean", "variance"))
        it = feed.for_layer(raw)
    else:
        it = feed.for_layer(raw)
        stats = []
        for what in ("mean", "variance"):
            handle = feed.take(it, name, what)
            if handle.size != int(np.prod(stat_shape)):  # Keras keeps them broadcastable: the count decides
                raise LayerError(name, f"weight '{what}' has shape {handle.shape}, expected {stat_shape}"
                                 f"{feed.origin_note}")
            check_declared(feed, handle, name, f"weight '{what}'", None)
            array = np.asarray(handle.read(), np.float64)
            if not np.all(np.isfinite(array)):
                raise LayerError(name, f"weight '{what}' contains NaN or infinity")
            stats.append(array)
        mean, variance = stats
        feed.take(it, name, "count")  # only adapt() reads it (left unread)
    if feed.is_per_layer and next(it, None) is not None:
        raise LayerError(name, "the file holds more weights than the layer uses")
    if np.any(variance < 0):
        raise LayerError(name, "variance has negative entries", "variance")
    invert = bool(config.get("invert", False))
    denom = np.maximum(np.sqrt(variance.astype(np.float32)), np.float32(KERAS_EPSILON)).reshape(broadcast)
    spec = AffineSpec(name, sources, "Normalization", shape, _frozen(denom), _frozen(mean.reshape(broadcast)),
                      normalize=True, invert=invert, mask=_preprocessing_mask(model))
    return spec, _after_preprocessing(spec, infos[0])


PARSERS: dict[str, Callable[..., Parsed]] = {
    "ReLU": _relu,
    "LeakyReLU": _relu,
    "ThresholdedReLU": _relu,
    "ELU": _elu,
    "PReLU": _prelu,
    "Softmax": _softmax,
    "UnitNormalization": _unit_norm,
    "Rescaling": _rescaling,
    "Normalization": _normalization_layer,
}
__all__ = ["MASK_NEGATIVE", "PARSERS", "SOFTMAX_MASK_RULES", "AffineSpec", "ELUSpec", "PReLUSpec", "ReLUSpec",
           "SoftmaxSpec", "UnitNormSpec", "info_of", "parse_softmax"]
