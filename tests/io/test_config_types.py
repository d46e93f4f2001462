"""A wrong JSON type anywhere a config value enters is one line and exit 2, naming where.

Each case takes a real fixture (Keras 3 ``.keras``, Keras 2 full-model ``.h5``, JSON config
with a weights file), puts a value of the wrong type (or range) at one place of its config,
metadata or HDF5 attributes, and converts through the CLI. The table walks the places data
enters: the layer entry (``class_name``, ``name``, ``module``, ``config``, ``inbound_nodes``
in both versions' formats), the layer's own arguments (units, activations, flags, nested
dtype policy, shapes), the graph's ``input_layers``, and the version and weight-name
attributes.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from ..conftest import FIXTURES, convert_fails

L = ("config", "layers")  # k3_two_input / k2_two_input: text, embedding, numeric, lstm, dense, concatenate, dense_1
LSTM = (*L, 3)


def _set(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def _k3(tmp_path: Path, member: str, path: tuple, value: Any, fixture: str = "k3_two_input.keras") -> list:
    with zipfile.ZipFile(FIXTURES / fixture) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = json.dumps(_set(json.loads(members[member]), path, value)).encode()
    model = tmp_path / "model.keras"
    with zipfile.ZipFile(model, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return [model]


def _k2(tmp_path: Path, path: tuple, value: Any) -> list:
    model = tmp_path / "model.h5"
    shutil.copy(FIXTURES / "k2_two_input.h5", model)
    with h5py.File(model, "r+") as handle:
        handle.attrs["model_config"] = json.dumps(_set(json.loads(handle.attrs["model_config"]), path, value))
    return [model]


def _k2_attr(tmp_path: Path, group: str, name: str, value: Any) -> list:
    model = tmp_path / "model.h5"
    shutil.copy(FIXTURES / "k2_two_input.h5", model)
    with h5py.File(model, "r+") as handle:
        handle[group].attrs[name] = value
    return [model]


def _json(tmp_path: Path, path: tuple, value: Any) -> list:
    config = tmp_path / "model.json"
    config.write_text(json.dumps(_set(json.loads((FIXTURES / "k2_json_weights_h5.json").read_text()), path, value)))
    return [config, "--weights", FIXTURES / "k2_json_weights_h5.weights.h5"]


def _both(path: tuple, value: Any, needle: str) -> list:
    """The same config mutation in the Keras 3 and the Keras 2 file."""
    return [pytest.param("k3", path, value, needle, id=f"k3-{'.'.join(map(str, path[2:]))}={value!r}"[:60]),
            pytest.param("k2", path, value, needle, id=f"k2-{'.'.join(map(str, path[2:]))}={value!r}"[:60])]


CONFIG_CASES = [
    *_both((*L,), {}, "no 'layers' list"),
    *_both(LSTM, [], "a layer entry must be an object, got list"),
    *_both((*LSTM, "config"), "x", "config of a 'LSTM' layer must be an object, got str"),
    *_both((*LSTM, "class_name"), ["LSTM"], "no string 'class_name'"),
    *_both((*LSTM, "class_name"), None, "no string 'class_name'"),
    *_both((*LSTM, "name"), 5, "key 'name' must be a non-empty string, got 5"),
    *_both((*LSTM, "config", "name"), 5, "key 'name' must be a non-empty string, got 5"),
    *_both((*LSTM, "inbound_nodes"), {}, "layer 'lstm': key 'inbound_nodes' must be a list"),
    *_both((*LSTM, "inbound_nodes"), [5], "inbound node of layer 'lstm' must be a list or an object"),
    *_both((*LSTM, "config", "units"), "3", "layer 'lstm', key 'units': units must be a positive integer, got '3'"),
    *_both((*LSTM, "config", "units"), True, "key 'units': units must be a positive integer, got True"),
    *_both((*LSTM, "config", "units"), None, "key 'units': units must be a positive integer, got None"),
    *_both((*LSTM, "config", "units"), 4.5, "key 'units': units must be a positive integer, got 4.5"),
    *_both((*LSTM, "config", "units"), -4, "key 'units': units must be a positive integer, got -4"),
    *_both((*LSTM, "config", "units"), 10**12, "expected (4, 4000000000000)"),
    *_both((*LSTM, "config", "activation"), 5, "key 'activation': activation must be a name, got 5"),
    *_both((*LSTM, "config", "recurrent_activation"), [], "key 'recurrent_activation': activation must be a name"),
    *_both((*LSTM, "config", "return_sequences"), "yes", "key 'return_sequences': expected true/false, got 'yes'"),
    *_both((*LSTM, "config", "dtype"), {"config": []}, "layer 'lstm', key 'dtype': must be an object, got list"),
    *_both((*L, 4, "config", "units"), 2.0, "layer 'dense', key 'units': must be a positive integer, got 2.0"),
    *_both((*L, 1, "config", "output_dim"), "4", "layer 'embedding', key 'output_dim'"),
    *_both((*L, 5, "config", "axis"), True, "layer 'concatenate', key 'axis'"),
    *_both(("config", "input_layers"), {}, "key 'input_layers' must be a list of [layer, node, index]"),
    *_both(("config", "input_layers"), [["text", "0", 0]], "node index of 'text' must be a non-negative integer"),
    *_both(("config", "output_layers"), [[5, 0, 0]], "key 'output_layers': layer name must be a string, got 5"),
    *_both(("config", "name"), 5, "config's key 'name' must be a string, got 5"),
    *_both(("class_name",), 5, "key 'class_name' must be a string, got 5"),
    *_both((), [], "the config has no 'class_name'"),
    pytest.param("k3", (*L, 0, "config", "batch_shape"), [None, "3"], "layer 'text', key 'batch_shape'", id="k3-shape"),
    pytest.param("k2", (*L, 0, "config", "batch_input_shape"), [None, True], "layer 'text', key 'batch_shape'",
                 id="k2-shape"),
    pytest.param("k2", (*L, 2, "config", "batch_input_shape"), [None, 2.0], "layer 'numeric', key 'batch_shape'",
                 id="k2-float-dim"),
    pytest.param("k3", (*LSTM, "module"), 5, "layer 'lstm': key 'module' must be a string", id="k3-module"),
    pytest.param("k3", (*LSTM, "inbound_nodes", 0, "kwargs"), [], "inbound node of layer 'lstm': 'args' must be a list",
                 id="k3-node-kwargs"),
    pytest.param("k3", (*LSTM, "inbound_nodes", 0, "kwargs", "mask"), 5,
                 "inbound node of layer 'lstm': 'mask' must be a tensor, a list of tensors or null",
                 id="k3-mask-number"),
    pytest.param("k3", (*LSTM, "inbound_nodes", 0, "kwargs", "initial_state"),
                 {"class_name": "__numpy__", "config": {"value": [0.0]}},
                 "'initial_state' must be a tensor, a list of tensors or null", id="k3-initial-state-array"),
    pytest.param("k3", (*LSTM, "inbound_nodes", 0, "kwargs", "mask"), [None, "x"],
                 "'mask' must be a tensor, a list of tensors or null", id="k3-mask-list-string"),
    pytest.param("k3", (*LSTM, "inbound_nodes", 0, "args", 0, "config", "keras_history"), ["embedding", 0.5, 0],
                 "input of layer 'lstm': keras_history: node index of 'embedding'", id="k3-history"),
    pytest.param("k2", (*LSTM, "inbound_nodes"), [[["embedding", 0, None, {}]]],
                 "inbound node of layer 'lstm': tensor index of 'embedding' must be a non-negative integer",
                 id="k2-node-index"),
    pytest.param("k2", (*LSTM, "inbound_nodes"), [[["embedding", 0, 0, []]]],
                 "call arguments of 'embedding' must be an object", id="k2-node-kwargs"),
    pytest.param("json", ("config", "layers", 1, "config", "units"), 4.5, "layer 'gru', key 'units'", id="json-units"),
    pytest.param("json", ("keras_version",), 5, "keras_version must be a string, got int", id="json-version"),
]


@pytest.mark.parametrize("kind,path,value,needle", CONFIG_CASES)
def test_wrong_json_type_in_the_config(capsys, tmp_path, kind, path, value, needle):
    if kind == "k3":
        args = _k3(tmp_path, "config.json", path, value)
    elif kind == "k2":
        args = _k2(tmp_path, path, value)
    else:
        args = _json(tmp_path, path, value)
    convert_fails(capsys, tmp_path, args, needle)


@pytest.mark.parametrize("path,value,needle", [
    (("keras_version",), 5, "keras_version must be a string, got int"),
    (("keras_version",), "banana", "model.keras: unrecognised keras_version 'banana'"),
    ((), [], "metadata.json must be a JSON object, got list"),
])
def test_wrong_json_type_in_the_metadata(capsys, tmp_path, path, value, needle):
    convert_fails(capsys, tmp_path, _k3(tmp_path, "metadata.json", path, value), needle)


@pytest.mark.parametrize("group,name,value,needle", [
    ("/", "keras_version", 5, "attribute 'keras_version' must be a string, got int64"),
    ("/", "keras_version", np.bytes_(b"\xff\xfe"), "attribute 'keras_version' is not UTF-8 text"),
    ("model_weights", "backend", 5, "attribute 'backend' must be a string"),
    ("model_weights", "layer_names", np.array([1, 2]), "attribute 'layer_names' entry must be a string"),
    ("model_weights", "layer_names", np.zeros((2, 2), "S4"), "'layer_names' must be a list of strings, got shape"),
    ("model_weights/lstm", "weight_names", 5, "'weight_names' of '/model_weights/lstm' must be a list of strings"),
    ("model_weights/lstm", "weight_names", np.array([b"\xff"]), "'weight_names' of '/model_weights/lstm' entry is "
                                                                 "not UTF-8"),
])
def test_wrong_type_in_an_hdf5_attribute(capsys, tmp_path, group, name, value, needle):
    convert_fails(capsys, tmp_path, _k2_attr(tmp_path, group, name, value), needle)


@pytest.mark.parametrize("kind", ["k3", "k2"])
def test_file_level_errors_name_the_file(capsys, tmp_path, kind):
    args = (_k3(tmp_path, "config.json", (*LSTM, "inbound_nodes"), {}) if kind == "k3"
            else _k2(tmp_path, (*LSTM, "inbound_nodes"), {}))
    convert_fails(capsys, tmp_path, args, f"{args[0]}: layer 'lstm'")


def _k2_fixture(tmp_path: Path, name: str, path: tuple, value: Any) -> list:
    model = tmp_path / "model.h5"
    shutil.copy(FIXTURES / name, model)
    with h5py.File(model, "r+") as handle:
        handle.attrs["model_config"] = json.dumps(_set(json.loads(handle.attrs["model_config"]), path, value))
    return [model]


@pytest.mark.parametrize("fixture,path,value,needle", [
    ("k2_activation_layers.h5", (*L, 10, "config", "scale"), "x", "layer 'rescale', key 'scale': must be a number"),
    ("k2_activation_layers.h5", (*L, 10, "config", "scale"), {}, "layer 'rescale', key 'scale': must be a number"),
    ("k2_activation_layers.h5", (*L, 11, "config", "mean"), "x", "layer 'norm-given', key 'mean': must be a number"),
    ("k2_activation_layers.h5", (*L, 11, "config", "variance"), [[1], [1, 2]], "key 'variance'"),
    ("k2_activation_layers.h5", (*L, 11, "config", "mean"), [], "key 'mean': has shape (0,), which does not broadcast"),
    ("k2_activation_layers.h5", (*L, 7, "config", "axis"), True, "layer 'softmax-time', key 'axis'"),
    ("k2_reshape_permute.h5", (*L, 1, "config", "target_shape"), 5, "layer 'reshape', key 'target_shape': must be a "
                                                                      "list of integers"),
    ("k2_reshape_permute.h5", (*L, 3, "config", "dims"), "x", "layer 'permute', key 'dims': must be a list"),
    ("k2_repeat_vector.h5", (*L, 2, "config", "n"), 10**30, "layer 'repeat_vector': a dimension of "
                                                           "1,000,000,000,000,000,000,000,000,000,000 is over"),
    ("k2_repeat_vector.h5", (*L, 0, "config", "batch_input_shape"), [2**63, 5, 3],
     "layer 'input_1': a dimension of 9,223,372,036,854,775,808 is over 2,147,483,647"),
], ids=lambda v: str(v)[:24] if not isinstance(v, tuple) else ".".join(map(str, v[2:])))
def test_wrong_value_in_a_layer_argument(capsys, tmp_path, fixture, path, value, needle):
    """Layer arguments beyond the recurrent ones: numbers, lists of numbers, axes, shapes and
    sizes that would overflow ONNX's int64 shapes are refused where they are read."""
    convert_fails(capsys, tmp_path, _k2_fixture(tmp_path, fixture, path, value), needle)


def test_wrong_type_of_an_attention_rate(capsys, tmp_path):
    """MultiHeadAttention's dropout decides Keras 3's masked-row rule: a string there is refused."""
    args = _k3(tmp_path, "config.json", (*L, 3, "config", "dropout"), "x", "k3_mha_attention_mask.keras")
    convert_fails(capsys, tmp_path, args, "layer 'multi_head_attention', key 'dropout': must be a finite number")
