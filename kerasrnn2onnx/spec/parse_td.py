"""Parse ``TimeDistributed`` of a recurrent layer (or of a model holding one) into graph nodes:
a fold, the wrapped layers over the folded tensor, an unfold (the nodes: spec/folds.py).

The wrapped layers are read by the same layer parsers as the model's own (passed in as
``parse_layer``, so this module does not import the parser hub): a recurrent layer inside is
checked, planned and lowered like any other, and a wrapped model's masks (an
``Embedding(mask_zero=True)`` masking words) flow as in any model. What Keras itself refuses
inside the wrapper, or what cannot be made exact, is refused with one line naming the wrapper,
the wrapped layer and the feature.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import LayerError, UnsupportedError
from ..io.handles import WeightHandle
from ..io.raw import RawLayer, RawModel, TensorRef
from .checks import TensorFacts, WeightFeed, as_object
from .folds import FoldSpec, UnfoldSpec
from .node import Ref
from .types import BidirectionalSpec, RecurrentLayerSpec
from .wrappers import _ChainFeed, _keras2_split

MODEL_CLASSES = ("Sequential", "Functional", "Model")

Parsed = list[tuple[Any, list[TensorFacts]]]
ParseLayer = Callable[[RawLayer, Any], Parsed]
"""Parses one layer call against the model's graph so far, with the given weight feed
(a :class:`WeightFeed` or one duck-typed like it)."""


def holds_recurrent(entry: Any, recurrent: Collection[str]) -> bool:
    """Whether a wrapped layer config is, or holds somewhere inside it (nested models and
    wrappers included), a layer of a ``recurrent`` class."""
    if isinstance(entry, Mapping):
        if entry.get("class_name") in recurrent:
            return True
        return any(holds_recurrent(value, recurrent) for value in entry.values())
    if isinstance(entry, list):
        return any(holds_recurrent(value, recurrent) for value in entry)
    return False


@dataclass(frozen=True)
class WrapperCall:
    """What the expansion reads of the TimeDistributed call: the layer, its one input tensor
    and that tensor's facts, whether a version-specific mask rides on it, and the tensors
    table the wrapped layers' outputs are registered in as they are parsed."""

    raw: RawLayer
    source: Ref
    info: TensorFacts
    model: RawModel
    feed: WeightFeed
    tensors: dict[TensorRef, TensorFacts]
    element_mask: bool  # a mask of its own shape rides on the input (spec/element_masks.py)
    mask_ids: Ref | None  # ... and it is these (batch, time, ids) ids != 0 (tf-keras's TimeDistributed(Embedding))
    ids: bool  # the input holds integer ids (an integer model input)


def expand_time_distributed(call: WrapperCall, parse_layer: ParseLayer) -> Parsed:
    """The fold, the wrapped layers and the unfold, in graph order (the unfold, named as the
    wrapper, last)."""
    raw, info = call.raw, call.info
    _check_input(call)
    inner = as_object(raw.config.get("layer"), raw.name, "layer")
    raws, output = _inner_layers(raw, inner, call.model)
    fold_name = _fold_name(raw.name, raws)
    ids = call.mask_ids
    fold = FoldSpec(fold_name, (call.source,) + ((ids,) if ids else ()), info.dims(), mask_ids=ids is not None)
    folded = replace(_folded_facts(info, call.ids), masked=ids is not None)
    parsed: Parsed = [(fold, [folded])]
    call.tensors[TensorRef(fold_name)] = folded
    renamed = _renamer(raw.name, fold_name, raws)
    feed = _feed_for(call, inner, raws)
    for inner_raw in raws:
        for spec, outs in parse_layer(renamed(inner_raw), feed):
            _check_inner(raw.name, spec, inner_raw.name)
            for index, out in enumerate(outs):
                call.tensors[TensorRef(spec.name, 0, index)] = out
            parsed.append((spec, outs))
    if isinstance(feed, _ChainFeed) and call.feed.is_per_layer and next(feed.for_layer(raw), None) is not None:
        raise LayerError(raw.name, "the file holds more weights than the wrapped layers use")
    out_ref = _output_ref(raw.name, renamed.ref(output) if output is not None else None, parsed, call.tensors)
    bare = inner.get("class_name") not in MODEL_CLASSES
    parsed.append(_unfold(call, out_ref, call.tensors[TensorRef(out_ref.layer, 0, out_ref.index)], bare))
    return parsed


