"""RawModel -> ModelSpec: read every argument of the Keras recurrent API and check it.

Each Keras argument is either used (it changes the numbers), accepted as training-only
(it cannot change inference), or refused with a message naming layer and key. Unknown
keys are refused too: Keras itself would reject them, and silently ignoring one could
hide a semantic change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ..custom import find_cell
from ..errors import LayerError, ModelFileError, UnsupportedError
from ..io.handles import WeightHandle
from ..io.raw import RawLayer, RawModel, TensorRef
from ..io.versions import keras_major
from .activation_layers import parse_softmax
from .attention import (
    ATTENTION_PARSERS,
    ATTENTION_SPECS,
    TENSOR_KWARGS,
    call_tensors,
    check_shared_masked_inputs,
    parse_attention,
)
from .checks import (
    BASE_KEYS,
    TRAINING_ONLY,
    TensorInfo,
    TensorTable,
    WeightFeed,
    as_object,
    check_declared,
    check_dtype,
    check_keys,
    check_sizes,
    check_weight,
    flag,
    integer,
    read_activation,
    read_weight,
)
from .conv_rnn import CONV_RNN_CLASSES, ConvUnflattenSpec, parse_conv_rnn
from .dot import parse_dot
from .element_masks import ElementMasks
from .layers import AnyLayerSpec, layer_inputs
from .parse_layers import PARSERS, parse_feed_forward
from .tfops import TFOP_CLASSES, parse_tfop
from .types import (
    BidirectionalSpec,
    CellSpec,
    CustomCellSpec,
    EmbeddingSpec,
    GRUCellSpec,
    InputSpec,
    LSTMCellSpec,
    MaskingSpec,
    MaskOpSpec,
    ModelSpec,
    OutputSpec,
    RecurrentLayerSpec,
    SimpleRNNCellSpec,
    TensorSpec,
)

CELL_KEYS = {
    "SimpleRNNCell": frozenset({"units", "activation", "use_bias"}),
    "GRUCell": frozenset({"units", "activation", "recurrent_activation", "use_bias", "reset_after"}),
    "LSTMCell": frozenset({"units", "activation", "recurrent_activation", "use_bias"}),
}
LAYER_FLAGS = frozenset(
    {"return_sequences", "return_state", "go_backwards", "stateful", "unroll", "time_major", "zero_output_for_mask"}
)
LAYER_TO_CELL = {"SimpleRNN": "SimpleRNNCell", "GRU": "GRUCell", "LSTM": "LSTMCell",
                 "CuDNNLSTM": "LSTMCell", "CuDNNGRU": "GRUCell"}
# Keras 2's CuDNN layers: fixed sigmoid/tanh, GRU in reset_after form, separate input and
# recurrent biases (8u for LSTM, 6u for GRU) which the cells' own bias layout absorbs.
CUDNN_FIXED = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True, "reset_after": True}
INPUT_KEYS = frozenset({"name", "batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "input_tensor",
                        "optional", "batch_size", "shape"})


def _defaults(cell_kind: str, version: str | None, major: int | None) -> dict[str, Any]:
    """Constructor defaults of the writing Keras version, used for keys a config omits.

    Keras <= 2.2 defaulted ``recurrent_activation`` to hard_sigmoid and GRU ``reset_after``
    to False; Keras 2.3+, tf.keras 2.x and Keras 3 use sigmoid and True.
    """
    old = _is_pre_23(version)
    defaults: dict[str, Any] = {"activation": "tanh", "use_bias": True}
    if cell_kind in ("GRUCell", "LSTMCell"):
        defaults["recurrent_activation"] = "hard_sigmoid" if old else ("sigmoid" if major is not None else None)
    if cell_kind == "GRUCell":
        defaults["reset_after"] = False if old else (True if major is not None else None)
    return defaults


def _is_pre_23(version: str | None) -> bool:
    if version is None or keras_major(version) != 2:
        return False
    parts = version.split(".")
    try:
        return int(parts[1]) < 3
    except (IndexError, ValueError):
        return False


def _cell(
    kind: str,
    config: Mapping[str, Any],
    input_size: int,
    layer: str,
    model: RawModel,
    feed: WeightFeed,
    weights: Iterator[WeightHandle],
    extra_keys: frozenset[str],
    cudnn: bool = False,
) -> tuple[CellSpec, list[str]]:
    ignored = check_keys(config, CELL_KEYS[kind] | TRAINING_ONLY | BASE_KEYS | extra_keys, layer)
    if cudnn:
        config = {**config, **{k: v for k, v in CUDNN_FIXED.items() if k in CELL_KEYS[kind]}}
    check_dtype(config, layer)
    name = str(config.get("name", kind.lower()))
    units = config.get("units")
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise LayerError(layer, f"units must be a positive integer, got {units!r}", "units")
    for key in ("dropout", "recurrent_dropout"):
        rate = config.get(key, 0.0)
        if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise LayerError(layer, f"must be a rate in [0, 1], got {rate!r}", key)
    defaults = _defaults(kind, model.keras_version, model.keras_major)
    for key, value in defaults.items():
        if key not in config and value is None:
            raise LayerError(
                layer,
                f"'{key}' is absent and its default differs between Keras versions: pass --keras-version 2 or 3",
                key,
            )
    activation = read_activation(config, "activation", defaults["activation"], model.keras_major, layer)
    use_bias = flag(config, "use_bias", True, layer)
    gates = {"SimpleRNNCell": 1, "GRUCell": 3, "LSTMCell": 4}[kind]
    kernel = read_weight(feed, weights, layer, name, "kernel", (input_size, gates * units))
    recurrent = read_weight(feed, weights, layer, name, "recurrent_kernel", (units, gates * units))
    if cudnn:
        kernel, recurrent = _from_cudnn_layout(kernel, recurrent, gates)
    if kind == "SimpleRNNCell":
        bias = read_weight(feed, weights, layer, name, "bias", (units,)) if use_bias else None
        return SimpleRNNCellSpec(name, units, input_size, activation, use_bias, kernel, recurrent, bias), ignored
    recurrent_activation = read_activation(
        config, "recurrent_activation", defaults["recurrent_activation"], model.keras_major, layer
    )
    if kind == "GRUCell":
        reset_after = flag(config, "reset_after", bool(defaults["reset_after"]), layer)
        bias_shape = (2, 3 * units) if reset_after else (3 * units,)
        if cudnn:  # [input bias, recurrent bias] stored flat
            bias = read_weight(feed, weights, layer, name, "bias", (6 * units,)).reshape(2, 3 * units)
        elif use_bias:
            taken = feed.take(weights, layer, f"bias of cell '{name}'")
            if reset_after and feed.converts_cudnn_layout and taken.shape == (6 * units,):
                # CuDNNGRU weights in a GRU(reset_after=True): Keras 2's loader converts them
                kernel, recurrent = _from_cudnn_layout(kernel, recurrent, gates)
                bias = check_weight(feed, taken, layer, name, "bias", (6 * units,)).reshape(2, 3 * units)
            else:
                bias = check_weight(feed, taken, layer, name, "bias", bias_shape)
        else:
            bias = None
        gru = GRUCellSpec(name, units, input_size, activation, recurrent_activation, use_bias, reset_after,
                          kernel, recurrent, bias)
        return gru, ignored
    if cudnn:  # input bias + recurrent bias: both are added to the same pre-activation
        pair = read_weight(feed, weights, layer, name, "bias", (8 * units,))
        bias = np.ascontiguousarray(pair[: 4 * units] + pair[4 * units :])
        bias.setflags(write=False)
    elif use_bias:
        taken = feed.take(weights, layer, f"bias of cell '{name}'")
        if feed.converts_cudnn_layout and taken.shape == (8 * units,):
            # CuDNNLSTM weights in an LSTM (a model trained on a GPU, run on a CPU): Keras 2's
            # loader undoes the cuDNN kernel layout and sums the input and recurrent biases
            kernel, recurrent = _from_cudnn_layout(kernel, recurrent, gates)
            pair = check_weight(feed, taken, layer, name, "bias", (8 * units,))
            bias = np.ascontiguousarray(pair[: 4 * units] + pair[4 * units :])
            bias.setflags(write=False)
        else:
            bias = check_weight(feed, taken, layer, name, "bias", (4 * units,))
    else:
        bias = None
    spec = LSTMCellSpec(name, units, input_size, activation, recurrent_activation, use_bias, kernel, recurrent, bias)
    return spec, ignored


def _from_cudnn_layout(kernel: np.ndarray, recurrent: np.ndarray, gates: int) -> tuple[np.ndarray, np.ndarray]:
    """Keras 2 CuDNN layers store each gate's input kernel in Fortran order of its transpose
    and each recurrent kernel transposed; undo both, gate by gate (as Keras's own loader does)."""
    kernels = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, gates)])
    recurrents = np.hstack([k.T for k in np.hsplit(recurrent, gates)])
    results = []
    for array in (kernels, recurrents):
        array = np.ascontiguousarray(array, dtype=np.float32)
        array.setflags(write=False)
        results.append(array)
    return results[0], results[1]


