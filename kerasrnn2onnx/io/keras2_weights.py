"""Match a Keras 2 HDF5 weights layout (``layer_names`` / ``weight_names``) to the config's layers.

``model.load_weights(path)`` on an ``.h5`` (and ``load_model`` on a full ``.h5``) matches **by
order**, not by name: tf-keras' ``load_weights_from_hdf5_group`` pairs the model's layers that
have weights, in ``model.layers`` order, with the file's layer groups whose ``weight_names``
are not empty, in ``layer_names`` order, and refuses a count mismatch. Only
``load_weights(by_name=True)`` matches names. Published weights files routinely carry
auto-generated names (``lstm_1``, ``input_1``) that a config rebuilt today does not, so order
is the default here too; ``match="name"`` is the ``by_name=True`` rule.

Which config layers have weights is decided from the config alone: the classes in
``WEIGHTLESS`` and the shape-only families (padding, cropping, upsampling, pooling) never do
(nor a LayerNormalization without center and scale, nor a wrapper of such); any other layer
is taken to have some, and a nested model has some when one of its layers does. Weight
names inside a group are never interpreted (Keras 2.0-2.2 wrote them without ``:0``), except
to split a nested model's group into its layers by their first path component.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import ConversionError, ModelFileError
from . import guard
from .handles import WeightHandle
from .keras3_paths import MODEL_CLASSES
from .raw import RawLayer, is_op_node
from .weights import keras2_weights_by_layer

MATCH_RULES = ("order", "name")

WEIGHTLESS = frozenset({
    "InputLayer", "Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Masking",
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "Reshape", "Permute", "Flatten",
    "RepeatVector", "Lambda", "TFOpLambda", "SlicingOpLambda", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Concatenate", "Dot", "Identity", "Rescaling", "UnitNormalization", "Resizing", "CenterCrop",
})
# Shape-only families in every dimension and spelling (MaxPool2D is MaxPooling2D's alias).
WEIGHTLESS_FAMILIES = re.compile(
    r"(ZeroPadding|Cropping|UpSampling|SpatialDropout|(Global)?(Max|Average|Avg)Pool(ing)?)[123]D")
# Keras 2.2 flipped convolution kernels saved by Theano on load; tf-keras does not. Which
# rule a user meant cannot be told from the file, so such layers are refused.
THEANO_FLIPPED = frozenset({"Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "ConvLSTM2D"})



def call_base(name: str) -> str:
    """A layer's config name from its graph name (a later call of a shared layer or model is
    ``name#k``: the same weights)."""
    return name.split("#", 1)[0]


