"""Attach weights from a Keras 3 object-path file (``model.weights.h5``, ``*.weights.h5``).

The paths come from :mod:`.keras3_paths` (Keras's own walk, rebuilt from the config); this
module reads each layer's ``vars`` groups in ``get_weights()`` order and checks the file
against the config both ways: a group the config needs but the file lacks, and weights the
file holds that no layer of the config reaches, are one-line errors naming both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import h5py

from ..errors import ModelFileError
from . import guard
from .handles import WeightHandle
from .keras3_paths import layer_paths, weight_objects
from .raw import RawLayer

# Sub-objects Keras saves that hold no model weights (random-seed state of dropout layers).
NOT_WEIGHTS = frozenset({"seed_generator"})


def config_key(layer: RawLayer) -> tuple[str, ...]:
    """The layer's place in the config: ``(nested model names..., layer name)``; a shared
    layer's later call points at the call that owns the weights."""
    if layer.weights_from:
        return tuple(layer.weights_from.split("/"))
    if layer.nested_in:
        return (*layer.nested_in, layer.inner_name or layer.name.rsplit("/", 1)[-1])
    return (layer.name,)


def _numeric(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (1 << 30, name)


def _own_vars(group: Any, source: object) -> list[WeightHandle]:
    if "vars" not in group:
        return []
    vars_group = group["vars"]
    if not isinstance(vars_group, h5py.Group):
        raise ModelFileError(source, f"'{vars_group.name}' is not a group")
    return [guard.h5_weight(vars_group[k], source) for k in sorted(vars_group.keys(), key=_numeric)]


def _stored_name(group: Any, source: object) -> str | None:
    """The layer name Keras 3 records on an object's ``vars`` group (tf-keras records none)."""
    vars_group = group.get("vars") if isinstance(group, h5py.Group) else None
    if not isinstance(vars_group, h5py.Group):
        return None
    value = guard.h5_attr(vars_group, "name", source)
    return None if value is None else guard.attr_text(value, source, f"attribute 'name' of '{vars_group.name}'")


def _weighted_objects(root: Any) -> list[str]:
    """Every object path under ``layers/`` whose ``vars`` group holds at least one array."""
    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and name.endswith("/vars") and len(obj):
            path = name[: -len("/vars")]
            if path.rsplit("/", 1)[-1] not in NOT_WEIGHTS:
                found.append(path)

    if "layers" in root and isinstance(root["layers"], h5py.Group):
        root["layers"].visititems(lambda n, o: visit(f"layers/{n}", o))
    return found


def attach_keras3_weights(layers: tuple[RawLayer, ...], model_config: Mapping[str, Any], root: Any, source: object,
                          check_names: bool) -> tuple[RawLayer, ...]:
    """Each layer's arrays, read from the object paths Keras 3 gives it.

    ``check_names``: the file and the config were saved together (a ``.keras`` archive), so
    the layer name Keras 3 records at each path must be the config's; a separate weights
    file is matched by path alone, as ``model.load_weights`` does.
    """
    paths = layer_paths(model_config)
    claimed: set[str] = set()
    result = []
    for layer in layers:
        key = config_key(layer)
        shown = "/".join(key)
        if layer.class_name == "InputLayer":
            result.append(layer)
            continue
        if key not in paths:
            raise ModelFileError(source, f"layer '{shown}' has no place in the model's layer lists")
        path = paths[key]
        if path is None:  # a Keras 3 op node: not a Layer, nothing saved
            result.append(layer)
            continue
        if path not in root:
            raise ModelFileError(source, f"layer '{shown}': no weights group '{path}' in the file (Keras 3 stores "
                                 "layers by class-based object path, not by name)")
        if check_names:
            stored = _stored_name(root[path], source)
            if stored is not None and stored != key[-1]:
                raise ModelFileError(source, f"layer '{shown}': the group '{path}' belongs to a layer named "
                                     f"'{stored}'; the weights do not match the config")
        arrays: list[WeightHandle] = []
        for rel in weight_objects(layer.class_name, layer.config):
            full = f"{path}/{rel}" if rel else path
            if full not in root or not isinstance(root[full], h5py.Group):
                raise ModelFileError(source, f"layer '{shown}': no weights group '{full}' in the file")
            arrays.extend(_own_vars(root[full], source))
            claimed.add(full)
        result.append(replace(layer, weights=tuple(arrays), weights_origin=f"from the file's group '{path}'"))
    unclaimed = [p for p in _weighted_objects(root) if p not in claimed]
    if unclaimed:
        extra = _outermost_unclaimed(unclaimed[0], claimed)
        stored = _stored_name(root[extra], source)
        label = f" (layer '{stored}')" if stored else ""
        raise ModelFileError(source, f"the file holds weights at '{extra}'{label} that no layer of the config "
                             f"uses ({len(unclaimed)} such group(s)): the weights do not match the config")
    return tuple(result)


def _outermost_unclaimed(path: str, claimed: set[str]) -> str:
    """The highest group above ``path`` that no claimed object lives in or under: the
    extra layer itself rather than its cell."""
    parts = path.split("/")
    for end in range(2, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if not any(c == prefix or c.startswith(prefix + "/") for c in claimed):
            return prefix
    return path
