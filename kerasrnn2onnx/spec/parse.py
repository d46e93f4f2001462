"""RawModel -> ModelSpec: read every argument of the Keras recurrent API and check it.

Each Keras argument is either used (it changes the numbers), accepted as training-only
(it cannot change inference), or refused with a message naming layer and key. Unknown
keys are refused too: Keras itself would reject them, and silently ignoring one could
hide a semantic change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import LayerError, ModelFileError, UnsupportedError
from ..io.handles import WeightHandle
from ..io.raw import RawLayer, RawModel, TensorRef
from ..registry import Registry
from .activation_layers import parse_softmax
from .attention import (
    ATTENTION_PARSERS,
    ATTENTION_SPECS,
    TENSOR_KWARGS,
    call_tensors,
    check_shared_masked_inputs,
    parse_attention,
)
from .cells import CellSpec, CustomCellSpec
from .checks import (
    BASE_KEYS,
    TensorFacts,
    TensorTable,
    WeightFeed,
    as_object,
    check_dtype,
    check_keys,
    check_sizes,
    flag,
    integer,
    read_weight,
)
from .conv_rnn import CONV_RNN_CLASSES, ConvUnflattenSpec, parse_conv_rnn
from .dot import parse_dot
from .element_masks import ElementMasks
from .layers import AnyLayerSpec
from .mask_ops import MASK_OP_PARSERS, unsupported_op_message
from .masks import keeps_implicit_mask
from .parse_cells import CELL_PARSERS, LAYER_TO_CELL, cell_configs, parse_cell, parse_custom_cell
from .parse_layers import PARSERS, parse_feed_forward
from .parse_td import WrapperCall, expand_time_distributed, holds_recurrent
from .tfops import TFOP_CLASSES, parse_tfop
from .types import (
    BidirectionalSpec,
    EmbeddingSpec,
    MaskingSpec,
    ModelInput,
    ModelSpec,
    OutputSpec,
    RecurrentLayerSpec,
    Ref,
)

LAYER_FLAGS = frozenset(
    {"return_sequences", "return_state", "go_backwards", "stateful", "unroll", "time_major", "zero_output_for_mask"}
)
INPUT_KEYS = frozenset({"name", "batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "input_tensor",
                        "optional", "batch_size", "shape"})


BIDIRECTIONAL_KEYS = frozenset({"layer", "backward_layer", "merge_mode"})
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _bidirectional(raw: RawLayer, source: Ref, input_size: int, model: RawModel, feed: WeightFeed,
                   masked: bool, mask_source: Ref | None) -> BidirectionalSpec:
    """Both halves parsed as ordinary recurrent layers; weights are forward's then backward's.

    Keras forces ``zero_output_for_mask = return_sequences`` on both halves (Keras 3 also
    writes the forced value into the saved configs; Keras 2 re-forces it on load)."""
    config = raw.config
    check_keys(config, BASE_KEYS | BIDIRECTIONAL_KEYS, raw.name)
    merge_mode = config.get("merge_mode", "concat")
    if merge_mode not in MERGE_MODES:
        raise LayerError(raw.name, f"unknown merge_mode {merge_mode!r}", "merge_mode")
    inner = config.get("layer")
    if not isinstance(inner, Mapping) or inner.get("class_name") not in ("SimpleRNN", "GRU", "LSTM", "RNN"):
        shown = inner.get("class_name") if isinstance(inner, Mapping) else inner
        raise UnsupportedError(raw.name, f"Bidirectional wraps {shown!r}; SimpleRNN, GRU, LSTM and RNN are supported",
                               "layer")
    backward_cfg = config.get("backward_layer")
    if backward_cfg is None:  # Keras builds it from the forward config with go_backwards flipped
        inner_cfg = dict(as_object(inner.get("config"), raw.name, "layer"))
        backward_cfg = {"class_name": inner["class_name"],
                        "config": {**inner_cfg, "go_backwards": not inner_cfg.get("go_backwards", False),
                                   "name": f"backward_{inner_cfg.get('name', 'layer')}"}}
    weights = feed.for_layer(raw)
    halves = []
    for part in (inner, as_object(backward_cfg, raw.name, "backward_layer")):
        cfg = dict(as_object(part.get("config"), raw.name, "layer"))
        half_raw = RawLayer(str(part.get("class_name")), f"{raw.name}/{cfg.get('name', 'half')}", cfg)
        return_sequences = flag(cfg, "return_sequences", False, half_raw.name)
        halves.append(_recurrent_layer(half_raw, source, input_size, model, feed, masked, (), mask_source,
                                       weights_iter=weights, force_zero_output=return_sequences))
    forward, backward = halves
    if feed.is_per_layer and next(weights, None) is not None:
        raise LayerError(raw.name, f"the file holds more weights than the two halves use{feed.origin_note}")
    for key in ("return_sequences", "return_state"):
        if getattr(forward, key) != getattr(backward, key):
            raise LayerError(raw.name, f"forward and backward layers disagree on {key}")
    if merge_mode in ("sum", "mul", "ave") and forward.units != backward.units:
        raise LayerError(raw.name, f"merge_mode {merge_mode!r} needs equal units, got {forward.units} and "
                         f"{backward.units}", "merge_mode")
    return BidirectionalSpec(raw.name, (source,), forward, backward, merge_mode)


def _recurrent_layer(
    raw: RawLayer, source: Ref, input_size: int, model: RawModel, feed: WeightFeed, masked: bool,
    constants: tuple[Ref, ...] = (), mask_source: Ref | None = None,
    weights_iter: Iterator[WeightHandle] | None = None, force_zero_output: bool | None = None,
    allow_time_major: bool = False,
) -> RecurrentLayerSpec:
    """One recurrent layer. ``time_major=True`` (Keras 2) only changes which axes Keras reads
    as time and batch; the caller checks that the input is a time-major tensor (see
    spec/tfops.py), so the spec itself is the same as for batch-major data."""
    layer = raw.name
    check_dtype(raw.config, layer)
    if raw.class_name == "RNN":
        ignored = check_keys(raw.config, LAYER_FLAGS | BASE_KEYS | {"cell", "num_constants"}, layer)
    else:
        ignored = []
    weights = weights_iter if weights_iter is not None else feed.for_layer(raw)
    cells: list[CellSpec] = []
    size = input_size
    extra = LAYER_FLAGS if raw.class_name in LAYER_TO_CELL else frozenset()
    for kind, cfg, registered in cell_configs(raw):
        if kind in CELL_PARSERS:
            cell, cell_ignored = parse_cell(kind, cfg, size, layer, model, feed, weights, extra,
                                            cudnn=raw.class_name.startswith("CuDNN"))
        else:
            cell, cell_ignored = parse_custom_cell(kind, registered, cfg, size, layer, feed, weights), []
        cells.append(cell)
        ignored.extend(cell_ignored)
        size = cell.units
    # A flat get_weights() list continues into the next layer; the feed checks its end.
    if weights_iter is None and feed.is_per_layer and next(weights, None) is not None:
        raise LayerError(layer, f"the file holds more weights than the layer's cells use{feed.origin_note}")
    config = raw.config
    spec = RecurrentLayerSpec(
        name=layer,
        class_name=raw.class_name if raw.class_name != "RNN" else "RNN",
        cells=tuple(cells),
        inputs=(source,),
        return_sequences=flag(config, "return_sequences", False, layer),
        return_state=flag(config, "return_state", False, layer),
        go_backwards=flag(config, "go_backwards", False, layer),
        stateful=flag(config, "stateful", False, layer),
        unroll=flag(config, "unroll", False, layer),
        zero_output_for_mask=(force_zero_output if force_zero_output is not None
                              else flag(config, "zero_output_for_mask", False, layer)),
        masked=masked,
        mask_source=mask_source,
        constants=constants,
        ignored=tuple(sorted(set(ignored))),
    )
    expected_constants = sum(getattr(c.converter, "num_constants", 0) for c in cells if isinstance(c, CustomCellSpec))
    if len(constants) != expected_constants:
        raise LayerError(layer, f"the layer is called with {len(constants)} constant(s) but its cells take "
                         f"{expected_constants}", "num_constants")
    if masked and any(isinstance(c, CustomCellSpec) for c in cells):
        raise UnsupportedError(layer, "masks with custom cells are not supported yet")
    if flag(config, "time_major", False, layer) and not allow_time_major:
        raise UnsupportedError(layer, "time_major=True inside a wrapper is not supported", "time_major")
    return spec


def _input(raw: RawLayer, feeds_embedding: bool = False) -> ModelInput:
    config = raw.config
    check_keys(config, INPUT_KEYS | {"input_shape"}, raw.name)
    dtype = config.get("dtype", "float32")
    if isinstance(dtype, Mapping):
        dtype = as_object(dtype.get("config"), raw.name, "dtype").get("name", "float32")
    if not isinstance(dtype, str) or dtype not in INPUT_DTYPES:
        raise UnsupportedError(raw.name, f"input dtype {dtype!r} is not supported ({', '.join(INPUT_DTYPES)})", "dtype")
    if config.get("sparse") or config.get("ragged"):
        raise UnsupportedError(raw.name, "sparse or ragged inputs are not supported")
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None and isinstance(config.get("shape"), (list, tuple)):
        shape = [config.get("batch_size"), *config["shape"]]
    if shape is None:
        return ModelInput(raw.name, None, None, -1, str(dtype))
    if not isinstance(shape, (list, tuple)) or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1) for d in shape):
        raise LayerError(raw.name, f"input shape must be a list of positive integers or nulls, got {shape!r}",
                         "batch_shape")
    check_sizes(raw.name, shape)
    if dtype == "bool" and len(shape) != 2:
        raise UnsupportedError(raw.name, f"a bool input is supported as a (batch, time) mask only, got shape "
                               f"{tuple(shape)}", "dtype")
    if len(shape) == 2:
        if feeds_embedding or dtype != "float32":
            return ModelInput(raw.name, shape[0], shape[1], None, str(dtype), "tokens")
        if shape[1] is None:
            raise LayerError(raw.name, "a (batch, features) input needs a fixed feature size")
        return ModelInput(raw.name, shape[0], None, shape[1], str(dtype), "vector")
    if len(shape) in (4, 5, 6) or (len(shape) == 3 and dtype != "float32"):
        # images, video, or token ids per step (batch, time, chars): feed-forward layers first
        dims = tuple(shape[1:])
        if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in dims):
            raise LayerError(raw.name, f"input shape {tuple(shape)} has a dimension that is not a positive integer")
        return ModelInput(raw.name, shape[0], dims[0], dims[-1], str(dtype), "tensor", dims)
    if len(shape) != 3:
        raise UnsupportedError(
            raw.name,
            f"input shape {tuple(shape)} is not (batch, timesteps[, features]) or an image/video tensor of rank 4 to 6",
        )
    batch, steps, features = shape
    return ModelInput(raw.name, batch, steps, features if features is not None else -1, str(dtype))


INPUT_DTYPES = ("float32", "int32", "int64", "bool")  # bool: a (batch, time) mask for a layer's mask=


def _masking(raw: RawLayer, source: Ref, info: TensorFacts) -> tuple[MaskingSpec, TensorFacts]:
    check_keys(raw.config, BASE_KEYS | {"mask_value", "supports_masking"}, raw.name)
    check_dtype(raw.config, raw.name)
    if info.rank != 3:
        raise UnsupportedError(raw.name, "Masking is supported on (batch, time, features) inputs only")
    value = raw.config.get("mask_value", 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise LayerError(raw.name, f"mask_value must be a number, got {value!r}", "mask_value")
    return MaskingSpec(raw.name, (source,), float(value)), TensorFacts(info.width, 3, True)


EMBEDDING_KEYS = frozenset({"input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                            "embeddings_constraint", "mask_zero", "lora_rank", "lora_alpha", "sparse",
                            "activity_regularizer", "quantization_config"})


def _embedding(
    raw: RawLayer, source: Ref, info: TensorFacts, feed: WeightFeed
) -> tuple[EmbeddingSpec, TensorFacts]:
    config = raw.config
    check_keys(config, BASE_KEYS | EMBEDDING_KEYS, raw.name)
    check_dtype(config, raw.name)
    if info.rank != 2:
        raise UnsupportedError(raw.name, "Embedding is supported on (batch, time) token inputs only")
    if config.get("lora_rank"):
        raise UnsupportedError(raw.name, "LoRA embeddings are not supported", "lora_rank")
    if config.get("quantization_config"):
        raise UnsupportedError(raw.name, "quantized embeddings are not supported", "quantization_config")
    if config.get("sparse"):
        raise UnsupportedError(raw.name, "sparse embeddings are not supported", "sparse")
    dims = {}
    for key in ("input_dim", "output_dim"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LayerError(raw.name, f"must be a positive integer, got {value!r}", key)
        dims[key] = value
    weights = feed.for_layer(raw)
    table = read_weight(feed, weights, raw.name, raw.name, "embeddings", (dims["input_dim"], dims["output_dim"]))
    if raw.weights and len(raw.weights) > 1 and feed.is_per_layer:
        raise LayerError(raw.name, "the file holds more weights than an Embedding uses")
    mask_zero = flag(config, "mask_zero", False, raw.name)
    spec = EmbeddingSpec(raw.name, (source,), dims["input_dim"], dims["output_dim"], mask_zero, table)
    return spec, TensorFacts(dims["output_dim"], 3, mask_zero)


@dataclass
class _Graph:
    """What parsing has built so far: the model inputs, what is known of every tensor, the
    specs in order."""

    model: RawModel
    feed: WeightFeed
    inputs: dict[str, ModelInput] = field(default_factory=dict)
    tensors: dict[TensorRef, TensorFacts] = field(default_factory=TensorTable)
    layers: list[AnyLayerSpec] = field(default_factory=list)
    element_masks: ElementMasks | None = None  # a Softmax's mask= tensor, as Keras hands it on


@dataclass(frozen=True)
class LayerCall:
    """One layer call as its parser receives it: the data tensors it reads (``refs``, as
    ``sources`` and with what is known of them in ``infos``), and for recurrent layers the
    tensors given as ``mask=``, ``initial_state=`` and constants."""

    raw: RawLayer
    refs: list[TensorRef]
    inputs: tuple[Ref, ...]
    infos: list[TensorFacts]
    graph: _Graph
    explicit_mask: Ref | None = None
    initial_refs: tuple[TensorRef, ...] = ()
    constant_refs: tuple[TensorRef, ...] = ()
    time_major: bool = False  # a Keras 2 recurrent layer with time_major=True (spec/tfops.py)

    @property
    def model(self) -> RawModel:
        return self.graph.model

    @property
    def feed(self) -> WeightFeed:
        return self.graph.feed


Parsed = list[tuple[AnyLayerSpec, list[TensorFacts]]]
"""What a layer parser returns: each spec it makes (in order, the one named as the layer
last) with what its parser knows of each of the spec's outputs (by output index); the batch
and time facts are completed by ``ModelSpec``."""


@dataclass(frozen=True)
class LayerParser:
    """How one Keras layer class is parsed. ``call`` says how its call's tensors are read:
    ``"data"`` (its inbound tensors), ``"recurrent"`` (the first inbound tensor, then initial
    states and constants; ``"conv_recurrent"`` the same for ConvLSTM), ``"attention"`` (query,
    value, key by name) or ``"graph"`` (the parser reads the tensors itself: TensorFlow
    function calls)."""

    parse: Callable[[LayerCall], Parsed]
    call: str = "data"


LAYER_PARSERS: Registry[str, LayerParser] = Registry("layer parser")
"""Keras class name -> its parser; a class without an entry is refused as unsupported."""


def _one(spec: AnyLayerSpec, out: TensorFacts) -> Parsed:
    return [(spec, [out])]


def _with_input_steps(parse: Callable[[RawLayer, Ref, TensorFacts], tuple[Any, TensorFacts]]
                      ) -> Callable[[LayerCall], Parsed]:
    """Masking, Embedding and the mask ops keep their input's timesteps."""
    def run(call: LayerCall) -> Parsed:
        info = call.infos[0]
        spec, out = parse(call.raw, call.inputs[0], info)
        return _one(spec, TensorFacts(out.width, out.rank, out.masked, out.boolean, info.steps))
    return run


