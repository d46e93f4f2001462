"""Checks shared by the parsers: known keys, typed values, weights fed in get_weights() order.

Weights arrive as :class:`~kerasrnn2onnx.io.handles.WeightHandle` values; :func:`check_weight`
compares a handle's declared shape and dtype with what the config requires and only then
reads it, so a file declaring a huge or mistyped weight is refused before any data is read.

Kept apart from ``parse.py`` so the recurrent parser and the surrounding-layer parsers use
one set of rules and messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LayerError, ModelFileError, UnsupportedError
from ..io.handles import WeightHandle
from ..io.raw import RawLayer, RawModel
from .activations import ActivationNameError, ActivationSpec, resolve_activation

BASE_KEYS = frozenset(
    {"name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dim",
     "input_length", "autocast", "dynamic", "build_config", "activity_regularizer"}
)
TRAINING_ONLY = frozenset(
    {"kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
     "recurrent_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
     "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "implementation",
     "unit_forget_bias", "seed", "use_cudnn", "trainable"}
)

class WeightFeed:
    """Hands out weight handles in ``get_weights()`` order, per layer or from one flat list."""

    def __init__(self, model: RawModel) -> None:
        self._flat = list(model.flat_weights) if model.flat_weights is not None else None
        self._pos = 0
        self._taken: dict[str, list[WeightHandle]] = {}  # per layer, what it took from the flat list
        self._origin: str | None = None  # where the arrays being handed out came from
        self._keras2_layout = False
        self._major = model.keras_major

    @property
    def converts_cudnn_layout(self) -> bool:
        """The arrays being handed out come from a Keras 2 HDF5 layout, whose loader
        (tf-keras ``hdf5_format._convert_rnn_weights``) turns CuDNNLSTM / CuDNNGRU weights
        into LSTM / GRU weights when their bias shape says so; Keras 3 does not."""
        return self._keras2_layout and self._major == 2

    @property
    def origin_note(self) -> str:
        """`` (from <where>)`` for messages about the arrays being handed out, so a
        mismatch names both sides: the config's layer and the file's."""
        return f" ({self._origin})" if self._origin else ""

    def for_layer(self, raw: RawLayer) -> Iterator[WeightHandle]:
        if self._flat is None:
            self._origin = raw.weights_origin
            self._keras2_layout = raw.keras2_layout
            yield from raw.weights
            return
        if raw.weights_from is not None:  # a shared layer's later call reuses the first call's arrays
            yield from self._taken.get(raw.weights_from, [])
            return
        taken = self._taken.setdefault(raw.name, [])
        while self._pos < len(self._flat):
            self._pos += 1  # advance before yielding: an array handed out is taken
            taken.append(self._flat[self._pos - 1])
            yield self._flat[self._pos - 1]

    def take(self, iterator: Iterator[WeightHandle], layer: str, what: str) -> WeightHandle:
        try:
            return next(iterator)
        except StopIteration:
            raise LayerError(layer, f"missing weight: {what}{self.origin_note}") from None

    def finish(self, source: object) -> None:
        if self._flat is not None and self._pos != len(self._flat):
            extra = len(self._flat) - self._pos
            raise ModelFileError(source, f"{extra} weight array(s) left over after every layer took its own")

    @property
    def is_per_layer(self) -> bool:
        return self._flat is None

    def peek(self, raw: RawLayer) -> WeightHandle | None:
        """The next weight this layer would receive, without taking (or reading) it."""
        if raw.weights_from is not None and self._flat is not None:
            taken = self._taken.get(raw.weights_from)
            return taken[0] if taken else None
        if self._flat is None:
            return raw.weights[0] if raw.weights else None
        return self._flat[self._pos] if self._pos < len(self._flat) else None



def flag(config: Mapping[str, Any], key: str, default: bool, layer: str) -> bool:
    value = config.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise LayerError(layer, f"expected true/false, got {value!r}", key)
    return value


def integer(config: Mapping[str, Any], key: str, default: int, layer: str, minimum: int | None = None) -> int:
    """An integer argument (a JSON bool or float is a wrong type, not a number)."""
    value = config.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise LayerError(layer, f"must be an integer{bound}, got {value!r}", key)
    return value


def number(config: Mapping[str, Any], key: str, default: float, layer: str) -> float:
    """A finite real argument (an epsilon, a rate)."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise LayerError(layer, f"must be a finite number, got {value!r}", key)
    return float(value)


