"""Parsers of the layers around recurrent layers: config + weights -> spec + output shape.

Each returns the spec and a :class:`TensorFacts` of its output (width, rank, mask), and
refuses what it cannot represent exactly with the layer and key named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer, RawModel
from .activation_layers import PARSERS as ACTIVATION_PARSERS
from .checks import (
    BASE_KEYS,
    TRAINING_ONLY,
    TensorFacts,
    WeightFeed,
    as_object,
    check_dtype,
    check_keys,
    flag,
    integers,
    number,
    read_activation,
    read_weight,
)
from .conv import PARSERS as CONV_PARSERS
from .conv import parse_permute_nd
from .layers import (
    ActivationLayerSpec,
    DenseSpec,
    FlattenSpec,
    GlobalPool1DSpec,
    IdentityLayerSpec,
    MergeSpec,
    NormalizationSpec,
    PermuteSpec,
    RepeatVectorSpec,
    ReshapeSpec,
)
from .types import Ref
from .wrappers import parse_time_distributed

IDENTITY_CLASSES = {"Dropout": {"rate", "noise_shape", "seed"}, "SpatialDropout1D": {"rate", "seed", "noise_shape"},
                    "GaussianNoise": {"stddev", "seed"}, "GaussianDropout": {"rate", "seed"},
                    "AlphaDropout": {"rate", "noise_shape", "seed"}, "ActivityRegularization": {"l1", "l2"},
                    "Identity": set()}
MERGE_CLASSES = {"Concatenate": "concatenate", "Add": "add", "Subtract": "subtract", "Multiply": "multiply",
                 "Average": "average", "Maximum": "maximum", "Minimum": "minimum"}
DENSE_KEYS = {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
              "bias_regularizer", "kernel_constraint", "bias_constraint", "lora_rank", "lora_alpha",
              "quantization_config"}
NORM_KEYS = {"axis", "epsilon", "center", "scale", "momentum", "beta_initializer", "gamma_initializer",
             "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
             "beta_constraint", "gamma_constraint", "synchronized", "renorm", "renorm_clipping", "renorm_momentum",
             "fused", "virtual_batch_size", "adjustment", "rms_scaling"}

Parsed = tuple[Any, TensorFacts]


def _one(value: Any, layer: str, key: str) -> int:
    """Keras 1-D sizes are ints or one-element lists."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LayerError(layer, f"must be a positive integer, got {value!r}", key)
    return value


def _no_extra_weights(feed: WeightFeed, it, layer: str) -> None:
    if feed.is_per_layer and next(it, None) is not None:
        raise LayerError(layer, f"the file holds more weights than the layer uses{feed.origin_note}")


def _dense(raw: RawLayer, config: Mapping[str, Any], sources, infos, model: RawModel, feed: WeightFeed) -> Parsed:
    check_keys(config, BASE_KEYS | TRAINING_ONLY | DENSE_KEYS, raw.name)
    check_dtype(config, raw.name)
    if config.get("lora_rank") or config.get("quantization_config"):
        raise UnsupportedError(raw.name, "LoRA or quantized Dense layers are not supported")
    units = _one(config.get("units"), raw.name, "units")
    width = infos[0].width
    it = feed.for_layer(raw)
    kernel = read_weight(feed, it, raw.name, raw.name, "kernel", (width, units))
    use_bias = flag(config, "use_bias", True, raw.name)
    bias = read_weight(feed, it, raw.name, raw.name, "bias", (units,)) if use_bias else None
    _no_extra_weights(feed, it, raw.name)
    act = read_activation(config, "activation", None, model.keras_major, raw.name)
    spec = DenseSpec(raw.name, sources, units, act, kernel, bias)
    shape = (*infos[0].shape[:-1], units) if infos[0].shape is not None else None
    return spec, TensorFacts(units, infos[0].rank, infos[0].masked, steps=infos[0].steps, shape=shape)


def _time_distributed(raw: RawLayer, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"layer"}, raw.name)
    inner = as_object(config.get("layer"), raw.name, "layer")
    cls = inner.get("class_name")
    if infos[0].rank == 3 and (cls == "Dense" or cls in IDENTITY_CLASSES or cls == "Activation"):
        # the wrapped layer acts on each step's features: parse it as itself, named as the wrapper
        return PARSERS[cls](replace(raw, class_name=cls), as_object(inner.get("config"), raw.name, "layer"),
                            sources, infos, model, feed)
    return parse_time_distributed(raw, config, sources, infos, model, feed, PARSERS)


def _activation_layer(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"activation"}, raw.name)
    act = read_activation(config, "activation", None, model.keras_major, raw.name)
    return ActivationLayerSpec(raw.name, sources, act), infos[0]


def _identity(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | IDENTITY_CLASSES[raw.class_name], raw.name)
    if raw.class_name == "Identity" and model.keras_major == 2:  # tf-keras's Identity does not support masking
        return IdentityLayerSpec(raw.name, sources, raw.class_name, mask="drop"), replace(infos[0], masked=False)
    return IdentityLayerSpec(raw.name, sources, raw.class_name), infos[0]


