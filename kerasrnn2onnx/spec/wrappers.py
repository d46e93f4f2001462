"""``TimeDistributed`` of any supported feed-forward layer, and ``Embedding`` of token ids of
any rank (what ``TimeDistributed(Embedding)`` computes).

Keras's TimeDistributed folds time into the batch, calls the wrapped layer on
``(batch*time, ...)`` and unfolds the result (keras/src/layers/rnn/time_distributed.py);
the spec records the wrapped layer's own spec, parsed as that layer over one step's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer, RawModel
from .checks import (
    BASE_KEYS,
    TensorInfo,
    WeightFeed,
    check_dtype,
    check_keys,
    flag,
    read_weight,
)
from .conv import Dims, info_of
from .types import TensorSpec

Parsed = tuple[Any, TensorInfo]


@dataclass(frozen=True, eq=False)
class TimeDistributedSpec:
    """``inner`` applied to every step of a (batch, time, ...) tensor; passes the mask."""

    name: str
    sources: tuple[TensorSpec, ...]
    inner: Any
    inner_in_rank: int
    inner_out_rank: int
    out_shape: Dims
    mask: ClassVar[str] = "pass"

    def out_time(self, time: Any) -> Any:
        return time

    def describe(self) -> str:
        return f"TimeDistributed({self.inner.describe()})"


@dataclass(frozen=True, eq=False)
class TokenEmbeddingSpec:
    """``Embedding`` of integer ids of any shape: (batch, *dims) -> (batch, *dims, output_dim)."""

    name: str
    sources: tuple[TensorSpec, ...]
    vocabulary: int
    table: np.ndarray
    out_shape: Dims
    mask: ClassVar[str] = "drop"

    def out_time(self, time: Any) -> Any:
        return time

    def describe(self) -> str:
        return f"Embedding({self.vocabulary}, {self.table.shape[1]}) of {len(self.out_shape) - 1}-D ids"


EMBEDDING_KEYS = frozenset({"input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                            "embeddings_constraint", "mask_zero", "lora_rank", "lora_alpha", "sparse",
                            "activity_regularizer", "quantization_config", "input_length"})


def parse_token_embedding(raw: RawLayer, config: Mapping[str, Any], sources: tuple[TensorSpec, ...],
                          infos: list[TensorInfo], model: RawModel, feed: WeightFeed) -> Parsed:
    name = raw.name
    check_keys(config, BASE_KEYS | EMBEDDING_KEYS, name)
    check_dtype(config, name)
    for key in ("lora_rank", "quantization_config", "sparse"):
        if config.get(key):
            raise UnsupportedError(name, f"{key} embeddings are not supported", key)
    if flag(config, "mask_zero", False, name):
        raise UnsupportedError(name, "Embedding(mask_zero=True) of ids with more than one axis per sample "
                               "(e.g. inside TimeDistributed) is not supported", "mask_zero")
    dims = {}
    for key in ("input_dim", "output_dim"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LayerError(name, f"must be a positive integer, got {value!r}", key)
        dims[key] = value
    it = feed.for_layer(raw)
    table = read_weight(feed, it, name, name, "embeddings", (dims["input_dim"], dims["output_dim"]))
    if feed.is_per_layer and next(it, None) is not None:
        raise LayerError(name, "the file holds more weights than an Embedding uses")
    out = (*infos[0].dims(), dims["output_dim"])
    return TokenEmbeddingSpec(name, sources, dims["input_dim"], table, out), info_of(out)


def parse_time_distributed(raw: RawLayer, config: Mapping[str, Any], sources: tuple[TensorSpec, ...],
                           infos: list[TensorInfo], model: RawModel, feed: WeightFeed,
                           parsers: Mapping[str, Callable[..., Parsed]]) -> Parsed:
    """The wrapped layer parsed over one step's shape (its weights are the wrapper's)."""
    name = raw.name
    check_keys(config, BASE_KEYS | {"layer"}, name)
    inner = config.get("layer")
    if not isinstance(inner, Mapping):
        raise LayerError(name, "TimeDistributed has no wrapped layer config", "layer")
    cls = str(inner.get("class_name"))
    dims = infos[0].dims()
    if infos[0].rank < 3:
        raise LayerError(name, "TimeDistributed needs an input with a time axis (batch, time, ...)")
    if cls in ("Sequential", "Functional", "Model"):
        raise UnsupportedError(name, f"TimeDistributed of a nested {cls} model is not supported yet: wrap each "
                               "layer in its own TimeDistributed", "layer")
    if cls == "Embedding":
        parser: Callable[..., Parsed] = parse_token_embedding
    elif cls in parsers and cls != "TimeDistributed":
        parser = parsers[cls]
    else:
        raise UnsupportedError(name, f"TimeDistributed({cls}) is not supported", "layer")
    if infos[0].masked and cls in ("GlobalAveragePooling1D",):
        raise UnsupportedError(name, f"TimeDistributed({cls}) of a masked input is not supported", "layer")
    step = TensorInfo(dims[-1], len(dims), False, steps=dims[1] if len(dims) >= 3 else None, shape=dims[1:])
    inner_raw = replace(raw, class_name=str(cls))
    spec, out = parser(inner_raw, inner.get("config") or {}, sources, [step], model, feed)
    out_dims = out.dims()
    if out.rank == 3 and out.shape is None and out.steps is None and dims[1] is not None:
        out_dims = (dims[1], out.width)  # a per-feature inner layer kept the step's length
    result = (dims[0], *out_dims)
    td = TimeDistributedSpec(name, sources, spec, step.rank, out.rank, result)
    return td, replace(info_of(result), masked=infos[0].masked)
