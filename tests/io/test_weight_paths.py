"""Keras 3 object paths rebuilt from the config, checked against real files, and weights
files that do not match their config (one line, exit 2)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import h5py
import numpy as np
import pytest

from kerasrnn2onnx.io.keras3_paths import layer_paths, to_snake_case, weight_objects

from ..conftest import FIXTURES, convert_fails, edit_keras_weights


@pytest.mark.parametrize("class_name, snake", [
    ("LSTM", "lstm"), ("GRUCell", "gru_cell"), ("SimpleRNN", "simple_rnn"), ("StackedRNNCells", "stacked_rnn_cells"),
    ("TimeDistributed", "time_distributed"), ("Conv1D", "conv1d"), ("LayerNormalization", "layer_normalization"),
    ("MinimalRNNCell", "minimal_rnn_cell"), ("Functional", "functional"), ("InputLayer", "input_layer"),
])
def test_snake_case_matches_keras(class_name, snake):
    assert to_snake_case(class_name) == snake


def _archives_with_names():
    """Every Keras 3 archive fixture (Keras 3 records each layer's name on its vars group)."""
    return sorted(p.name for p in FIXTURES.glob("k3_*.keras"))


@pytest.mark.parametrize("archive", _archives_with_names())
def test_every_path_holds_the_layer_the_config_names(archive):
    """The path computed for each config layer is the group Keras wrote for that very layer:
    Keras 3 records the layer's name on the group, which the rule never reads."""
    with zipfile.ZipFile(FIXTURES / archive) as zf:
        config = json.loads(zf.read("config.json"))
        data = zf.read("model.weights.h5")
    paths = layer_paths(config)
    with h5py.File(io.BytesIO(data), "r") as handle:
        for key, path in paths.items():
            if path is None:
                continue
            stored = handle[f"{path}/vars"].attrs["name"]
            assert stored == key[-1], (archive, key, path)


def test_named_chain_paths_disagree_with_names():
    with zipfile.ZipFile(FIXTURES / "k3_named_chain.keras") as zf:
        paths = layer_paths(json.loads(zf.read("config.json")))
    assert paths[("lstm_1",)] == "layers/lstm" and paths[("lstm",)] == "layers/lstm_1"
    assert paths[("bi",)] == "layers/bidirectional" and paths[("word-emb",)] == "layers/embedding"


def test_nested_models_reusing_names():
    with zipfile.ZipFile(FIXTURES / "k3_named_nested.keras") as zf:
        paths = layer_paths(json.loads(zf.read("config.json")))
    assert paths[("enc", "rnn")] == "layers/sequential/layers/lstm"
    assert paths[("dec", "rnn")] == "layers/functional/layers/gru"
    assert paths[("rnn",)] == "layers/simple_rnn"


def test_sub_objects_in_get_weights_order():
    stacked = {"cell": {"class_name": "StackedRNNCells", "config": {"cells": [
        {"class_name": "LSTMCell", "config": {}}, {"class_name": "GRUCell", "config": {}},
        {"class_name": "LSTMCell", "config": {}}]}}}
    assert weight_objects("RNN", stacked) == ("", "cell", "cell/cells/lstm_cell", "cell/cells/gru_cell",
                                              "cell/cells/lstm_cell_1")
    bidi = {"layer": {"class_name": "GRU", "config": {}}}
    assert weight_objects("Bidirectional", bidi) == ("", "forward_layer", "forward_layer/cell", "backward_layer",
                                                     "backward_layer/cell")
    td = {"layer": {"class_name": "Dense", "config": {}}}
    assert weight_objects("TimeDistributed", td) == ("", "layer")


def _weights_pair(tmp_path, name):
    model = tmp_path / f"{name}.json"
    weights = tmp_path / f"{name}.weights.h5"
    shutil.copy(FIXTURES / f"{name}.json", model)
    shutil.copy(FIXTURES / f"{name}.weights.h5", weights)
    return model, weights


def test_missing_group_names_layer_and_path(capsys, tmp_path):
    broken = tmp_path / "broken.keras"
    edit_keras_weights(FIXTURES / "k3_named_chain.keras", broken, lambda h: h["layers"].pop("lstm_1"))
    convert_fails(capsys, tmp_path, [broken], "layer 'lstm'", "'layers/lstm_1'")


def test_missing_cell_group_names_the_path(capsys, tmp_path):
    broken = tmp_path / "broken.keras"
    edit_keras_weights(FIXTURES / "k3_named_wrappers.keras", broken,
                        lambda h: h["layers/rnn/cell/cells"].pop("lstm_cell_1"))
    convert_fails(capsys, tmp_path, [broken], "layer 'stack'", "'layers/rnn/cell/cells/lstm_cell_1'")


@pytest.mark.parametrize("fixture", ["k3_named_chain_weights", "k2_v3_named_chain_weights"])
def test_weights_file_with_one_layer_too_many(capsys, tmp_path, fixture):
    model, weights = _weights_pair(tmp_path, fixture)
    with h5py.File(weights, "r+") as handle:
        handle.copy("layers/lstm_1", "layers/lstm_2")
    convert_fails(capsys, tmp_path, [model, "--weights", weights], "'layers/lstm_2'", "no layer of the config")


def test_weights_file_with_a_wrong_shape(capsys, tmp_path):
    model, weights = _weights_pair(tmp_path, "k3_named_chain_weights")
    with h5py.File(weights, "r+") as handle:
        group = handle["layers/lstm/cell/vars"]
        data = group["0"][()]
        del group["0"]
        group["0"] = np.concatenate([data, data[:1]])
    convert_fails(capsys, tmp_path, [model, "--weights", weights], "layer 'lstm_1'", "kernel")


def test_archive_whose_groups_belong_to_other_layers(capsys, tmp_path):
    def rename(handle):
        handle["layers/lstm_1/vars"].attrs["name"] = "lstm_1"

    broken = tmp_path / "broken.keras"
    edit_keras_weights(FIXTURES / "k3_named_chain.keras", broken, rename)
    convert_fails(capsys, tmp_path, [broken], "layer 'lstm'", "'layers/lstm_1'", "named 'lstm_1'")