def _merge(raw, config, sources, infos, model, feed) -> Parsed:
    op = MERGE_CLASSES[raw.class_name]
    check_keys(config, BASE_KEYS | {"axis"}, raw.name)
    if len(sources) < 2:
        raise LayerError(raw.name, f"{raw.class_name} needs at least two inputs")
    ranks = {i.rank for i in infos}
    if len(ranks) != 1:
        raise UnsupportedError(raw.name, f"inputs of different ranks {sorted(ranks)}")
    rank = ranks.pop()
    keras3 = model.keras_major == 3  # no mask unless every input has one (MergeSpec)
    masked = any(i.masked for i in infos)
    if op == "concatenate":
        axis = config.get("axis", -1)
        if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank or axis % rank == 0:
            raise UnsupportedError(raw.name, f"Concatenate axis {axis!r} is not supported (time or features)", "axis")
        axis = axis % rank
        steps = _known_steps(infos)
        if axis == rank - 1:
            width = sum(i.width for i in infos)
        else:
            width = infos[0].width
            all_steps = [i.steps for i in infos]
            steps = sum(s for s in all_steps if s is not None) if None not in all_steps else None
        in_time = rank == 3 and axis == 1  # masks joined in time; along features Keras 3 needs every mask
        joined_masked = masked if in_time or not keras3 else all(i.masked for i in infos)
        return MergeSpec(raw.name, sources, op, axis, any_or_none=keras3), TensorFacts(width, rank, joined_masked,
                                                                                      steps=steps)
    widths = {i.width for i in infos}
    if len(widths) != 1:
        raise LayerError(raw.name, f"{raw.class_name} inputs have different widths {sorted(widths)}")
    if op == "subtract" and len(sources) != 2:
        raise LayerError(raw.name, "Subtract takes exactly two inputs")
    masked = all(i.masked for i in infos) if keras3 else masked
    return MergeSpec(raw.name, sources, op, any_or_none=keras3), TensorFacts(infos[0].width, rank, masked,
                                                                             steps=_known_steps(infos))


def _known_steps(infos: Sequence[TensorFacts]) -> int | None:
    """The fixed timesteps of inputs that share their time axis, when any of them knows it."""
    return next((i.steps for i in infos if i.steps is not None), None)


def _repeat_vector(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"n"}, raw.name)
    if infos[0].rank != 2:
        raise LayerError(raw.name, "RepeatVector needs a (batch, features) input")
    n = _one(config.get("n"), raw.name, "n")
    return RepeatVectorSpec(raw.name, sources, n), TensorFacts(infos[0].width, 3, False, steps=n)


def _global_pool(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"data_format", "keepdims"}, raw.name)
    if config.get("data_format", "channels_last") != "channels_last" or config.get("keepdims"):
        raise UnsupportedError(raw.name, "only channels_last without keepdims is supported")
    op = "max" if raw.class_name == "GlobalMaxPooling1D" else "average"
    return GlobalPool1DSpec(raw.name, sources, op), TensorFacts(infos[0].width, 2, False)


def _normalization(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | TRAINING_ONLY | NORM_KEYS, raw.name)
    axis = config.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    if axis not in (-1, infos[0].rank - 1):
        raise UnsupportedError(raw.name, f"normalization over axis {axis!r} is not supported (last axis only)", "axis")
    for key in ("renorm", "virtual_batch_size", "adjustment"):
        if config.get(key):
            raise UnsupportedError(raw.name, f"{key} is not supported", key)
    width = infos[0].width
    center, scale = flag(config, "center", True, raw.name), flag(config, "scale", True, raw.name)
    epsilon = number(config, "epsilon", 1e-3, raw.name)
    it = feed.for_layer(raw)
    gamma = read_weight(feed, it, raw.name, raw.name, "gamma", (width,)) if scale else None
    beta = read_weight(feed, it, raw.name, raw.name, "beta", (width,)) if center else None
    if raw.class_name == "BatchNormalization":
        mean = read_weight(feed, it, raw.name, raw.name, "moving_mean", (width,))
        variance = read_weight(feed, it, raw.name, raw.name, "moving_variance", (width,))
        _no_extra_weights(feed, it, raw.name)
        return NormalizationSpec(raw.name, sources, "batch", epsilon, gamma, beta, mean, variance), infos[0]
    _no_extra_weights(feed, it, raw.name)
    rms = flag(config, "rms_scaling", False, raw.name)
    return NormalizationSpec(raw.name, sources, "layer", epsilon, gamma, beta, rms_scaling=rms), infos[0]