def _cell_configs(raw: RawLayer) -> list[tuple[str, Mapping[str, Any], str | None]]:
    """``(cell_class, cell_config, registered_name)`` for each cell of a layer, in stacking order."""
    if raw.class_name in LAYER_TO_CELL:
        return [(LAYER_TO_CELL[raw.class_name], raw.config, None)]
    cell = raw.config.get("cell")
    if not isinstance(cell, Mapping):
        raise LayerError(raw.name, "RNN layer has no cell config", "cell")
    entries = (as_object(cell.get("config"), raw.name, "cell").get("cells")
               if cell.get("class_name") == "StackedRNNCells" else [cell])
    if entries is not None and not isinstance(entries, list):
        raise LayerError(raw.name, "the stacked cells must be a list", "cell")
    result = []
    for entry in entries or []:
        cls = entry.get("class_name") if isinstance(entry, Mapping) else None
        registered = entry.get("registered_name") if isinstance(entry, Mapping) else None
        if cls not in CELL_KEYS and find_cell(str(cls), registered) is None:
            shown = registered or cls
            raise UnsupportedError(
                raw.name,
                f"cell class {shown!r} has no registered converter: nothing named in a model file is imported; "
                f"register one with kerasrnn2onnx.register_cell(CustomCell(keras_name={shown!r}, ...)) "
                "(docs/custom-cells.md)",
                "cell",
            )
        result.append((str(cls), as_object(entry.get("config"), raw.name, "cell"), registered))
    if not result:
        raise LayerError(raw.name, "RNN layer has an empty cell list", "cell")
    return result