def _parse_embedding(call: LayerCall) -> Parsed:
    info = call.infos[0]
    spec, out = _embedding(call.raw, call.inputs[0], info, call.feed)
    return _one(spec, TensorFacts(out.width, out.rank, out.masked, out.boolean, info.steps))


def _parse_mask_op(call: LayerCall) -> Parsed:
    """A Keras 3 op node of a mask computation (spec/mask_ops.py), by its op class."""
    return _one(*MASK_OP_PARSERS[call.raw.class_name](call.raw, call.inputs, call.infos))


MASK_OP_PARSER = LayerParser(_parse_mask_op)
"""How every op node is read: its inbound tensors, then the op's own parser."""


def _parser_for(raw: RawLayer) -> LayerParser:
    """Op nodes dispatch on the op's class, layers on the layer's: the module tells them apart
    (the op ``Concatenate`` is not the layer). A config without modules (written by hand)
    still reaches the mask ops by class names no layer has."""
    if raw.op_node or (raw.class_name not in LAYER_PARSERS and raw.class_name in MASK_OP_PARSERS):
        return MASK_OP_PARSER
    return LAYER_PARSERS[raw.class_name]


def _parse_tfop(call: LayerCall) -> Parsed:
    return _one(*parse_tfop(call.raw, call.graph.tensors))