def integers(value: Any, layer: str, key: str) -> tuple[int, ...]:
    """A list of integers (``target_shape``, ``dims``): a wrong JSON type is the file's error."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                        for v in value):
        raise LayerError(layer, f"must be a list of integers, got {str(value)[:60]}", key)
    return tuple(value)


def float_array(value: Any, layer: str, key: str) -> np.ndarray:
    """A number or a (nested) list of finite numbers from a config, as float64 (strings,
    bools, objects and ragged lists are the file's error, not NumPy's)."""
    def numeric(item: Any) -> bool:
        if isinstance(item, list):
            return all(numeric(v) for v in item)
        return isinstance(item, (int, float)) and not isinstance(item, bool)
    if not numeric(value):
        raise LayerError(layer, f"must be a number or a list of numbers, got {str(value)[:60]}", key)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, OverflowError):  # ragged nesting, an integer past float range
        raise LayerError(layer, f"must be a number or a regular list of numbers, got {str(value)[:60]}", key) from None
    if not np.all(np.isfinite(array)):
        raise LayerError(layer, "must hold finite numbers", key)
    return array


def read_activation(config: Mapping[str, Any], key: str, default: Any, major: int | None, layer: str) -> ActivationSpec:
    value = config[key] if key in config else default
    try:
        return resolve_activation(value, major)
    except ActivationNameError as exc:
        raise UnsupportedError(layer, str(exc), key) from None


def as_object(value: Any, layer: str, key: str) -> Mapping[str, Any]:
    """A nested config value that must be a JSON object (``None`` reads as empty): a file may
    hold any JSON type there, and a wrong one is the file's error, not ours."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LayerError(layer, f"must be an object, got {type(value).__name__} {str(value)[:60]!r}", key)
    return value


def check_dtype(config: Mapping[str, Any], layer: str) -> None:
    dtype = config.get("dtype")
    if isinstance(dtype, Mapping):  # a DTypePolicy / Policy record
        dtype = as_object(dtype.get("config"), layer, "dtype").get("name")
    if not isinstance(dtype, (str, type(None))) or dtype not in (None, "float32"):
        raise UnsupportedError(layer, f"dtype policy {dtype!r} is not supported (float32 only)", "dtype")


def check_keys(config: Mapping[str, Any], allowed: frozenset[str], layer: str) -> list[str]:
    """Refuse unknown keys; return the training-only arguments that are actually *set*
    (a dropout above 0, a regularizer or constraint, an implementation choice, a seed):
    the ones worth telling a user that inference ignores."""
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise LayerError(layer, f"unknown argument(s) {', '.join(unknown)}", unknown[0])
    return sorted(k for k in config if k in TRAINING_ONLY and _is_set(k, config[k]))


def _is_set(key: str, value: Any) -> bool:
    if key in ("dropout", "recurrent_dropout"):
        return isinstance(value, (int, float)) and value > 0
    if key.endswith(("_regularizer", "_constraint")) or key == "seed":
        return value is not None
    return key == "implementation"


def read_weight(
    feed: WeightFeed, it: Iterator[WeightHandle], layer: str, cell: str, what: str, shape: tuple[int, ...]
) -> np.ndarray:
    return check_weight(feed, feed.take(it, layer, f"{what} of cell '{cell}'"), layer, cell, what, shape)


def check_weight(feed: WeightFeed, handle: WeightHandle, layer: str, cell: str, what: str,
                 shape: tuple[int, ...] | None) -> np.ndarray:
    """A taken weight's declared shape (``None``: any) and dtype checked against the config
    before its data is read; then read, checked finite and frozen as float32."""
    check_declared(feed, handle, layer, f"weight '{what}' of cell '{cell}'", shape)
    frozen = np.ascontiguousarray(handle.read(), dtype=np.float32)
    if not np.all(np.isfinite(frozen)):
        raise LayerError(layer, f"weight '{what}' of cell '{cell}' contains NaN or infinity")
    frozen.setflags(write=False)
    return frozen