BIDIRECTIONAL_KEYS = frozenset({"layer", "backward_layer", "merge_mode"})
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _bidirectional(raw: RawLayer, source: TensorSpec, input_size: int, model: RawModel, feed: WeightFeed,
                   masked: bool, mask_source: TensorSpec | None) -> BidirectionalSpec:
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
    if model.flat_weights is None and next(weights, None) is not None:
        raise LayerError(raw.name, f"the file holds more weights than the two halves use{feed.origin_note}")
    for key in ("return_sequences", "return_state"):
        if getattr(forward, key) != getattr(backward, key):
            raise LayerError(raw.name, f"forward and backward layers disagree on {key}")
    if merge_mode in ("sum", "mul", "ave") and forward.units != backward.units:
        raise LayerError(raw.name, f"merge_mode {merge_mode!r} needs equal units, got {forward.units} and "
                         f"{backward.units}", "merge_mode")
    return BidirectionalSpec(raw.name, source, forward, backward, merge_mode)


def _custom_cell(class_name: str, registered: str | None, config: Mapping[str, Any], input_size: int, layer: str,
                 feed: WeightFeed, weights: Iterator[WeightHandle]) -> CustomCellSpec:
    """A user's cell, through its registered converter (never by importing anything)."""
    converter = find_cell(class_name, registered)
    assert converter is not None  # _cell_configs checked
    name = str(config.get("name", class_name))
    arrays = {}
    for weight_name in converter.weights:  # a registered cell declares names, not shapes: dtype checked first
        handle = feed.take(weights, layer, f"{weight_name} of cell '{name}'")
        check_declared(feed, handle, layer, f"weight '{weight_name}' of cell '{name}'", None)
        frozen = np.ascontiguousarray(handle.read(), dtype=np.float32)
        frozen.setflags(write=False)
        arrays[weight_name] = frozen
    try:
        state_sizes = tuple(int(v) for v in converter.state_sizes(dict(config)))
        units = int(converter.output_size(dict(config))) if converter.output_size else state_sizes[0]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise LayerError(layer, f"converter for '{converter.keras_name}' cannot read the cell config ({exc})") from None
    return CustomCellSpec(name, registered or class_name, converter, dict(config), input_size, units, state_sizes,
                          arrays)