def _parse_feed_forward(call: LayerCall) -> Parsed:
    return _one(*parse_feed_forward(call.raw, call.inputs, call.infos, call.model, call.feed))


def _parse_softmax(call: LayerCall) -> Parsed:
    """A Softmax, with the mask Keras gives it: its ``mask=`` argument, or the mask a
    previous ``Softmax(mask=)`` handed on (spec/element_masks.py)."""
    raw, graph, info = call.raw, call.graph, call.infos[0]
    if info.boolean or len(call.inputs) != 1:
        raise UnsupportedError(raw.name, "Softmax takes one float tensor (and its mask= keyword)")
    masks = graph.element_masks
    mask_source = call.explicit_mask or (masks.of(call.inputs[0], raw.name) if masks else None)
    mask_info = graph.tensors[TensorRef(mask_source.layer, 0, mask_source.index)] if mask_source else None
    mask_dtype = graph.inputs[mask_source.layer].dtype if mask_source and mask_source.layer in graph.inputs else None
    return _one(*parse_softmax(raw, call.inputs, call.infos, mask_source, mask_info, mask_dtype,
                               call.model.keras_major))


def _parse_dot(call: LayerCall) -> Parsed:
    return _one(*parse_dot(call.raw, call.inputs, call.infos, call.model, call.feed))