def _entries(model_config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    config = model_config.get("config")
    if isinstance(config, list):  # Keras <= 2.2 Sequential
        return [e for e in config if isinstance(e, Mapping)]
    if isinstance(config, Mapping) and isinstance(config.get("layers"), list):
        return [e for e in config["layers"] if isinstance(e, Mapping)]
    return []


def _name(entry: Mapping[str, Any]) -> str:
    config = entry.get("config")
    name = entry.get("name") or (config.get("name") if isinstance(config, Mapping) else None)
    return str(name)


def has_weights(entry: Mapping[str, Any]) -> bool:
    """Whether a config entry's layer owns weights in a Keras 2 weights file."""
    cls = entry.get("class_name")
    raw_config = entry.get("config")
    config: Mapping[str, Any] = raw_config if isinstance(raw_config, Mapping) else {}
    if cls in MODEL_CLASSES:
        return any(has_weights(e) for e in _entries(entry))
    if cls in WEIGHTLESS or WEIGHTLESS_FAMILIES.fullmatch(str(cls)) or is_op_node(entry):
        return False
    if cls in ("TimeDistributed", "Bidirectional") and isinstance(config.get("layer"), Mapping):
        return has_weights(config["layer"])
    if cls == "LayerNormalization":
        return bool(config.get("center", True) or config.get("scale", True))
    if cls == "Normalization":  # mean and variance given to the constructor live in the config
        return config.get("mean") is None
    if cls == "Attention":  # a scale and a concat weight only when asked for
        return bool(config.get("use_scale", False) or config.get("score_mode", "dot") == "concat")
    if cls == "AdditiveAttention":
        return bool(config.get("use_scale", True))
    return True


def _top_entries(model_config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The config's top-level layers in ``model.layers`` order (a bare layer config is one)."""
    if model_config.get("class_name") in MODEL_CLASSES:
        return _entries(model_config)
    return [model_config]


def _pairing(model_config: Mapping[str, Any], groups: Mapping[str, tuple[list[WeightHandle], list[str]]],
             match: str, source: object) -> dict[str, str]:
    """``{config top-level layer name: file layer group}``."""
    entries = [e for e in _top_entries(model_config) if has_weights(e)]
    config_names = [_name(e) for e in entries]
    if match == "name":
        return {n: n for n in config_names if n in groups}
    file_names = [n for n, (arrays, _) in groups.items() if arrays]
    if len(file_names) != len(config_names):
        raise ModelFileError(source, f"the weights file has {len(file_names)} layer(s) with weights "
                             f"({', '.join(file_names) or 'none'}) but the config has {len(config_names)} "
                             f"({', '.join(config_names) or 'none'}); Keras matches them by order "
                             "(--weights-match name matches by name)")
    return dict(zip(config_names, file_names, strict=True))


def _leaves(entry: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(path inside the nested model, layer name)`` of its layers with weights, nested
    models flattened (their variables are named after the innermost layer)."""
    out: list[tuple[str, str]] = []
    for child in _entries(entry):
        path = f"{prefix}{_name(child)}"
        if child.get("class_name") in MODEL_CLASSES:
            out.extend(_leaves(child, path + "/"))
        elif has_weights(child):
            out.append((path, _name(child)))
    return out


def _split_nested(entry: Mapping[str, Any], arrays: list[WeightHandle], names: list[str], file_group: str,
                  match: str, source: object) -> dict[str, tuple[str, list[WeightHandle]]]:
    """A nested model's one group split into its layers: ``{inner path: (file prefix, arrays)}``.

    The group's weight names start with the saving model's layer names; by name they are
    looked up directly, by order the prefixes (in order of first appearance) are paired with
    the nested model's layers that have weights."""
    prefixes: dict[str, list[WeightHandle]] = {}
    for array, name in zip(arrays, names, strict=False):
        prefixes.setdefault(name.split("/", 1)[0], []).append(array)
    leaves = _leaves(entry)
    if match == "name" or {leaf for _, leaf in leaves} <= set(prefixes):
        return {path: (leaf, prefixes[leaf]) for path, leaf in leaves if leaf in prefixes}
    if len(prefixes) != len(leaves):
        raise ModelFileError(source, f"nested model '{_name(entry)}': the file's group '{file_group}' holds weights of "
                             f"{len(prefixes)} layer(s) ({', '.join(prefixes)}) but the config has {len(leaves)} "
                             f"({', '.join(path for path, _ in leaves)})")
    return {path: (p, prefixes[p]) for (path, _), p in zip(leaves, prefixes, strict=True)}


def attach_keras2_weights(layers: tuple[RawLayer, ...], model_config: Mapping[str, Any], root: Any, source: object,
                          match: str = "order") -> tuple[RawLayer, ...]:
    """Each layer's arrays from a Keras 2 weights layout, matched by ``match``."""
    if match not in MATCH_RULES:
        raise ConversionError(f"weights match must be one of {', '.join(MATCH_RULES)}, not {match!r}")
    groups = keras2_weights_by_layer(root, source)
    backend = guard.h5_attr(root, "backend", source)
    backend = guard.attr_text(backend, source, "attribute 'backend'") if backend is not None else None
    pairing = _pairing(model_config, groups, match, source)
    entries = {_name(e): e for e in _top_entries(model_config)}
    nested: dict[str, dict[str, tuple[str, list[WeightHandle]]]] = {}
    result = []
    for layer in layers:
        top = call_base(layer.nested_in[0] if layer.nested_in else (layer.weights_from or layer.name))
        file_group = pairing.get(top)
        if file_group is None:
            note = f"the weights file has no layer '{top}'" if match == "name" else None
            result.append(replace(layer, weights_origin=note))
            continue
        arrays, names = groups[file_group]
        if backend == "theano" and layer.class_name in THEANO_FLIPPED:
            raise ModelFileError(source, f"layer '{layer.name}': {layer.class_name} weights saved by the Theano "
                                 "backend (Keras 2.2 flipped their kernels on load, tf-keras does not): not converted")
        origin = f"from the weights file's layer '{file_group}'"
        if layer.nested_in:
            if top not in nested:
                nested[top] = _split_nested(entries[top], list(arrays), list(names), file_group, match, source)
            inner = "/".join((layer.weights_from or layer.name).split("/")[1:])
            prefix, picked = nested[top].get(inner, ("", []))
            origin = f"from the weights file's layer '{file_group}/{prefix}'"
            arrays = picked
        result.append(replace(layer, weights=tuple(arrays), weights_origin=origin, keras2_layout=True))
    return tuple(result)