def _recurrent_layer(
    raw: RawLayer, source: TensorSpec, input_size: int, model: RawModel, feed: WeightFeed, masked: bool,
    constants: tuple[TensorSpec, ...] = (), mask_source: TensorSpec | None = None,
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
    for kind, cfg, registered in _cell_configs(raw):
        if kind in CELL_KEYS:
            cell, cell_ignored = _cell(kind, cfg, size, layer, model, feed, weights, extra,
                                       cudnn=raw.class_name.startswith("CuDNN"))
        else:
            cell, cell_ignored = _custom_cell(kind, registered, cfg, size, layer, feed, weights), []
        cells.append(cell)
        ignored.extend(cell_ignored)
        size = cell.units
    # A flat get_weights() list continues into the next layer; the feed checks its end.
    if weights_iter is None and model.flat_weights is None and next(weights, None) is not None:
        raise LayerError(layer, f"the file holds more weights than the layer's cells use{feed.origin_note}")
    config = raw.config
    spec = RecurrentLayerSpec(
        name=layer,
        class_name=raw.class_name if raw.class_name != "RNN" else "RNN",
        cells=tuple(cells),
        source=source,
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


def _input(raw: RawLayer, feeds_embedding: bool = False) -> InputSpec:
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
        return InputSpec(raw.name, None, None, -1, str(dtype))
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
            return InputSpec(raw.name, shape[0], shape[1], None, str(dtype), "tokens")
        if shape[1] is None:
            raise LayerError(raw.name, "a (batch, features) input needs a fixed feature size")
        return InputSpec(raw.name, shape[0], None, shape[1], str(dtype), "vector")
    if len(shape) in (4, 5, 6) or (len(shape) == 3 and dtype != "float32"):
        # images, video, or token ids per step (batch, time, chars): feed-forward layers first
        dims = tuple(shape[1:])
        if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in dims):
            raise LayerError(raw.name, f"input shape {tuple(shape)} has a dimension that is not a positive integer")
        return InputSpec(raw.name, shape[0], dims[0], dims[-1], str(dtype), "tensor", dims)
    if len(shape) != 3:
        raise UnsupportedError(
            raw.name,
            f"input shape {tuple(shape)} is not (batch, timesteps[, features]) or an image/video tensor of rank 4 to 6",
        )
    batch, steps, features = shape
    return InputSpec(raw.name, batch, steps, features if features is not None else -1, str(dtype))


INPUT_DTYPES = ("float32", "int32", "int64", "bool")  # bool: a (batch, time) mask for a layer's mask=


def _masking(raw: RawLayer, source: TensorSpec, info: TensorInfo) -> tuple[MaskingSpec, TensorInfo]:
    check_keys(raw.config, BASE_KEYS | {"mask_value", "supports_masking"}, raw.name)
    check_dtype(raw.config, raw.name)
    if info.rank != 3:
        raise UnsupportedError(raw.name, "Masking is supported on (batch, time, features) inputs only")
    value = raw.config.get("mask_value", 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise LayerError(raw.name, f"mask_value must be a number, got {value!r}", "mask_value")
    return MaskingSpec(raw.name, source, float(value)), TensorInfo(info.width, 3, True)


EMBEDDING_KEYS = frozenset({"input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                            "embeddings_constraint", "mask_zero", "lora_rank", "lora_alpha", "sparse",
                            "activity_regularizer", "quantization_config"})


def _embedding(
    raw: RawLayer, source: TensorSpec, info: TensorInfo, feed: WeightFeed
) -> tuple[EmbeddingSpec, TensorInfo]:
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
    spec = EmbeddingSpec(raw.name, source, dims["input_dim"], dims["output_dim"], mask_zero, table)
    return spec, TensorInfo(dims["output_dim"], 3, mask_zero)


RECURRENT_CLASSES = frozenset({"SimpleRNN", "GRU", "LSTM", "RNN", "Bidirectional", "CuDNNLSTM", "CuDNNGRU"})
MASK_OPS = {"NotEqual": "not_equal", "Equal": "equal", "Any": "any", "All": "all", "LogicalNot": "logical_not",
            "ConvertToTensor": "identity"}
FEED_FORWARD_CLASSES = frozenset(PARSERS)
# layers whose parser takes several inputs and sets its own output shape
GRAPH_PARSERS = {"Dot": parse_dot}
SUPPORTED_CLASSES = (RECURRENT_CLASSES | {"InputLayer", "Masking", "Embedding"} | set(MASK_OPS) | FEED_FORWARD_CLASSES
                     | set(GRAPH_PARSERS) | set(TFOP_CLASSES)
                     | set(ATTENTION_PARSERS) | set(CONV_RNN_CLASSES))


def _mask_op(raw: RawLayer, source: TensorSpec, info: TensorInfo) -> tuple[MaskOpSpec, TensorInfo]:
    """Keras 3 op layers that compute a mask; anything beyond the mask idioms is refused."""
    op = MASK_OPS[raw.class_name]
    if op in ("not_equal", "equal"):
        scalars = [a for a in raw.call_args[1:] if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if len(raw.inbound) != 1 or len(scalars) != 1:
            raise UnsupportedError(raw.name, f"{raw.class_name} is supported against one number only (a mask idiom)")
        return MaskOpSpec(raw.name, op, source, float(scalars[0])), TensorInfo(info.width, info.rank, False, True)
    if op == "identity":
        # Keras 3's Attention.compute_mask returns ops.convert_to_tensor(query mask): recorded as a
        # node when a recurrent layer reads that mask; on a boolean tensor with no dtype it is the identity
        extra = [k for k in ("dtype", "sparse", "ragged") if raw.config.get(k)]
        if not info.boolean or extra or len(raw.inbound) != 1:
            raise UnsupportedError(raw.name, "ConvertToTensor is supported on a boolean mask tensor without dtype, "
                                   "sparse or ragged only (a mask idiom)", extra[0] if extra else None)
        return MaskOpSpec(raw.name, op, source), TensorInfo(info.width, info.rank, False, True)
    if op in ("any", "all"):
        axis, keepdims = raw.config.get("axis"), raw.config.get("keepdims", False)
        if axis not in (-1, info.rank - 1) or keepdims or info.rank != 3:
            raise UnsupportedError(raw.name, f"{raw.class_name} is supported over the last axis of a rank-3 tensor "
                                   "without keepdims only (a mask idiom)")
        return MaskOpSpec(raw.name, op, source), TensorInfo(None, 2, False, True)
    return MaskOpSpec(raw.name, op, source), TensorInfo(info.width, info.rank, False, True)


def parse_model(model: RawModel) -> ModelSpec:
    """Validate ``model`` and build its spec; every problem names its layer and key."""
    feed = WeightFeed(model)
    unsupported = [
        f"'{raw.name}' ({raw.class_name})" for raw in model.layers if raw.class_name not in SUPPORTED_CLASSES
    ]
    if unsupported:
        first = next(raw.name for raw in model.layers if raw.class_name not in SUPPORTED_CLASSES)
        raise UnsupportedError(
            first,
            f"unsupported layer(s): {', '.join(unsupported)}; supported: recurrent layers (SimpleRNN, GRU, LSTM, "
            "RNN, Bidirectional), InputLayer, Masking, Embedding and "
            + ", ".join(sorted({*PARSERS, *GRAPH_PARSERS, *ATTENTION_PARSERS})),
        )
    inputs: dict[str, InputSpec] = {}
    tensors: dict[TensorRef, TensorInfo] = TensorTable()
    layers: list[AnyLayerSpec] = []
    token_inputs = {raw.inbound[0].layer for raw in model.layers if raw.class_name == "Embedding" and raw.inbound}
    element_masks = ElementMasks(_layer_sources, model.keras_major)  # a Softmax's mask= tensor, as Keras hands it on
    for raw in model.layers:
        element_masks.follow(layers)
        if raw.class_name == "InputLayer":
            spec_in = _input(raw, raw.name in token_inputs)
            inputs[raw.name] = spec_in
            tensors[TensorRef(raw.name)] = TensorInfo(spec_in.features, spec_in.rank, False,
                                                      boolean=spec_in.dtype == "bool", steps=spec_in.timesteps,
                                                      shape=spec_in.dims or None)
            continue
        if raw.class_name in TFOP_CLASSES:  # a TensorFlow function call recorded by tf-keras
            spec_op, out = parse_tfop(raw, tensors)
            layers.append(spec_op)
            tensors[TensorRef(raw.name)] = out
            continue
        recurrent = raw.class_name in RECURRENT_CLASSES
        conv_rnn = raw.class_name in CONV_RNN_CLASSES  # recurrent too, parsed in spec/conv_rnn.py
        kwargs = dict(raw.tensor_kwargs)
        explicit_mask = _pop_mask(raw, kwargs, tensors)
        initial_refs = list(kwargs.pop("initial_state", ())) if recurrent or conv_rnn else []
        attention = raw.class_name in ATTENTION_PARSERS
        if attention:  # its tensors are read by call_tensors (an explicit *_mask= is refused there)
            kwargs = {k: v for k, v in kwargs.items() if k not in TENSOR_KWARGS}
        if kwargs:
            keys = sorted(kwargs)
            raise UnsupportedError(
                raw.name, f"tensor call arguments ({', '.join(keys)}) are not supported yet", keys[0])
        refs = call_tensors(raw) if attention else list(raw.inbound)
        if not refs:
            raise LayerError(raw.name, "the layer has no input")
        constant_refs: list[TensorRef] = []
        if recurrent or conv_rnn:
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
        sources = tuple(TensorSpec(r.layer, r.index) for r in refs)
        ref, info, source = refs[0], infos[0], sources[0]
        time_major = recurrent and raw.class_name != "Bidirectional" and flag(raw.config, "time_major", False,
                                                                                  raw.name)
        if time_major != info.time_major or any(i.time_major for i in infos[1:]):
            raise UnsupportedError(raw.name, _time_major_message(raw, ref, time_major), "time_major" if time_major
                                   else None)
        if ref.layer in inputs and info.width == -1 and recurrent:
            width = _infer_input_size(raw, feed, model)
            old = inputs[ref.layer]
            inputs[ref.layer] = InputSpec(old.name, old.batch, old.timesteps, width, old.dtype, old.kind)
            info = TensorInfo(width, 3, False, steps=old.timesteps)
        if conv_rnn:  # frames -> loop over the conv cell -> Keras shapes
            if constant_refs:
                raise UnsupportedError(raw.name, f"{raw.class_name} takes no constants", "constants")
            initial_infos = [tensors[TensorRef(r.layer, 0, r.index)] for r in initial_refs]
            parts, outs = parse_conv_rnn(
                raw, source, info, model, feed, tuple(TensorSpec(r.layer, r.index) for r in initial_refs),
                initial_infos, explicit_mask, _implicit_mask(model, raw, info))
            layers.extend(parts)
            for index, out in enumerate(outs):
                tensors[TensorRef(raw.name, 0, index)] = out
            continue
        if attention:
            spec, outs = parse_attention(raw, sources, infos, model, feed)
            layers.append(spec)
            for index, out in enumerate(outs):
                tensors[TensorRef(raw.name, 0, index)] = out
            continue
        if raw.class_name == "Softmax":
            if info.boolean or len(sources) != 1:
                raise UnsupportedError(raw.name, "Softmax takes one float tensor (and its mask= keyword)")
            mask_source = explicit_mask or element_masks.of(source, raw.name)
            mask_info = tensors[TensorRef(mask_source.layer, 0, mask_source.index)] if mask_source else None
            mask_dtype = inputs[mask_source.layer].dtype if mask_source and mask_source.layer in inputs else None
            spec, out = parse_softmax(raw, sources, infos, mask_source, mask_info, mask_dtype, model.keras_major)
            layers.append(spec)
            tensors[TensorRef(raw.name)] = out
            continue
        if raw.class_name in GRAPH_PARSERS:
            graph_spec, out = GRAPH_PARSERS[raw.class_name](raw, sources, infos, model, feed)
            layers.append(graph_spec)
            tensors[TensorRef(raw.name)] = out
            continue
        if raw.class_name in FEED_FORWARD_CLASSES:
            spec, out = parse_feed_forward(raw, sources, infos, model, feed)
            layers.append(spec)
            tensors[TensorRef(raw.name)] = out
            continue
        if raw.class_name in ("Masking", "Embedding") or raw.class_name in MASK_OPS:
            if raw.class_name == "Masking":
                spec, out = _masking(raw, source, info)
            elif raw.class_name == "Embedding":
                spec, out = _embedding(raw, source, info, feed)
            else:
                spec, out = _mask_op(raw, source, info)
            layers.append(spec)
            tensors[TensorRef(raw.name)] = TensorInfo(out.width, out.rank, out.masked, out.boolean, info.steps)
            continue
        if info.boolean:
            raise UnsupportedError(raw.name, f"its input '{ref.layer}' is a boolean mask tensor")
        if info.rank != 3:
            raise LayerError(
                raw.name,
                f"receives a {info.rank}-D tensor from '{ref.layer}'; recurrent layers need (batch, time, features)"
                + (" (set return_sequences=True on the layer before)" if ref.layer not in inputs else ""),
            )
        constants = []
        for const_ref in constant_refs:
            if const_ref.layer not in inputs:
                raise UnsupportedError(raw.name, f"constant '{const_ref.layer}' must be a model input in this version")
            constants.append(TensorSpec(const_ref.layer))
        initial = tuple(TensorSpec(r.layer, r.index) for r in initial_refs)
        masked = _implicit_mask(model, raw, info) or explicit_mask is not None
        if info.width is None:
            raise LayerError(raw.name, f"its input '{ref.layer}' has no known feature width")
        layer: RecurrentLayerSpec | BidirectionalSpec
        if raw.class_name == "Bidirectional":
            if constants:
                raise UnsupportedError(raw.name, "constants with Bidirectional are not supported yet")
            layer = _bidirectional(raw, source, info.width, model, feed, masked, explicit_mask)
            if initial:
                layer = _bidirectional_initial_state(layer, initial, tensors)
        else:
            layer = _recurrent_layer(raw, source, info.width, model, feed, masked, tuple(constants), explicit_mask,
                                     allow_time_major=True)
            if initial:
                layer = _with_initial_state(layer, initial, tensors)
        layers.append(layer)
        # the output's mask is the input's even where the layer ignored it (Keras 3 with initial_state=
        # computes the output mask from the first argument's)
        tensors[TensorRef(layer.name)] = TensorInfo(layer.units, 3 if layer.return_sequences else 2,
                                                    (masked or info.masked) and layer.return_sequences,
                                                    steps=info.steps,
                                                    time_major=time_major and layer.return_sequences)
        for index, width in enumerate(layer.output_widths[1:], start=1):
            is_sequence = isinstance(layer, BidirectionalSpec) and layer.merge_mode is None and index == 1
            rank = 3 if (is_sequence and layer.return_sequences) else 2
            tensors[TensorRef(layer.name, 0, index)] = TensorInfo(width, rank, masked and rank == 3, steps=info.steps)
    element_masks.follow(layers)
    feed.finish(model.source)
    check_shared_masked_inputs(layers, lambda s: tensors[TensorRef(s.layer, 0, s.index)].masked, _layer_sources,
                               model.keras_major)
    # A model without any recurrent layer (Dense alone, TimeDistributed(Dense)) converts too:
    # users convert a whole model zoo with one tool.
    outputs = _outputs(model, layers, inputs, tensors)
    input_specs = tuple(inputs[r.layer] for r in model.inputs if r.layer in inputs)
    used = {source.layer for layer in layers for source in _layer_sources(layer)}
    for spec_in in input_specs:
        if spec_in.name not in used:
            raise UnsupportedError(spec_in.name, "a model input that feeds no layer is not supported yet")
        if spec_in.features == -1:
            raise LayerError(spec_in.name, "cannot tell the input's feature size")
    return ModelSpec(
        name=model.name,
        source=str(model.source),
        format=model.format,
        keras_version=model.keras_version,
        keras_major=model.keras_major,
        inputs=input_specs,
        layers=tuple(layers),
        outputs=outputs,
    )


def _implicit_mask(model: RawModel, raw: RawLayer, info: TensorInfo) -> bool:
    """Whether a recurrent layer applies its input's own mask: Keras 3 fills a layer's mask
    from its input only when the call has a single tensor argument; with initial_state= it
    has two, so the mask is dropped."""
    if model.keras_major == 3 and "initial_state" in raw.tensor_kwargs:
        return False
    return info.masked


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


def _layer_sources(layer: AnyLayerSpec) -> tuple[TensorSpec, ...]:
    """Every tensor a layer reads (data, constants, initial states, an explicit mask)."""
    extra: tuple[TensorSpec, ...] = ()
    if isinstance(layer, RecurrentLayerSpec):
        extra = layer.constants + layer.initial_state + ((layer.mask_source,) if layer.mask_source else ())
    elif isinstance(layer, BidirectionalSpec):
        extra = layer.forward.initial_state + layer.backward.initial_state + (
            (layer.mask_source,) if layer.mask_source else ())
    return layer_inputs(layer) + extra


def _pop_mask(raw: RawLayer, kwargs: dict, tensors: dict[TensorRef, TensorInfo]) -> TensorSpec | None:
    """An explicit ``mask=`` argument (Keras 3 records the implicit mask this way)."""
    if "mask" not in kwargs:
        return None
    refs = kwargs.pop("mask")
    if raw.class_name == "Softmax":  # any tensor broadcastable to the input (checked by parse_softmax)
        if len(refs) != 1 or TensorRef(refs[0].layer, 0, refs[0].index) not in tensors:
            raise LayerError(raw.name, "its mask= argument is not one tensor produced by a layer", "mask")
        return TensorSpec(refs[0].layer, refs[0].index)
    if raw.class_name not in RECURRENT_CLASSES | CONV_RNN_CLASSES.keys():
        return None  # Keras recorded the mask it propagates implicitly; the same mask is derived here
    distinct = tuple(dict.fromkeys(refs))  # Keras 2 repeats a call's kwargs on every inbound tensor
    if len(distinct) != 1:
        raise UnsupportedError(raw.name, f"its mask= argument must be one (batch, time) boolean mask, got "
                               f"{len(distinct)} tensors", "mask")
    (mask_ref,) = distinct
    mask_info = tensors.get(TensorRef(mask_ref.layer, 0, mask_ref.index))
    if mask_info is None or not mask_info.boolean or mask_info.rank != 2:
        raise UnsupportedError(raw.name, "its mask= argument must be a (batch, time) boolean mask", "mask")
    return TensorSpec(mask_ref.layer, mask_ref.index)


def _with_initial_state(layer: RecurrentLayerSpec, initial: tuple[TensorSpec, ...],
                        tensors: dict[TensorRef, TensorInfo]) -> RecurrentLayerSpec:
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


def _bidirectional_initial_state(layer: BidirectionalSpec, initial: tuple[TensorSpec, ...],
                                 tensors: dict[TensorRef, TensorInfo]) -> BidirectionalSpec:
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


def _outputs(model: RawModel, layers: list[AnyLayerSpec], inputs: dict[str, InputSpec],
             tensors: dict[TensorRef, TensorInfo]) -> tuple[OutputSpec, ...]:
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
        dims = info.dims() if info.rank > 3 else ()
        outputs.append(OutputSpec(name, TensorSpec(layer.name, ref.index), info.width, info.rank, dims))
    return tuple(outputs)