def _parse_attention(call: LayerCall) -> Parsed:
    spec, outs = parse_attention(call.raw, call.inputs, call.infos, call.model, call.feed)
    return [(spec, list(outs))]


def _parse_conv_rnn(call: LayerCall) -> Parsed:
    """Frames -> loop over the conv cell -> Keras shapes (spec/conv_rnn.py)."""
    raw, info = call.raw, call.infos[0]
    if call.constant_refs:
        raise UnsupportedError(raw.name, f"{raw.class_name} takes no constants", "constants")
    initial_infos = [call.graph.tensors[TensorRef(r.layer, 0, r.index)] for r in call.initial_refs]
    implicit = info.masked and keeps_implicit_mask(call.model.keras_major, raw.tensor_kwargs)
    return parse_conv_rnn(raw, call.inputs[0], info, call.model, call.feed,
                          tuple(Ref(r.layer, r.index) for r in call.initial_refs), initial_infos, call.explicit_mask,
                          implicit)


def _parse_recurrent(call: LayerCall) -> Parsed:
    """A recurrent layer or Bidirectional: its input checked, its mask, constants and initial
    states resolved, and what is known of each output."""
    raw, info, ref, graph = call.raw, call.infos[0], call.refs[0], call.graph
    if info.boolean:
        raise UnsupportedError(raw.name, f"its input '{ref.layer}' is a boolean mask tensor")
    if info.rank != 3:
        raise LayerError(
            raw.name,
            f"receives a {info.rank}-D tensor from '{ref.layer}'; recurrent layers need (batch, time, features)"
            + (" (set return_sequences=True on the layer before)" if ref.layer not in graph.inputs else ""),
        )
    constants = []
    for const_ref in call.constant_refs:
        if const_ref.layer not in graph.inputs:
            raise UnsupportedError(raw.name, f"constant '{const_ref.layer}' must be a model input in this version")
        constants.append(Ref(const_ref.layer))
    initial = tuple(Ref(r.layer, r.index) for r in call.initial_refs)
    implicit_mask = info.masked and keeps_implicit_mask(call.model.keras_major, raw.tensor_kwargs)
    masked = implicit_mask or call.explicit_mask is not None
    if info.width is None:
        raise LayerError(raw.name, f"its input '{ref.layer}' has no known feature width")
    source = call.inputs[0]
    layer: RecurrentLayerSpec | BidirectionalSpec
    if raw.class_name == "Bidirectional":
        if constants:
            raise UnsupportedError(raw.name, "constants with Bidirectional are not supported yet")
        layer = _bidirectional(raw, source, info.width, call.model, call.feed, masked, call.explicit_mask)
        if initial:
            layer = _bidirectional_initial_state(layer, initial, graph.tensors)
    else:
        layer = _recurrent_layer(raw, source, info.width, call.model, call.feed, masked, tuple(constants),
                                 call.explicit_mask, allow_time_major=True)
        if initial:
            layer = _with_initial_state(layer, initial, graph.tensors)
    time_major = call.time_major
    # the output's mask is the input's even where the layer ignored it (Keras 3 with initial_state=
    # computes the output mask from the first argument's)
    outs = [TensorFacts(layer.units, 3 if layer.return_sequences else 2,
                       (masked or info.masked) and layer.return_sequences, steps=info.steps,
                       time_major=time_major and layer.return_sequences)]
    for index, width in enumerate(layer.output_widths[1:], start=1):
        is_sequence = isinstance(layer, BidirectionalSpec) and layer.merge_mode is None and index == 1
        rank = 3 if (is_sequence and layer.return_sequences) else 2
        outs.append(TensorFacts(width, rank, masked and rank == 3, steps=info.steps))
    return [(layer, outs)]


