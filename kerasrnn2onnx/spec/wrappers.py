"""``TimeDistributed`` of any supported feed-forward layer, and ``Embedding`` of token ids of
any rank (what ``TimeDistributed(Embedding)`` computes).

Keras's TimeDistributed folds time into the batch, calls the wrapped layer on
``(batch*time, ...)`` and unfolds the result (keras/src/layers/rnn/time_distributed.py);
the spec records the wrapped layer's own spec, parsed as that layer over one step's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..errors import LayerError, UnsupportedError
from ..io.handles import WeightHandle
from ..io.raw import RawLayer, RawModel, TensorRef
from .checks import (
    BASE_KEYS,
    TensorFacts,
    WeightFeed,
    check_dtype,
    check_keys,
    flag,
    read_weight,
)
from .conv import Dims, info_of
from .node import Node
from .types import Ref

Parsed = tuple[Any, TensorFacts]


@dataclass(frozen=True, eq=False)
class TimeDistributedSpec(Node):
    """``chain`` applied to every step of a (batch, time, ...) tensor: one wrapped layer, or
    the layers of a wrapped Sequential model, each as ``(spec, input rank, output rank)``
    (ranks of one step, batch included); passes the mask."""

    name: str
    inputs: tuple[Ref, ...]
    chain: tuple[tuple[Any, int, int], ...]
    out_shape: Dims
    in_shape: Dims = ()  # the input's non-batch dims (time first), for static reshapes
    mask: ClassVar[str] = "pass"

    @property
    def inner_in_rank(self) -> int:
        return self.chain[0][1]

    @property
    def inner_out_rank(self) -> int:
        return self.chain[-1][2]

    def out_time(self, time: Any) -> Any:
        return time

    def describe(self) -> str:
        return "TimeDistributed(" + " -> ".join(spec.describe() for spec, _, _ in self.chain) + ")"


class _ChainFeed:
    """The wrapper's arrays handed to the wrapped model's layers one after another (duck-typed
    :class:`WeightFeed`). Keras 2 stores a wrapped model's trainable weights before its
    non-trainable ones (every BatchNormalization's moving statistics last): with ``moving``
    set, requests for moving statistics are served from that tail queue."""

    is_per_layer = False
    origin_note = ""
    converts_cudnn_layout = False  # set by the caller for a Keras 2 HDF5 layout (WeightFeed's property)

    def __init__(self, arrays: Iterator[WeightHandle], moving: list[WeightHandle] | None = None) -> None:
        self._it = arrays
        self._moving = iter(moving) if moving is not None else None

    def for_layer(self, raw: RawLayer) -> Iterator[WeightHandle]:
        return self._it

    def take(self, iterator: Iterator[WeightHandle], layer: str, what: str) -> WeightHandle:
        source = self._moving if self._moving is not None and what.startswith("moving_") else iterator
        try:
            return next(source)
        except StopIteration:
            raise LayerError(layer, f"missing weight: {what}") from None


def _keras2_split(raw: RawLayer, entries: list[Mapping[str, Any]]) -> _ChainFeed:
    """Keras 2 order: trainable weights layer by layer, then each BatchNormalization's
    moving_mean and moving_variance."""
    arrays = list(raw.weights)
    moving = 2 * sum(1 for e in entries if e.get("class_name") == "BatchNormalization")
    if moving > len(arrays):
        raise LayerError(raw.name, "the wrapped model holds fewer weights than its layers need")
    cut = len(arrays) - moving
    return _ChainFeed(iter(arrays[:cut]), arrays[cut:])


@dataclass(frozen=True, eq=False)
class TokenEmbeddingSpec(Node):
    """``Embedding`` of integer ids of any shape: (batch, *dims) -> (batch, *dims, output_dim)."""

    name: str
    inputs: tuple[Ref, ...]
    vocabulary: int
    table: np.ndarray
    out_shape: Dims
    mask: ClassVar[str] = "drop"
    # mask_zero=True inside a tf-keras TimeDistributed: the wrapper's output then carries a
    # (batch, time, ids) mask (see _embedding_mask_zero); it changes no number of the lookup
    mask_zero: bool = False

    def out_time(self, time: Any) -> Any:
        return time

    def describe(self) -> str:
        return f"Embedding({self.vocabulary}, {self.table.shape[1]}) of {len(self.out_shape) - 1}-D ids"


EMBEDDING_KEYS = frozenset({"input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                            "embeddings_constraint", "mask_zero", "lora_rank", "lora_alpha", "sparse",
                            "activity_regularizer", "quantization_config", "input_length"})


def parse_token_embedding(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...],
                          infos: list[TensorFacts], model: RawModel, feed: WeightFeed) -> Parsed:
    name = raw.name
    check_keys(config, BASE_KEYS | EMBEDDING_KEYS, name)
    check_dtype(config, name)
    for key in ("lora_rank", "quantization_config", "sparse"):
        if config.get(key):
            raise UnsupportedError(name, f"{key} embeddings are not supported", key)
    if flag(config, "mask_zero", False, name):  # TimeDistributed judges its own (_embedding_mask_zero)
        raise UnsupportedError(name, "Embedding(mask_zero=True) of ids with more than one axis per sample "
                               "is not supported", "mask_zero")
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


def functional_chain(inner: Mapping[str, Any], model: RawModel,
                     layer: str) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The layers of a functional model wrapped in TimeDistributed, as ``(entries, names)``
    in call order, when they form one chain: one input, each layer called once on the
    previous layer's only output, the last one the model's only output. Keras's
    TimeDistributed calls the model on (batch * time, ...) like any layer, so a chain is
    the wrapped Sequential case; a model that branches or merges is refused. Nested models
    inside it are inlined by the topology reader (names ``<model>/<layer>``)."""
    from ..io.topology import parse_topology  # the reader of every model config

    _, _, raws, inputs, outputs = parse_topology(inner, model.source)
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(layer, f"TimeDistributed of a functional model with {len(inputs)} input(s) and "
                               f"{len(outputs)} output(s) is not supported (one of each)", "layer")
    previous = inputs[0]
    chain = []
    for raw in raws:
        if raw.class_name == "InputLayer":
            continue
        ref = raw.inbound[0] if len(raw.inbound) == 1 else None
        if ref is None or raw.tensor_kwargs or ref.index != 0 or ref.layer != previous.layer or raw.weights_from:
            raise UnsupportedError(layer, f"TimeDistributed of a functional model that is not one chain of layers "
                                   f"(at '{raw.name}') is not supported", "layer")
        chain.append(raw)
        previous = TensorRef(raw.name)
    if not chain or outputs[0].layer != previous.layer or outputs[0].index != 0:
        raise UnsupportedError(layer, "TimeDistributed of a functional model whose output is not the end of its "
                               "chain of layers is not supported", "layer")
    return [{"class_name": r.class_name, "config": r.config} for r in chain], [r.name for r in chain]


def _embedding_mask_zero(layer: str, inner: str, last: bool, model: RawModel) -> None:
    """Whether ``Embedding(mask_zero=True)`` inside TimeDistributed can be converted exactly.

    Read from each version's source (keras/src/layers/rnn/time_distributed.py,
    tf_keras/src/layers/rnn/time_distributed.py) and checked against both (fixtures
    k3/k2_td_embedding_mask_zero):

    - Keras 3's TimeDistributed does not override ``compute_mask``: its output carries its
      input's mask (none for ids) and the Embedding's own mask reaches no layer, so
      ``mask_zero`` changes nothing;
    - tf-keras's ``TimeDistributed.compute_mask`` reshapes the inner Embedding's mask to
      (batch, time, ids) and hands it on (with a fixed batch size too, since built-in layers
      always take its reshape path). A following ``TimeDistributed(GlobalAveragePooling1D)`` or
      ``TimeDistributed(LSTM)`` reads it per id (spec/folds.py follows that), one of Conv1D or Flatten
      raises "does not support masking" in tf-keras itself; a layer that ends masks (Reshape,
      Conv, Flatten outside the wrapper) drops it. The parser follows that mask
      (spec/element_masks.py) and refuses any layer that would read it.

    Inside a wrapped Sequential or functional model the mask would reach the model's next
    layer in both versions: refused unless the Embedding is the model's last layer."""
    if not last:
        raise UnsupportedError(layer, f"Embedding(mask_zero=True) '{inner}' followed by other layers inside the "
                               "wrapped model is not supported (its mask reaches them)", "mask_zero")
    if model.keras_major not in (2, 3):
        raise UnsupportedError(layer, "Embedding(mask_zero=True) inside TimeDistributed needs the Keras version "
                               "(its mask rule differs between Keras 2 and 3)", "mask_zero")


def parse_time_distributed(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...],
                           infos: list[TensorFacts], model: RawModel, feed: WeightFeed,
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
    step = TensorFacts(dims[-1], len(dims), False, steps=dims[1] if len(dims) >= 3 else None, shape=dims[1:])
    if cls in ("Sequential", "Functional", "Model"):
        if cls == "Sequential":
            entries = [e for e in ((inner.get("config") or {}).get("layers") or [])
                       if isinstance(e, Mapping) and e.get("class_name") != "InputLayer"]
            names = [str((e.get("config") or {}).get("name", "")) for e in entries]
        else:
            entries, names = functional_chain(inner, model, name)
        if feed.is_per_layer and model.keras_major == 2:
            sub_feed = _keras2_split(raw, entries)
        elif feed.is_per_layer:
            sub_feed = _ChainFeed(iter(raw.weights))
        else:
            sub_feed = _ChainFeed(feed.for_layer(raw))
    else:
        entries, names, sub_feed = [inner], [name], None
    if not entries:
        raise LayerError(name, "the wrapped model has no layers", "layer")
    chain: list[tuple[Any, int, int]] = []
    info = step
    for entry, inner_name in zip(entries, names, strict=True):
        cls = str(entry.get("class_name"))
        if cls == "Embedding":
            parser: Callable[..., Parsed] = parse_token_embedding
        elif cls in parsers and cls != "TimeDistributed":
            parser = parsers[cls]
        else:
            raise UnsupportedError(name, f"TimeDistributed({cls}) is not supported", "layer")
        if infos[0].masked and cls in ("GlobalAveragePooling1D",):
            raise UnsupportedError(name, f"TimeDistributed({cls}) of a masked input is not supported", "layer")
        inner_config = entry.get("config") or {}
        mask_zero = cls == "Embedding" and flag(inner_config, "mask_zero", False, name)
        if mask_zero:
            _embedding_mask_zero(name, inner_name, len(chain) == len(entries) - 1, model)
            inner_config = {**inner_config, "mask_zero": False}  # judged here; recorded on the spec below
        inner_raw = replace(raw, class_name=cls) if sub_feed is None else replace(
            raw, class_name=cls, name=f"{name}/{inner_name}", weights=(), weight_names=())
        spec, out = parser(inner_raw, inner_config, sources, [info], model, feed if sub_feed is None else sub_feed)
        if mask_zero:
            spec = replace(spec, mask_zero=True)
        if out.rank == 3 and out.shape is None and out.steps is None and info.rank == 3:
            out = replace(out, steps=info.dims()[0])  # a per-feature layer keeps the step's length
        chain.append((spec, info.rank, out.rank))
        info = out
    if sub_feed is not None and feed.is_per_layer and next(sub_feed.for_layer(raw), None) is not None:
        raise LayerError(name, "the file holds more weights than the wrapped model uses")
    result = (dims[0], *info.dims())
    td = TimeDistributedSpec(name, sources, tuple(chain), result, tuple(dims))
    return td, replace(info_of(result), masked=infos[0].masked)