def _check_input(call: WrapperCall) -> None:
    """What Keras refuses, or what is not followed, on the wrapper's input."""
    raw, info = call.raw, call.info
    if info.rank < 3:
        raise LayerError(raw.name, "TimeDistributed needs an input with a time axis (batch, time, ...)")
    if info.boolean:
        raise UnsupportedError(raw.name, "TimeDistributed of a recurrent layer reads a boolean mask tensor")
    if info.masked:
        raise UnsupportedError(raw.name, "TimeDistributed of a recurrent layer with a (batch, time) mask on its "
                               "input is refused: Keras itself fails there (IndexError in the wrapped layer, "
                               "Keras 3 and tf-keras alike)", "mask")
    if call.element_mask and (call.mask_ids is None or call.model.keras_major != 2):
        raise UnsupportedError(raw.name, "TimeDistributed of a recurrent layer reading a mask of its input's own "
                               "shape that is no Embedding(mask_zero=True)'s ids != 0 is not supported", "mask")
    if call.mask_ids is not None:
        ids = call.tensors[TensorRef(call.mask_ids.layer, 0, call.mask_ids.index)]
        if ids.rank != 3 or info.rank != 4:
            raise UnsupportedError(raw.name, "TimeDistributed of a recurrent layer reading an Embedding mask over ids "
                                   "of another rank than (batch, time, steps) is not supported", "mask")


def _inner_layers(raw: RawLayer, inner: Mapping[str, Any],
                  model: RawModel) -> tuple[list[RawLayer], TensorRef | None]:
    """The wrapped layers in call order (its InputLayer left out: the fold stands for it) and
    the wrapped model's output (``None`` for a bare wrapped layer: its only output)."""
    from ..io.topology import parse_topology  # the reader of every model config

    _, _, raws, inputs, outputs = parse_topology(inner, model.source)
    if len(inputs) != 1 or len(outputs) > 1:
        raise UnsupportedError(raw.name, f"TimeDistributed of a model with {len(inputs)} input(s) and "
                               f"{len(outputs)} output(s) is not supported (one of each)", "layer")
    layers = [r for r in raws if r.class_name != "InputLayer"]
    if not layers:
        raise LayerError(raw.name, "the wrapped model has no layers", "layer")
    for layer in layers:
        if layer.weights_from is not None:
            raise UnsupportedError(raw.name, f"TimeDistributed of a model calling its layer '{layer.name}' twice "
                                   "is not supported", "layer")
    return layers, outputs[0] if outputs else None


def _fold_name(wrapper: str, raws: list[RawLayer]) -> str:
    """``<wrapper>/fold``, unless a wrapped layer already has that name."""
    taken = {r.name for r in raws}
    name = "fold"
    while name in taken:
        name += "_"
    return f"{wrapper}/{name}"


def _folded_facts(info: TensorFacts, ids: bool) -> TensorFacts:
    """(batch, time, *rest) -> (batch * time, *rest): rank 3 keeps its steps and width, rank 2
    is token ids (width ``None``) when the input's last axis holds ids, else features."""
    dims = info.dims()
    rest = dims[1:]
    if len(rest) == 2:
        return TensorFacts(rest[1], 3, False, steps=rest[0])
    if len(rest) == 1:
        return TensorFacts(None if ids else rest[0], 2, False, steps=rest[0])
    return TensorFacts(rest[-1], len(rest) + 1, False, steps=rest[0], shape=rest)


class _Renamer:
    """Wrapped layer names -> graph names (``<wrapper>/<layer>``), the wrapped model's input
    -> the fold's output."""

    def __init__(self, wrapper: str, fold: str, inputs: set[str]) -> None:
        self._wrapper = wrapper
        self._fold = fold
        self._inputs = inputs

    def ref(self, ref: TensorRef) -> TensorRef:
        if ref.layer in self._inputs:
            return TensorRef(self._fold, 0, ref.index)
        return TensorRef(f"{self._wrapper}/{ref.layer}", ref.node, ref.index)

    def value(self, value: Any) -> Any:
        """Every tensor reference inside a call's arguments renamed."""
        if isinstance(value, TensorRef):
            return self.ref(value)
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def __call__(self, raw: RawLayer) -> RawLayer:
        return replace(raw, name=f"{self._wrapper}/{raw.name}", inbound=self.value(raw.inbound),
                       tensor_kwargs=self.value(dict(raw.tensor_kwargs)), call_args=self.value(raw.call_args),
                       call_kwargs=self.value(dict(raw.call_kwargs)))


def _renamer(wrapper: str, fold: str, raws: list[RawLayer]) -> _Renamer:
    known = {r.name for r in raws}
    inputs = {ref.layer for r in raws for ref in r.inbound if ref.layer not in known}
    return _Renamer(wrapper, fold, inputs)


def _feed_for(call: WrapperCall, inner: Mapping[str, Any], raws: list[RawLayer]) -> Any:
    """The wrapper's arrays for the wrapped layers. A bare wrapped layer takes them as the
    wrapper's own (the per-layer checks and messages stay); a wrapped model's layers take
    them one after another (Keras 2 stores trainable weights first: see _keras2_split). Either
    is a duck-typed :class:`WeightFeed`."""
    if inner.get("class_name") not in MODEL_CLASSES:
        return _OwnFeed(call.feed, call.raw)
    if call.feed.is_per_layer and call.model.keras_major == 2:
        feed = _keras2_split(call.raw, [{"class_name": r.class_name} for r in raws])
    elif call.feed.is_per_layer:
        feed = _ChainFeed(iter(call.raw.weights))
    else:
        feed = _ChainFeed(call.feed.for_layer(call.raw))
    feed.converts_cudnn_layout = call.raw.keras2_layout and call.model.keras_major == 2
    return feed