RECURRENT_CLASSES = (*LAYER_TO_CELL, "RNN", "Bidirectional")  # a built-in cell's own layer is recurrent


def _parse_time_distributed(call: LayerCall) -> Parsed:
    """TimeDistributed of a recurrent layer, or of a model holding one: expanded into graph
    nodes (spec/parse_td.py), so the recurrent layer is planned and lowered like any other
    and a wrapped model's masks flow as in any model; of anything else, one feed-forward
    node (spec/wrappers.py)."""
    if not holds_recurrent(call.raw.config.get("layer"), RECURRENT_CLASSES):
        return _parse_feed_forward(call)
    graph = call.graph
    if len(call.inputs) != 1:
        raise UnsupportedError(call.raw.name, f"TimeDistributed takes one input tensor, got {len(call.inputs)}")
    source = call.inputs[0]
    masks = graph.element_masks
    carried = masks is not None and masks.carries(source)
    mask_ids = masks.ids_of(source) if masks is not None else None
    ids = source.layer in graph.inputs and graph.inputs[source.layer].dtype != "float32"
    wrapper = WrapperCall(call.raw, source, call.infos[0], call.model, call.feed, graph.tensors, carried, mask_ids,
                          ids)
    return expand_time_distributed(wrapper, lambda raw, feed: _parse_layer(raw, replace(graph, feed=feed)))