def _reshape(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"target_shape"}, raw.name)
    target = integers(config.get("target_shape"), raw.name, "target_shape")
    dims = infos[0].dims()
    if not 1 <= len(target) <= 5 or not all(isinstance(d, int) and (d > 0 or d == -1) for d in target):
        raise UnsupportedError(raw.name, f"Reshape to {target} is not supported (results of rank 2 to 6)",
                               "target_shape")
    if target.count(-1) > 1:
        raise LayerError(raw.name, f"Reshape to {target} has more than one -1", "target_shape")
    size = int(np.prod(dims)) if all(d is not None for d in dims) else None
    if size is not None:
        known = int(np.prod([d for d in target if d != -1]))
        if -1 in target:
            if known == 0 or size % known:
                raise LayerError(raw.name, f"cannot reshape {size} values to {target}", "target_shape")
            target = tuple(size // known if d == -1 else d for d in target)
        elif known != size:
            raise LayerError(raw.name, f"cannot reshape {size} values to {target}", "target_shape")
    elif len(target) == 1 or target[-1] == -1:
        raise UnsupportedError(raw.name, "the last size after Reshape must be known: the input has dynamic "
                               f"dimensions {dims}", "target_shape")
    spec = ReshapeSpec(raw.name, sources, target)
    if len(target) == 1:
        return spec, TensorFacts(target[0], 2, False)
    out = tuple(None if d == -1 else d for d in target)
    if len(target) == 2:
        return spec, TensorFacts(target[1], 3, False, steps=out[0])
    return spec, TensorFacts(target[-1], len(target) + 1, False, steps=out[0], shape=out)


def _permute(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"dims"}, raw.name)
    dims = integers(config.get("dims"), raw.name, "dims")
    info = infos[0]
    if info.rank > 3:
        return parse_permute_nd(raw, config, sources, infos, model, feed)
    if info.rank != 3 or sorted(dims) != [1, 2]:
        raise UnsupportedError(raw.name, f"Permute{dims} is supported on (batch, time, features) only", "dims")
    if dims == (1, 2):
        return IdentityLayerSpec(raw.name, sources, "Permute", mask="drop"), replace(info, masked=False)
    if info.steps is None:
        raise UnsupportedError(raw.name, "Permute((2, 1)) needs a fixed number of timesteps (they become features)")
    return PermuteSpec(raw.name, sources, dims, info.width), TensorFacts(info.steps, 3, False, steps=info.width)


def _flatten(raw, config, sources, infos, model, feed) -> Parsed:
    check_keys(config, BASE_KEYS | {"data_format"}, raw.name)
    info = infos[0]
    if info.rank == 2:
        return IdentityLayerSpec(raw.name, sources, "Flatten", mask="drop"), TensorFacts(info.width, 2, False)
    dims = info.dims()
    if any(d is None for d in dims):
        raise UnsupportedError(raw.name, f"Flatten needs fixed dimensions, the input has {dims}")
    if config.get("data_format") == "channels_first" and info.rank > 3:
        raise UnsupportedError(raw.name, "Flatten with data_format='channels_first' is not supported", "data_format")
    return FlattenSpec(raw.name, sources), TensorFacts(int(np.prod(dims)), 2, False)


PARSERS: dict[str, Callable[..., Parsed]] = {
    "Dense": _dense,
    "TimeDistributed": _time_distributed,
    "Activation": _activation_layer,
    **{name: _identity for name in IDENTITY_CLASSES},
    **{name: _merge for name in MERGE_CLASSES},
    "RepeatVector": _repeat_vector,
    "GlobalAveragePooling1D": _global_pool,
    "GlobalMaxPooling1D": _global_pool,
    "BatchNormalization": _normalization,
    "LayerNormalization": _normalization,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Permute": _permute,
}


def _global_pool_any(raw, config, sources, infos, model, feed) -> Parsed:
    """The 1-D channels_last forms keep their mask-aware parser; the others are in spec/conv.py."""
    if (raw.class_name in ("GlobalAveragePooling1D", "GlobalMaxPooling1D") and not config.get("keepdims")
            and config.get("data_format", "channels_last") == "channels_last"):
        return _global_pool(raw, config, sources, infos, model, feed)
    return CONV_PARSERS[raw.class_name](raw, config, sources, infos, model, feed)


# Layer families kept in their own modules register their parsers here.
PARSERS.update(CONV_PARSERS)
PARSERS.update(ACTIVATION_PARSERS)
PARSERS.update({"GlobalAveragePooling1D": _global_pool_any, "GlobalMaxPooling1D": _global_pool_any})


def parse_feed_forward(raw: RawLayer, sources: Sequence[Ref], infos: Sequence[TensorFacts], model: RawModel,
                       feed: WeightFeed) -> Parsed:
    """The spec of one surrounding layer and the shape of its output."""
    for info in infos:
        if info.boolean:
            raise UnsupportedError(raw.name, "a boolean mask tensor is not a valid input here")
    if raw.class_name not in MERGE_CLASSES and len(sources) != 1:
        raise UnsupportedError(raw.name, f"expected one input tensor, got {len(sources)}")
    spec, out = PARSERS[raw.class_name](raw, raw.config, tuple(sources), list(infos), model, feed)
    if (raw.class_name not in ("Conv1D", "MaxPooling1D", "AveragePooling1D", "Reshape", "Permute", "Concatenate")
            and out.rank == 3 and out.steps is None and out.shape is None):
        out = TensorFacts(out.width, out.rank, out.masked, out.boolean, infos[0].steps)
    return spec, out