class _OwnFeed:
    """The model's feed, handing a bare wrapped layer the wrapper's arrays (duck-typed
    :class:`WeightFeed`): the layer is parsed under its graph name, its weights are the
    wrapper's."""

    def __init__(self, feed: WeightFeed, wrapper: RawLayer) -> None:
        self._feed = feed
        self._wrapper = wrapper

    def for_layer(self, raw: RawLayer) -> Iterator[WeightHandle]:
        return self._feed.for_layer(self._wrapper)

    def peek(self, raw: RawLayer) -> WeightHandle | None:
        return self._feed.peek(self._wrapper)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._feed, name)


def _check_inner(wrapper: str, spec: Any, inner: str) -> None:
    """What Keras refuses inside TimeDistributed, or what is not followed there."""
    if not isinstance(spec, (RecurrentLayerSpec, BidirectionalSpec)):
        return
    for half in (spec.forward, spec.backward) if isinstance(spec, BidirectionalSpec) else (spec,):
        if half.return_state:
            raise UnsupportedError(wrapper, f"TimeDistributed of '{inner}' with return_state=True is refused: Keras "
                                   "itself fails there (Keras 3: ValueError, tf-keras: AttributeError)",
                                   "return_state")
        if half.stateful:
            raise UnsupportedError(wrapper, f"TimeDistributed of '{inner}' with stateful=True is not supported "
                                   "(Keras carries its states across the wrapper's time steps)", "stateful")
        if half.initial_state or half.constants:
            raise UnsupportedError(wrapper, f"TimeDistributed of '{inner}' called with initial_state= or constants "
                                   "is not supported", "initial_state")


def _output_ref(wrapper: str, declared: TensorRef | None, parsed: Parsed,
                tensors: dict[TensorRef, TensorFacts]) -> Ref:
    """The wrapped output: the wrapped model's declared one, or a bare layer's only output."""
    if declared is None:
        last, outs = parsed[-1]
        if len(outs) != 1:
            raise UnsupportedError(wrapper, f"TimeDistributed of a layer with {len(outs)} outputs is not supported "
                                   "(merge_mode=None)", "layer")
        return Ref(last.name, 0)
    if TensorRef(declared.layer, 0, declared.index) not in tensors:
        raise LayerError(wrapper, f"the wrapped model's output '{declared.layer}' is not produced by its layers")
    return Ref(declared.layer, declared.index)


def _unfold(call: WrapperCall, out_ref: Ref, inner: TensorFacts,
            bare: bool) -> tuple[UnfoldSpec, list[TensorFacts]]:
    """The unfold node and its facts, with its mask rule (spec/folds.py): Keras 3's output
    keeps the wrapper's input mask (none here: refused above); tf-keras's is the wrapped
    output's mask reshaped to (batch, time, steps) (handed on: spec/element_masks.py), or
    when that has none, ``any`` of the input's mask over its last axis."""
    raw = call.raw
    if inner.boolean or inner.time_major:
        raise UnsupportedError(raw.name, "TimeDistributed of a layer whose output is a mask or time-major tensor "
                               "is not supported", "layer")
    steps = call.info.dims()[0]
    shape = (steps, *inner.dims())
    if inner.masked and call.model.keras_major not in (2, 3):
        raise UnsupportedError(raw.name, "TimeDistributed of a layer whose output carries a mask needs the Keras "
                               "version (Keras 3 drops that mask, tf-keras hands it on)", "mask")
    rule = _mask_rule(call, inner, bare)
    ids = (call.mask_ids,) if call.mask_ids is not None and rule.endswith("_ids") else ()
    spec = UnfoldSpec(raw.name, (call.source, out_ref, *ids), shape, rule)
    if len(shape) == 2:
        return spec, [TensorFacts(inner.width, 3, rule == "any_ids", steps=steps)]
    if rule == "any_ids":
        raise UnsupportedError(raw.name, "tf-keras's (batch, time) mask of TimeDistributed over an unmasked wrapped "
                               "sequence is not supported (return no sequence from the wrapped layer)", "mask")
    return spec, [TensorFacts(inner.width, len(shape) + 1, False, steps=steps, shape=shape)]


def _mask_rule(call: WrapperCall, inner: TensorFacts, bare: bool) -> str:
    """How the unfold's mask is made (:class:`UnfoldSpec`): measured with tf-keras 2.21, whose
    ``compute_mask`` asks the wrapped layer, then falls back to ``any`` of the input mask;
    Keras 3 keeps the input's (none). A bare recurrent layer passes the fold's mask to its
    sequence unchanged, so that sequence's mask is still the ids' ``!= 0``."""
    if call.model.keras_major != 2:
        return "none"
    if inner.masked:
        return "hand_on_ids" if bare and call.mask_ids is not None else "hand_on"
    return "any_ids" if call.mask_ids is not None else "none"