def _parse_layer(raw: RawLayer, graph: _Graph) -> Parsed:
    """One layer call of a wrapped model, parsed as a layer of the model itself."""
    if raw.op_node and raw.class_name not in MASK_OP_PARSERS:
        raise UnsupportedError(raw.name, unsupported_op_message(raw))
    if not raw.op_node and raw.class_name not in LAYER_PARSERS and raw.class_name not in MASK_OP_PARSERS:
        raise UnsupportedError(raw.name, f"unsupported layer {raw.class_name} inside TimeDistributed", "layer")
    parser = _parser_for(raw)
    return parser.parse(_read_call(raw, parser, graph))


for _name in RECURRENT_CLASSES:
    LAYER_PARSERS.add(_name, LayerParser(_parse_recurrent, "recurrent"))
LAYER_PARSERS.add("Masking", LayerParser(_with_input_steps(_masking)))
LAYER_PARSERS.add("Embedding", LayerParser(_parse_embedding))
for _name in PARSERS:
    if _name not in ("Softmax", "TimeDistributed"):  # Softmax may read a mask: _parse_softmax
        LAYER_PARSERS.add(_name, LayerParser(_parse_feed_forward))
LAYER_PARSERS.add("Softmax", LayerParser(_parse_softmax))
LAYER_PARSERS.add("TimeDistributed", LayerParser(_parse_time_distributed))
LAYER_PARSERS.add("Dot", LayerParser(_parse_dot))
for _name in TFOP_CLASSES:
    LAYER_PARSERS.add(_name, LayerParser(_parse_tfop, "graph"))
for _name in ATTENTION_PARSERS:
    LAYER_PARSERS.add(_name, LayerParser(_parse_attention, "attention"))
for _name in CONV_RNN_CLASSES:
    LAYER_PARSERS.add(_name, LayerParser(_parse_conv_rnn, "conv_recurrent"))


def parse_model(model: RawModel) -> ModelSpec:
    """Validate ``model`` and build its spec; every problem names its layer and key."""
    _check_supported(model)
    graph = _Graph(model, WeightFeed(model))
    token_inputs = {raw.inbound[0].layer for raw in model.layers if raw.class_name == "Embedding" and raw.inbound}
    element_masks = graph.element_masks = ElementMasks(_layer_sources, model.keras_major)
    for raw in model.layers:
        element_masks.follow(graph.layers)
        if raw.class_name == "InputLayer":
            spec_in = _input(raw, raw.name in token_inputs)
            graph.inputs[raw.name] = spec_in
            graph.tensors[TensorRef(raw.name)] = spec_in.facts()
            continue
        parser = _parser_for(raw)
        for spec, outs in parser.parse(_read_call(raw, parser, graph)):
            graph.layers.append(spec)
            for index, out in enumerate(outs):
                graph.tensors[TensorRef(spec.name, 0, index)] = out
    element_masks.follow(graph.layers)
    graph.feed.finish(model.source)
    tensors = graph.tensors
    check_shared_masked_inputs(graph.layers, lambda s: tensors[TensorRef(s.layer, 0, s.index)].masked,
                               _layer_sources, model.keras_major)
    # A model without any recurrent layer (Dense alone, TimeDistributed(Dense)) converts too:
    # users convert a whole model zoo with one tool.
    outputs = _outputs(model, graph.layers, graph.inputs, tensors)
    input_specs = tuple(graph.inputs[r.layer] for r in model.inputs if r.layer in graph.inputs)
    used = {source.layer for layer in graph.layers for source in _layer_sources(layer)}
    for spec_in in input_specs:
        if spec_in.name not in used:
            raise UnsupportedError(spec_in.name, "a model input that feeds no layer is not supported yet")
        if spec_in.features == -1:
            raise LayerError(spec_in.name, "cannot tell the input's feature size")
    counts: dict[str, int] = {}
    for ref in tensors:
        counts[ref.layer] = counts.get(ref.layer, 0) + 1
    layers = tuple(replace(layer, out=tuple(tensors[TensorRef(layer.name, 0, index)]
                                            for index in range(counts[layer.name])))
                   for layer in graph.layers)
    return ModelSpec(
        name=model.name,
        source=str(model.source),
        format=model.format,
        keras_version=model.keras_version,
        keras_major=model.keras_major,
        inputs=input_specs,
        layers=layers,
        outputs=outputs,
    )


def _check_supported(model: RawModel) -> None:
    """Every unsupported layer named at once, with what is supported; else the first op node
    that is no mask op, with why."""
    unsupported = [raw for raw in model.layers if not raw.op_node and raw.class_name != "InputLayer"
                   and raw.class_name not in LAYER_PARSERS and raw.class_name not in MASK_OP_PARSERS]
    if unsupported:
        shown = ", ".join(f"'{raw.name}' ({raw.class_name})" for raw in unsupported)
        raise UnsupportedError(
            unsupported[0].name,
            f"unsupported layer(s): {shown}; supported: recurrent layers (SimpleRNN, GRU, LSTM, "
            "RNN, Bidirectional), InputLayer, Masking, Embedding and "
            + ", ".join(sorted({*PARSERS, "Dot", *ATTENTION_PARSERS})),
        )
    for raw in model.layers:
        if raw.op_node and raw.class_name not in MASK_OP_PARSERS:
            raise UnsupportedError(raw.name, unsupported_op_message(raw))