def check_declared(feed: WeightFeed, handle: WeightHandle, layer: str, what: str,
                   shape: tuple[int, ...] | None) -> None:
    """Refuse a weight whose declared shape or dtype is not the config's, before reading it."""
    if shape is not None and handle.shape != shape:
        raise LayerError(layer, f"{what} has shape {handle.shape}, expected {shape}{feed.origin_note}")
    if handle.dtype.kind != "f":
        raise LayerError(layer, f"{what} is not floating point ({handle.dtype}){feed.origin_note}")



MAX_DIM = (1 << 31) - 1
"""The largest fixed size a tensor dimension may have. No real model has a fixed axis of two
billion; a file declaring one (or a layer argument multiplying up to one) would otherwise
reach ONNX's int64 shapes, or NumPy, as an overflow instead of a refusal."""
MAX_ELEMENTS = 1 << 62  # the fixed dims of one tensor multiplied (what Flatten or Reshape computes)


def check_sizes(layer: str, dims: Any) -> None:
    """Refuse fixed dimensions over :data:`MAX_DIM`, or over :data:`MAX_ELEMENTS` together."""
    fixed = [d for d in dims if isinstance(d, int) and not isinstance(d, bool)]
    for dim in fixed:
        if dim > MAX_DIM:
            raise LayerError(layer, f"a dimension of {dim:,} is over {MAX_DIM:,} (2^31 - 1): not a real model's size")
    total = 1
    for dim in fixed:
        total *= dim
    if total > MAX_ELEMENTS:
        raise LayerError(layer, f"its fixed dimensions {tuple(fixed)} hold over 2^62 values: not a real model's size")


class TensorTable(dict):
    """The parser's tensors by reference; every one recorded has its fixed sizes bounded
    (:func:`check_sizes`), so no declared shape or layer argument can overflow later stages."""

    def __setitem__(self, ref: Any, info: TensorFacts) -> None:
        check_sizes(ref.layer, (info.width, info.steps, *(info.shape or ())))
        super().__setitem__(ref, info)


@dataclass(frozen=True)
class TensorFacts:
    """What the parser establishes about a tensor, once, for every later stage: last-dim
    width (None for token ids), rank, whether it carries a Keras mask, whether it is a
    boolean (mask-op) tensor, its static batch size, and its time dim as the ONNX graph
    names it (``time``).

    ``steps`` is the static length the parsers' shape arithmetic knows; ``time`` is the
    graph's first non-batch dim: a fixed size, the name of a model input's dynamic time
    axis that this tensor keeps, or ``None`` (a new dim: ``<output>_time`` at an output).
    They agree wherever both are fixed, except where a layer makes a new axis whose size
    is known (a lone ConvLSTM output's first spatial dim): ``time`` leaves it unnamed and
    the graph's output takes the size from ``dims()``."""

    width: int | None
    rank: int
    masked: bool
    boolean: bool = False
    steps: int | None = None  # static timesteps of a rank-3 tensor, when known
    shape: tuple[int | None, ...] | None = None  # every non-batch dim (Keras layout), when tracked
    time_major: bool = False  # Keras sees it as (time, batch, features): see spec/tfops.py
    batch: int | None = None  # the static batch size (of the model input the data comes from)
    time: int | str | None = None  # the graph's time dim (see above), filled in by ModelSpec
    # its batch axis holds a TimeDistributed's batch x time (a fold's output and what the wrapped
    # layers compute from it: spec/folds.py), filled in by ModelSpec; no state is carried there
    folded: bool = False

    def dims(self) -> tuple[int | None, ...]:
        """The non-batch dims in Keras's layout; rank-2/3 tensors from layers that do not
        track ``shape`` give (width,) or (steps, width)."""
        if self.shape is not None:
            return self.shape
        if self.rank == 3:
            return (self.steps, self.width)
        return (self.width,)[: self.rank - 1]




TensorInfo = TensorFacts
"""The old name of :class:`TensorFacts`."""
