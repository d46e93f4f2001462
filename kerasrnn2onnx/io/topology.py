"""Turn a model config (Sequential, Functional or a bare layer) into layers and graph edges.

Keras 2 and Keras 3 write the graph differently (nested lists vs. ``__keras_tensor__``
records); both become :class:`TensorRef` edges here so later stages see one shape.
Only JSON data is read: class names are strings to look up, never code to import.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from .raw import RawLayer, TensorRef, is_op_node

MODEL_CLASSES = ("Sequential", "Functional", "Model")
OP_LAMBDA_CLASSES = ("TFOpLambda", "SlicingOpLambda")
CONSTANT_VALUE = "_CONSTANT_VALUE"  # tf-keras's marker for a constant where a tensor could be


def _is_ref(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and value[0] != CONSTANT_VALUE and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:]))


def _as_refs(value: Any) -> Any:
    """Keras 2 call data with every ``[layer, node, index]`` triple made a TensorRef."""
    if _is_ref(value):
        return TensorRef(value[0], value[1], value[2])
    if isinstance(value, list):
        return [_as_refs(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _as_refs(v) for k, v in value.items()}
    return value


def map_refs(value: Any, fn: Any) -> Any:
    """``value`` with ``fn`` applied to every TensorRef inside (lists, tuples, dicts)."""
    if isinstance(value, TensorRef):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(map_refs(v, fn) for v in value)
    if isinstance(value, Mapping):
        return {k: map_refs(v, fn) for k, v in value.items()}
    return value


def _op_lambda_call(node: Any, source: object, layer: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A Keras 2 TFOpLambda call as data: one operand per inbound entry (a TensorRef, or the
    value of a ``_CONSTANT_VALUE`` entry), and the keywords tf-keras repeats on every entry."""
    if not isinstance(node, list) or not node:
        return (), {}
    if isinstance(node[0], str):
        node = [node]  # a call on one tensor: a single entry
    operands: list[Any] = []
    for item in node:
        if isinstance(item, list) and len(item) >= 3 and item[0] == CONSTANT_VALUE:
            operands.append(item[2])
        else:
            operands.append(_ref(item[0], item[1], item[2], f"an inbound node of layer '{layer}'", source))
    first = node[0]
    kwargs = first[3] if len(first) > 3 and isinstance(first[3], Mapping) else {}
    return tuple(operands), _as_refs(dict(kwargs))