def _read_call(raw: RawLayer, parser: LayerParser, graph: _Graph) -> LayerCall:
    """The tensors a layer call reads, each checked to exist; call arguments the parser
    does not take are refused."""
    if parser.call == "graph":  # a TensorFlow function call recorded by tf-keras: its parser reads them
        return LayerCall(raw, [], (), [], graph)
    recurrent = parser.call == "recurrent"
    takes_states = recurrent or parser.call == "conv_recurrent"  # ConvLSTM: initial states and a mask too
    tensors, inputs = graph.tensors, graph.inputs
    kwargs = dict(raw.tensor_kwargs)
    explicit_mask = _pop_mask(raw, kwargs, tensors, takes_states)
    initial_refs = list(kwargs.pop("initial_state", ())) if takes_states else []
    attention = parser.call == "attention"
    if attention:  # its tensors are read by call_tensors (an explicit *_mask= is refused there)
        kwargs = {k: v for k, v in kwargs.items() if k not in TENSOR_KWARGS}
    if kwargs:
        keys = sorted(kwargs)
        raise UnsupportedError(raw.name, f"tensor call arguments ({', '.join(keys)}) are not supported yet", keys[0])
    refs = call_tensors(raw) if attention else list(raw.inbound)
    if not refs:
        raise LayerError(raw.name, "the layer has no input")
    constant_refs: list[TensorRef] = []
    if takes_states:
        num_constants = integer(raw.config, "num_constants", 0, raw.name, minimum=0)
        rest = refs[1:]
        split = len(rest) - num_constants
        if split < 0:
            raise LayerError(
                raw.name, f"num_constants is {num_constants} but the layer gets {len(rest)} extra input(s)")
        initial_refs += rest[:split]  # Keras 2 lists initial states as extra inbound tensors
        constant_refs = rest[split:]
        refs = refs[:1]
    for r in refs + initial_refs + constant_refs:
        if TensorRef(r.layer, 0, r.index) not in tensors:
            raise LayerError(raw.name, f"its input '{r.layer}' (output {r.index}) is not produced by any layer")
    infos = [tensors[TensorRef(r.layer, 0, r.index)] for r in refs]
    ref, info = refs[0], infos[0]
    time_major = recurrent and raw.class_name != "Bidirectional" and flag(raw.config, "time_major", False, raw.name)
    if time_major != info.time_major or any(i.time_major for i in infos[1:]):
        raise UnsupportedError(raw.name, _time_major_message(raw, ref, time_major), "time_major" if time_major
                               else None)
    if ref.layer in inputs and info.width == -1 and recurrent:
        width = _infer_input_size(raw, graph.feed, graph.model)
        old = inputs[ref.layer]
        inputs[ref.layer] = ModelInput(old.name, old.batch, old.timesteps, width, old.dtype, old.kind)
        infos[0] = replace(infos[0], width=width)
    return LayerCall(raw, refs, tuple(Ref(r.layer, r.index) for r in refs), infos, graph, explicit_mask,
                     tuple(initial_refs), tuple(constant_refs), time_major)


def _time_major_message(raw: RawLayer, ref: TensorRef, time_major: bool) -> str:
    if time_major:
        return (f"time_major=True reads '{ref.layer}' as (time, batch, features), but it is (batch, time, "
                "features): transpose it first (tf.transpose(x, [1, 0, 2])), as Keras would otherwise run over "
                "the batch axis")
    return (f"'{ref.layer}' is a time-major (time, batch, features) tensor: only a time_major=True recurrent "
            "layer or tf.transpose(x, [1, 0, 2]) may read it")


def _infer_input_size(raw: RawLayer, feed: WeightFeed, model: RawModel) -> int:
    """Input width from the first kernel when the config gives no input shape."""
    kernel = feed.peek(raw)
    if kernel is not None and kernel.ndim == 2:
        return int(kernel.shape[0])
    raise LayerError(raw.name, "cannot tell the input size: no input shape in the config and no kernel weight")


def _layer_sources(layer: AnyLayerSpec) -> tuple[Ref, ...]:
    """Every tensor a layer reads (data, constants, initial states, an explicit mask)."""
    extra: tuple[Ref, ...] = ()
    if isinstance(layer, RecurrentLayerSpec):
        extra = layer.constants + layer.initial_state + ((layer.mask_source,) if layer.mask_source else ())
    elif isinstance(layer, BidirectionalSpec):
        extra = layer.forward.initial_state + layer.backward.initial_state + (
            (layer.mask_source,) if layer.mask_source else ())
    return layer.inputs + extra


