"""Where Keras 3's saving library stores each layer's variables, computed from the config alone.

A ``.keras`` archive's ``model.weights.h5`` (and a ``model.save_weights("x.weights.h5")``
file, from Keras 3 or from tf-keras' v3 format) does not store a layer under its name.
``keras/src/saving/saving_lib.py`` walks the objects from the model down and stores each
object's own variables at ``<path>/vars/0``, ``<path>/vars/1`` ... (creation order):

* a model (Sequential or Functional) first walks its ``layers`` list (``model.layers``:
  for a Functional model the config's ``layers`` list in order, Keras 3 op nodes excluded;
  for a Sequential model without its InputLayer);
* a child in a list is stored under the snake_case of its **class** name
  (``naming.to_snake_case``), with ``_1``, ``_2`` ... for a repeat of that name in the same
  list (``_save_container_state`` / ``_get_unique_name``): ``layers/lstm``,
  ``layers/lstm_1``, ``layers/dense``, ``layers/sequential/layers/lstm``;
* a child held by an attribute is stored under the attribute's name: an RNN's ``cell``,
  Bidirectional's ``forward_layer`` and ``backward_layer``, TimeDistributed's ``layer``,
  StackedRNNCells' ``cells`` list (whose items again get class names with counters);
* an object already saved is skipped (a layer called twice is stored once).

So ``LSTM(8, name="encoder")`` is ``layers/lstm`` whatever its name, and the second LSTM of
a model is ``layers/lstm_1``. The names the user chose appear only as metadata (the ``name``
attribute of each ``vars`` group, written by Keras 3, not by tf-keras), which the loader
uses as a check, never to look anything up. Nothing here guesses by name or by shape: a
layer kind whose sub-objects are not listed here gets only its own ``vars``, and any
weights the walk does not reach are reported by the loader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ModelFileError
from .raw import is_op_node

MODEL_CLASSES = ("Sequential", "Functional", "Model")
CELL_LAYERS = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")  # they build a ``cell``


def to_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``"StackedRNNCells" -> "stacked_rnn_cells"``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class _Container:
    """The per-list name counters of ``_get_unique_name``."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def unique(self, class_name: str) -> str:
        base = to_snake_case(class_name)
        if base in self._used:
            self._used[base] += 1
            return f"{base}_{self._used[base]}"
        self._used[base] = 0
        return base


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _entry_name(entry: Mapping[str, Any]) -> str:
    config = entry.get("config")
    name = entry.get("name") or (config.get("name") if isinstance(config, Mapping) else None)
    if not isinstance(name, str) or not name:
        raise ModelFileError("<config>", f"a layer of class {entry.get('class_name')!r} has no name")
    return name



def _model_layers(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A model config's ``layers`` list, in ``model.layers`` order once op nodes are left out."""
    config = entry.get("config")
    if entry.get("class_name") == "Sequential" and isinstance(config, list):  # Keras <= 2.2
        layers = config
    elif isinstance(config, Mapping) and isinstance(config.get("layers"), list):
        layers = config["layers"]
    else:
        raise ModelFileError("<config>", f"{entry.get('class_name')} config has no 'layers' list")
    return [e for e in layers if isinstance(e, Mapping)]


def layer_paths(model_config: Mapping[str, Any]) -> dict[tuple[str, ...], str | None]:
    """``{(nested model names..., layer name): object path}`` for every layer of a model
    config (``to_json()`` form), nested models included (they map to their own group).
    Keras 3 op nodes and a Sequential's InputLayer map to ``None``: neither is in
    ``model.layers``, so nothing of theirs is saved."""
    paths: dict[tuple[str, ...], str | None] = {}

    def walk(entry: Mapping[str, Any], prefix: str, key: tuple[str, ...]) -> None:
        container = _Container()
        for index, child in enumerate(_model_layers(entry)):
            sequential_input = index == 0 and entry.get("class_name") == "Sequential" \
                and child.get("class_name") == "InputLayer"  # Sequential.layers leaves it out
            if is_op_node(child) or sequential_input:
                paths.setdefault((*key, _entry_name(child)), None)
                continue
            path = _join(prefix, "layers", container.unique(str(child.get("class_name"))))
            child_key = (*key, _entry_name(child))
            paths.setdefault(child_key, path)
            if child.get("class_name") in MODEL_CLASSES:
                walk(child, path, child_key)

    if model_config.get("class_name") not in MODEL_CLASSES:
        raise ModelFileError("<config>", "Keras 3 object paths need a model config (Sequential or Functional)")
    walk(model_config, "", ())
    return paths


def _sub_config(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("class_name"), str):
        raise ModelFileError("<config>", f"{what} is not a layer config")
    return value


def _cell_objects(cell: Mapping[str, Any]) -> Iterator[str]:
    """Relative object paths of a cell config, in ``get_weights()`` order."""
    yield ""
    if cell.get("class_name") == "StackedRNNCells":
        container = _Container()
        for entry in (cell.get("config") or {}).get("cells") or []:
            sub = _sub_config(entry, "a stacked cell")
            name = container.unique(str(sub["class_name"]))
            for rel in _cell_objects(sub):
                yield _join("cells", name, rel)


def weight_objects(class_name: str, config: Mapping[str, Any]) -> tuple[str, ...]:
    """Relative object paths (``""`` = the layer itself) whose ``vars`` hold a layer's
    weights, in the layer's ``get_weights()`` order: own variables first, then those of
    its sub-objects (Bidirectional: forward before backward, as ``get_weights`` lists them,
    although the walk visits ``backward_layer`` first)."""
    if class_name in CELL_LAYERS:
        return ("", "cell")
    if class_name == "MultiHeadAttention":  # its EinsumDense attributes, in get_weights() order
        return ("", "query_dense", "key_dense", "value_dense", "output_dense")
    if class_name == "RNN":
        cell = _sub_config(config.get("cell"), "the RNN's 'cell'")
        return ("", *(_join("cell", rel) for rel in _cell_objects(cell)))
    if class_name == "Bidirectional":
        forward = _sub_config(config.get("layer"), "Bidirectional's 'layer'")
        backward = config.get("backward_layer")
        backward = forward if backward is None else _sub_config(backward, "Bidirectional's 'backward_layer'")
        halves: list[str] = []
        for attr, half in (("forward_layer", forward), ("backward_layer", backward)):
            halves.extend(_join(attr, rel) for rel in weight_objects(str(half["class_name"]), half.get("config") or {}))
        return ("", *halves)
    if class_name == "TimeDistributed":
        inner = _sub_config(config.get("layer"), "TimeDistributed's 'layer'")
        inner_objects = weight_objects(str(inner["class_name"]), inner.get("config") or {})
        return ("", *(_join("layer", rel) for rel in inner_objects))
    if class_name in MODEL_CLASSES:
        # a model wrapped in TimeDistributed: its layers list (a Sequential's leaves its InputLayer
        # out, a Functional's keeps it under "input_layer", which owns nothing and takes no other
        # class's counter; op nodes are not layers)
        container = _Container()
        objects: list[str] = [""]
        for entry in _model_layers({"class_name": class_name, "config": config}):
            if entry.get("class_name") == "InputLayer" or is_op_node(entry):
                continue
            name = container.unique(str(entry.get("class_name")))
            objects.extend(_join("layers", name, rel)
                           for rel in weight_objects(str(entry.get("class_name")), entry.get("config") or {}))
        return tuple(objects)
    return ("",)