def _ref(layer: Any, node: Any, index: Any, where: str, source: object) -> TensorRef:
    """A tensor reference from JSON values, their types checked (a file may hold anything)."""
    if not isinstance(layer, str) or not layer:
        raise ModelFileError(source, f"{where}: layer name must be a string, got {layer!r}")
    for what, value in (("node index", node), ("tensor index", index)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ModelFileError(source, f"{where}: {what} of '{layer}' must be a non-negative integer, "
                                         f"got {value!r}")
    return TensorRef(layer, node, index)


def _entry(entry: Any, source: object) -> Mapping[str, Any]:
    """A layer entry of a config, its shape checked where it enters: an object with a string
    ``class_name``, string (or absent) ``name``, ``module`` and ``registered_name``, an object
    (or, for old Sequential models, list) ``config`` and a list ``inbound_nodes``."""
    if not isinstance(entry, Mapping):
        raise ModelFileError(source, f"a layer entry must be an object, got {type(entry).__name__}")
    cls = entry.get("class_name")
    if not isinstance(cls, str) or not cls:
        raise ModelFileError(source, f"a layer entry has no string 'class_name' (got {cls!r})")
    config = entry.get("config")
    if config is not None and not isinstance(config, Mapping) and not (
            isinstance(config, list) and cls in MODEL_CLASSES):
        raise ModelFileError(source, f"the config of a {cls!r} layer must be an object, got {type(config).__name__}")
    name = _layer_name(entry, source)
    for key in ("module", "registered_name"):
        if not isinstance(entry.get(key), (str, type(None))):
            raise ModelFileError(source, f"layer '{name}': key '{key}' must be a string, got "
                                         f"{type(entry[key]).__name__}")
    nodes = entry.get("inbound_nodes")
    if nodes is not None and not isinstance(nodes, list):
        raise ModelFileError(source, f"layer '{name}': key 'inbound_nodes' must be a list, got {type(nodes).__name__}")
    return entry


def _layer_name(entry: Mapping[str, Any], source: object) -> str:
    """The entry's ``name`` (Keras 2 and 3 write it beside ``config`` and inside it): a
    non-empty string wherever it is given."""
    config = entry.get("config") or {}
    inner = config.get("name") if isinstance(config, Mapping) else None
    cls = entry.get("class_name")
    for value in (entry.get("name"), inner):
        if value is not None and (not isinstance(value, str) or not value):
            raise ModelFileError(source, f"a {cls!r} layer's key 'name' must be a non-empty string, got {value!r}")
    name = entry.get("name") or inner
    if not name:
        raise ModelFileError(source, f"a layer of class {cls!r} has no name")
    return str(name)


def _tensor_refs(value: Any, source: object, layer: str) -> Iterator[TensorRef]:
    """Every tensor reference in a Keras 3 call-argument structure, in order."""
    if isinstance(value, Mapping):
        if value.get("class_name") == "__keras_tensor__":
            config = value.get("config")
            history = config.get("keras_history") if isinstance(config, Mapping) else None
            where = f"an input of layer '{layer}': keras_history"
            if not (isinstance(history, list) and len(history) == 3):
                raise ModelFileError(source, f"{where} must be [layer, node, index], got {history!r}")
            yield _ref(history[0], history[1], history[2], where, source)
            return
        for item in value.values():
            yield from _tensor_refs(item, source, layer)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensor_refs(item, source, layer)


TENSOR_KWARGS = frozenset({"mask", "initial_state", "constants", "query_mask", "value_mask", "key_mask",
                           "attention_mask"})
"""Keras 3 call arguments that hold tensors when given: anything else there (a number, a
serialized array) would change the numbers if it were read, so it is refused, not ignored."""


def _tensors_or_null(value: Any) -> bool:
    """A Keras 3 tensor reference, null, or a (nested) list of them."""
    if value is None:
        return True
    if isinstance(value, Mapping):
        return value.get("class_name") == "__keras_tensor__"
    if isinstance(value, (list, tuple)):
        return all(_tensors_or_null(item) for item in value)
    return False


def _keras2_refs(value: Any) -> Iterator[TensorRef]:
    """Tensor references in Keras 2 node kwargs (``[name, node, index]`` triples)."""
    if (
        isinstance(value, list)
        and len(value) >= 3
        and isinstance(value[0], str)
        and value[0] != CONSTANT_VALUE
        and isinstance(value[1], int)
        and isinstance(value[2], int)
    ):
        yield TensorRef(value[0], value[1], value[2])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _keras2_refs(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _keras2_refs(item)


def _parse_node(node: Any, source: object, layer: str
                ) -> tuple[tuple[TensorRef, ...], dict[str, tuple[TensorRef, ...]]]:
    """One call of a layer: positional tensor inputs and tensor-valued keyword arguments."""
    where = f"an inbound node of layer '{layer}'"
    if isinstance(node, Mapping):  # Keras 3
        args_value, kwargs_value = node.get("args", []), node.get("kwargs", {})
        if not isinstance(args_value, list) or not isinstance(kwargs_value, (Mapping, type(None))):
            raise ModelFileError(source, f"{where}: 'args' must be a list and 'kwargs' an object")
        for key, value in (kwargs_value or {}).items():
            if key in TENSOR_KWARGS and not _tensors_or_null(value):
                raise ModelFileError(source, f"{where}: '{key}' must be a tensor, a list of tensors or null, "
                                             f"got {str(value)[:80]}")
        called = {k: tuple(_tensor_refs(v, source, layer)) for k, v in (kwargs_value or {}).items()}
        return tuple(_tensor_refs(args_value, source, layer)), {k: v for k, v in called.items() if v}
    if isinstance(node, list) and node and isinstance(node[0], str):
        node = [node]  # tf-keras writes a TFOpLambda call on one tensor as a single entry
    if isinstance(node, list):  # Keras 2: [[name, node, index, kwargs], ...]
        args: list[TensorRef] = []
        kwargs: dict[str, tuple[TensorRef, ...]] = {}
        for item in node:
            if not (isinstance(item, list) and len(item) >= 3):
                raise ModelFileError(source, f"{where} must list [layer, node, index, kwargs] entries, got "
                                             f"{str(item)[:80]}")
            if item[0] == CONSTANT_VALUE:  # a TFOpLambda's constant operand, not a tensor
                continue
            args.append(_ref(item[0], item[1], item[2], where, source))
            if len(item) > 3 and not isinstance(item[3], (Mapping, type(None))):
                raise ModelFileError(source, f"{where}: call arguments of '{item[0]}' must be an object, got "
                                             f"{type(item[3]).__name__}")
            if len(item) > 3 and isinstance(item[3], Mapping):
                for key, val in item[3].items():
                    refs = tuple(_keras2_refs(val))
                    if refs:
                        kwargs[key] = kwargs.get(key, ()) + refs
        return tuple(args), kwargs
    raise ModelFileError(source, f"{where} must be a list or an object, got {str(node)[:80]}")


CALL_FLAG_CLASSES = frozenset({"Attention", "AdditiveAttention", "MultiHeadAttention"})
"""Layers whose non-tensor call arguments change the numbers (return_attention_scores=,
use_causal_mask=): kept as ``RawLayer.call_kwargs``."""


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _call_flags(node: Any) -> dict[str, Any]:
    """The non-tensor keyword arguments of one call (plain JSON scalars only): Keras 3 keeps
    them in the node's ``kwargs``, Keras 2 repeats them on each inbound item."""
    items: list[Any] = []
    if isinstance(node, Mapping):
        items = [node.get("kwargs") or {}]
    elif isinstance(node, list):
        items = [item[3] for item in node if isinstance(item, list) and len(item) > 3]
    flags: dict[str, Any] = {}
    for kwargs in items:
        if isinstance(kwargs, Mapping):
            flags.update({str(k): v for k, v in kwargs.items() if _is_scalar(v)})
    return flags


def _refs_list(value: Any, source: object, key: str) -> tuple[TensorRef, ...]:
    """``input_layers`` / ``output_layers``: one ``[name, node, index]`` or a list of them."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list):
        raise ModelFileError(source, f"the model's key '{key}' must be a list of [layer, node, index], "
                                     f"got {str(value)[:80]}")
    for v in value:
        if not (isinstance(v, list) and len(v) >= 3):
            raise ModelFileError(source, f"the model's key '{key}': entry {str(v)[:80]} is not [layer, node, index]")
    return tuple(_ref(v[0], v[1], v[2], f"the model's key '{key}'", source) for v in value)


def parse_topology(
    model_config: Mapping[str, Any], source: Path
) -> tuple[str, str, tuple[RawLayer, ...], tuple[TensorRef, ...], tuple[TensorRef, ...]]:
    """Return ``(model_class, name, layers, inputs, outputs)`` from a ``to_json()``-style dict.

    A bare layer config (``{"class_name": "LSTM", "config": {...}}``) becomes a one-layer
    graph with a synthetic input named ``input`` and no declared outputs (the spec parser
    then exposes every output of that layer).
    """
    if not isinstance(model_config, Mapping) or "class_name" not in model_config:
        raise ModelFileError(source, "the config has no 'class_name': not a Keras model or layer config")
    class_name = model_config["class_name"]
    if not isinstance(class_name, str) or not class_name:
        raise ModelFileError(source, f"the config's key 'class_name' must be a string, got {class_name!r}")
    config = model_config.get("config")
    if isinstance(config, Mapping) and not isinstance(config.get("name", ""), str):
        raise ModelFileError(source, f"the {class_name} config's key 'name' must be a string, got "
                                     f"{config['name']!r}")
    if class_name == "Sequential":
        return _sequential(config, source)
    if class_name in ("Functional", "Model"):
        return _functional(config, source)
    if not isinstance(config, Mapping):
        raise ModelFileError(source, f"layer config of class {class_name!r} is not an object")
    name = _layer_name(model_config, source)
    layer = RawLayer(str(class_name), name, config, inbound=(TensorRef("input"),))
    # the shape a layer built with input_shape= declares (tf-keras writes batch_input_shape
    # into its get_config()) is the input's, as in a Sequential without an InputLayer: a fixed
    # time there is what unroll and the Scan-less targets need
    shape = _declared_input_shape(config)
    input_cfg = {"name": "input"} if shape is None else {"name": "input", "batch_shape": shape}
    inp = RawLayer("InputLayer", "input", input_cfg)
    return "Layer", name, (inp, layer), (TensorRef("input"),), ()


def _declared_input_shape(cfg: Mapping[str, Any]) -> Any:
    """The batch shape a first layer's own config declares (``batch_input_shape``,
    ``batch_shape``, ``input_shape`` or Keras 1's ``input_dim``/``input_length``), or ``None``.
    The InputLayer's parser checks what it is."""
    shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
    if shape is None and isinstance(cfg.get("input_shape"), list):
        shape = [None, *cfg["input_shape"]]
    if shape is None and cfg.get("input_dim") is not None:
        shape = [None, cfg.get("input_length"), cfg["input_dim"]]
    return shape


def _sequential(config: Any, source: Path):
    if isinstance(config, list):  # Keras <= 2.2 wrote the layer list directly
        layers_cfg, name = config, "sequential"
    elif isinstance(config, Mapping) and isinstance(config.get("layers"), list):
        layers_cfg, name = config["layers"], str(config.get("name", "sequential"))
    else:
        raise ModelFileError(source, "Sequential config has no 'layers' list")
    if not layers_cfg:
        raise ModelFileError(source, "Sequential model has no layers")
    layers: list[RawLayer] = []
    entries = [_entry(e, source) for e in layers_cfg]
    if entries[0].get("class_name") != "InputLayer":
        first = _layer_name(entries[0], source)
        cfg = entries[0].get("config") or {}
        if not isinstance(cfg, Mapping):
            raise ModelFileError(source, f"the config of layer '{first}' must be an object")
        input_cfg = {"name": f"{first}_input", "batch_shape": _declared_input_shape(cfg)}
        entries.insert(0, {"class_name": "InputLayer", "config": input_cfg})
    previous: TensorRef | None = None
    for entry in entries:
        lname = _layer_name(entry, source)
        cls = str(entry.get("class_name"))
        inbound = () if previous is None else (previous,)
        if cls in MODEL_CLASSES:
            inner, outputs = _inline_model(entry, source, inbound)
            if len(outputs) != 1:
                raise ModelFileError(source, f"nested model '{lname}' in a Sequential must have one output")
            layers.extend(inner)
            previous = outputs[0]
            continue
        layers.append(RawLayer(cls, lname, entry.get("config") or {}, inbound=inbound))
        previous = TensorRef(lname)
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        raise ModelFileError(source, "Sequential model has two layers with the same name")
    return "Sequential", name, tuple(layers), (TensorRef(layers[0].name),), (previous,)


def call_name(layer: str, node: int) -> str:
    """The graph name of call ``node`` of a layer: a shared layer's later calls become
    layers of their own (``lstm#1``) that use the first call's weights."""
    return layer if node == 0 else f"{layer}#{node}"


def _rename(ref: TensorRef) -> TensorRef:
    return TensorRef(call_name(ref.layer, ref.node), 0, ref.index)


def _inline_model(entry: Mapping[str, Any], source: Path, args: tuple[TensorRef, ...], call: int = 0
                  ) -> tuple[list[RawLayer], tuple[TensorRef, ...]]:
    """A model used as a layer, inlined: its layers renamed ``outer/inner``, its inputs
    aliased to the tensors the outer graph feeds it; returns the layers and its outputs.

    A model called more than once (a Siamese encoder) is inlined once per call: call ``k``
    is named ``outer#k/inner`` and each of its layers takes the weights of the first call's
    copy (``weights_from``), so the file's one set of weights is read once."""
    outer = _layer_name(entry, source)
    prefix = call_name(outer, call)
    _, _, inner_layers, inner_inputs, inner_outputs = parse_topology(
        {"class_name": entry.get("class_name"), "config": entry.get("config")}, source)
    if len(args) != len(inner_inputs):
        raise ModelFileError(source, f"nested model '{outer}' takes {len(inner_inputs)} input(s), given {len(args)}")
    alias = {ref.layer: arg for ref, arg in zip(inner_inputs, args, strict=True)}

    def rename(ref: TensorRef) -> TensorRef:
        return alias.get(ref.layer) or TensorRef(f"{prefix}/{ref.layer}", ref.node, ref.index)

    result = []
    for layer in inner_layers:
        if layer.class_name == "InputLayer" and layer.name in alias:
            continue
        if call:  # a later call: the first call's copy of this layer owns the weights
            weights_from: str | None = f"{outer}/{layer.weights_from or layer.name}"
        else:
            weights_from = f"{outer}/{layer.weights_from}" if layer.weights_from else None
        result.append(replace(
            layer,
            name=f"{prefix}/{layer.name}",
            inbound=tuple(rename(r) for r in layer.inbound),
            tensor_kwargs={k: tuple(rename(r) for r in refs) for k, refs in layer.tensor_kwargs.items()},
            call_args=map_refs(layer.call_args, rename),
            call_kwargs=map_refs(layer.call_kwargs, rename),
            weights_from=weights_from,
            nested_in=(outer, *layer.nested_in),
            inner_name=layer.inner_name or layer.name,
        ))
    return result, tuple(rename(r) for r in inner_outputs)


def _first_node_skipped(entry: Mapping[str, Any], node: Any) -> int:
    """1 when the file numbers a nested model's calls from 1: Keras 2 keeps node 0 for the
    model's own construction when its first layer is an InputLayer (tf-keras
    ``_should_skip_first_node``); Keras 3 (dict-shaped nodes) numbers calls from 0."""
    if isinstance(node, Mapping):
        return 0
    config = entry.get("config")
    inner = config.get("layers") if isinstance(config, Mapping) else config
    if isinstance(inner, list) and inner and isinstance(inner[0], Mapping):
        return 1 if inner[0].get("class_name") == "InputLayer" else 0
    return 0


def _functional(config: Any, source: Path):
    if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
        raise ModelFileError(source, "Functional config has no 'layers' list")
    layers: list[RawLayer] = []
    nested_outputs: dict[str, list[tuple[TensorRef, ...]]] = {}  # per call of a nested model
    node_offset: dict[str, int] = {}

    def resolve(ref: TensorRef) -> TensorRef:
        # a reference to a nested model's output: node k + offset is its k-th call here
        # (a model called once is its only call, whatever index a version gives it)
        if ref.layer in nested_outputs:
            calls = nested_outputs[ref.layer]
            call = ref.node - node_offset[ref.layer] if len(calls) > 1 else 0
            if not 0 <= call < len(calls):
                raise ModelFileError(source, f"nested model '{ref.layer}' has no call {ref.node}")
            outputs = calls[call]
            if ref.index >= len(outputs):
                raise ModelFileError(source, f"nested model '{ref.layer}' has no output {ref.index}")
            return outputs[ref.index]
        return _rename(ref)

    for entry in map(lambda e: _entry(e, source), config["layers"]):
        lname = _layer_name(entry, source)
        nodes = entry.get("inbound_nodes") or [None]
        if entry.get("class_name") in MODEL_CLASSES:
            if nodes[0] is None:
                raise ModelFileError(source, f"nested model '{lname}' is never called")
            nested_outputs[lname] = []
            node_offset[lname] = _first_node_skipped(entry, nodes[0])
            for k, node in enumerate(nodes):
                model_args, _ = _parse_node(node, source, lname)
                inner, outputs = _inline_model(entry, source, tuple(resolve(r) for r in model_args), k)
                layers.extend(inner)
                nested_outputs[lname].append(outputs)
            continue
        for k, node in enumerate(nodes):
            args: tuple[TensorRef, ...] = ()
            kwargs: dict[str, tuple[TensorRef, ...]] = {}
            call_args: tuple = ()
            call_kwargs: dict[str, Any] = {}
            if node is not None:
                args, kwargs = _parse_node(node, source, lname)
                if entry.get("class_name") in CALL_FLAG_CLASSES:
                    call_kwargs = _call_flags(node)
                if isinstance(node, Mapping):
                    call_args = tuple(node.get("args") or ())
                elif entry.get("class_name") in OP_LAMBDA_CLASSES:
                    call_args, call_kwargs = _op_lambda_call(node, source, lname)
                    call_args = map_refs(call_args, resolve)
                    call_kwargs = map_refs(call_kwargs, resolve)
            layers.append(
                RawLayer(
                    str(entry.get("class_name")),
                    call_name(lname, k),
                    entry.get("config") or {},
                    inbound=tuple(resolve(r) for r in args),
                    tensor_kwargs={key: tuple(resolve(r) for r in refs) for key, refs in kwargs.items()},
                    call_args=call_args,
                    call_kwargs=call_kwargs,
                    weights_from=lname if k else None,
                    op_node=is_op_node(entry),
                )
            )
    inputs = tuple(_rename(r) for r in _refs_list(config.get("input_layers", []), source, "input_layers"))
    declared = {r.layer for r in inputs}
    placeholders = {layer.name for layer in layers if layer.class_name == "InputLayer"}
    for name in sorted(placeholders ^ declared):
        where = "is not in the model's input_layers" if name in placeholders else "is not an InputLayer of the model"
        raise ModelFileError(source, f"input '{name}' {where}")
    outputs = tuple(resolve(r) for r in _refs_list(config.get("output_layers", []), source, "output_layers"))
    return "Functional", str(config.get("name", "model")), tuple(layers), inputs, outputs