def _pop_mask(raw: RawLayer, kwargs: dict, tensors: dict[TensorRef, TensorFacts],
              recurrent: bool) -> Ref | None:
    """An explicit ``mask=`` argument (Keras 3 records the implicit mask this way)."""
    if "mask" not in kwargs:
        return None
    refs = kwargs.pop("mask")
    if raw.class_name == "Softmax":  # any tensor broadcastable to the input (checked by parse_softmax)
        if len(refs) != 1 or TensorRef(refs[0].layer, 0, refs[0].index) not in tensors:
            raise LayerError(raw.name, "its mask= argument is not one tensor produced by a layer", "mask")
        return Ref(refs[0].layer, refs[0].index)
    if not recurrent:
        return None  # Keras recorded the mask it propagates implicitly; the same mask is derived here
    distinct = tuple(dict.fromkeys(refs))  # Keras 2 repeats a call's kwargs on every inbound tensor
    if len(distinct) != 1:
        raise UnsupportedError(raw.name, f"its mask= argument must be one (batch, time) boolean mask, got "
                               f"{len(distinct)} tensors", "mask")
    (mask_ref,) = distinct
    mask_info = tensors.get(TensorRef(mask_ref.layer, 0, mask_ref.index))
    if mask_info is None or not mask_info.boolean or mask_info.rank != 2:
        raise UnsupportedError(raw.name, "its mask= argument must be a (batch, time) boolean mask", "mask")
    return Ref(mask_ref.layer, mask_ref.index)


def _with_initial_state(layer: RecurrentLayerSpec, initial: tuple[Ref, ...],
                        tensors: dict[TensorRef, TensorFacts]) -> RecurrentLayerSpec:
    widths = layer.state_widths
    if len(initial) != len(widths):
        raise LayerError(
            layer.name, f"initial_state has {len(initial)} tensor(s), the layer has {len(widths)} state(s)",
            "initial_state")
    for ref, width in zip(initial, widths, strict=True):
        info = tensors[TensorRef(ref.layer, 0, ref.index)]
        if info.rank != 2 or info.width != width:
            raise LayerError(layer.name, f"initial state from '{ref.layer}' has width {info.width}, expected {width}",
                             "initial_state")
    return replace(layer, initial_state=initial)


def _output_suffixes(layer: AnyLayerSpec) -> tuple[str, ...]:
    """Each output's name suffix (``""`` for the first): only recurrent layers have several."""
    if isinstance(layer, (RecurrentLayerSpec, BidirectionalSpec, ConvUnflattenSpec, *ATTENTION_SPECS)):
        return layer.output_names
    return ("",)


def _bidirectional_initial_state(layer: BidirectionalSpec, initial: tuple[Ref, ...],
                                 tensors: dict[TensorRef, TensorFacts]) -> BidirectionalSpec:
    """Keras hands the first half of ``initial_state`` to the forward layer and the second
    half to the backward layer (Bidirectional.call in Keras 3 and tf-keras alike; tf-keras
    refuses an odd count, Keras 3 would give the halves counts they cannot take)."""
    forward, backward = len(layer.forward.state_widths), len(layer.backward.state_widths)
    if len(initial) != forward + backward:
        raise LayerError(layer.name, f"initial_state has {len(initial)} tensor(s), Bidirectional takes "
                         f"{forward + backward}: the forward layer's {forward} state(s), then the backward "
                         f"layer's {backward}", "initial_state")
    return replace(layer, forward=_with_initial_state(layer.forward, initial[:forward], tensors),
                   backward=_with_initial_state(layer.backward, initial[forward:], tensors))


def _outputs(model: RawModel, layers: list[AnyLayerSpec], inputs: dict[str, ModelInput],
             tensors: dict[TensorRef, TensorFacts]) -> tuple[OutputSpec, ...]:
    by_name = {layer.name: layer for layer in layers}
    refs: list[TensorRef] = list(model.outputs)
    if not refs:  # a bare layer config: every output of its (only) layer
        last = layers[-1]
        refs = [TensorRef(last.name, 0, i) for i in range(len(_output_suffixes(last)))]
    outputs = []
    seen: set[str] = set()
    for ref in refs:
        if ref.layer in inputs:
            raise UnsupportedError(ref.layer, "a model input used directly as an output is not supported")
        if ref.layer not in by_name:
            raise ModelFileError(model.source, f"model output refers to unknown layer '{ref.layer}'")
        layer = by_name[ref.layer]
        info = tensors.get(TensorRef(ref.layer, 0, ref.index))
        if info is None or info.boolean:
            raise LayerError(layer.name, f"model output index {ref.index} is not an output of this layer")
        if info.time_major:
            raise UnsupportedError(layer.name, "a time-major (time, batch, features) model output is not supported: "
                                   "transpose it back with tf.transpose(x, [1, 0, 2])")
        name = layer.name if ref.index == 0 else f"{layer.name}/{_output_suffixes(layer)[ref.index]}"
        base, n = name, 0
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        outputs.append(OutputSpec(name, Ref(layer.name, ref.index)))
    return tuple(outputs)

