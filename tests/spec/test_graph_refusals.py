"""Bad variants of the issue-11 graph features (TensorFlow function calls, time_major,
Dot, nested models): real tf-keras files with one config value changed get one line on
stderr and exit code 2."""

from __future__ import annotations

import json
import shutil
import zipfile

import h5py
import pytest

from ..conftest import FIXTURES, convert_fails


def _edit_config(tmp_path, fixture, edit):
    """Copy a Keras 2 .h5 fixture, applying ``edit`` to its model_config layers (by name)."""
    path = tmp_path / f"bad_{fixture}"
    shutil.copy(FIXTURES / fixture, path)
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        edit({layer["name"]: layer for layer in config["config"]["layers"]})
        handle.attrs["model_config"] = json.dumps(config)
    return path


def _set_function(layers, name):
    layers["tf.math.multiply"]["config"]["function"] = name


def _untranspose(layers):
    layers["tf.compat.v1.transpose"]["inbound_nodes"][0][3]["perm"] = [0, 1, 2]


def _slice_batch(layers):
    layers["tf.__operators__.getitem"]["inbound_nodes"][0][3]["slice_spec"][0]["start"] = 1


def _dot_axes(layers):
    layers["scores"]["config"]["axes"] = [2, 1]


def _perm_batch(layers):
    layers["tf.compat.v1.transpose"]["inbound_nodes"][0][3]["perm"] = [2, 0, 1]


CASES = [
    ("k2_tf_ops.h5", lambda layers: _set_function(layers, "math.cumsum"), ("'math.cumsum'", "not supported")),
    ("k2_tf_ops.h5", lambda layers: _set_function(layers, "__import__"), ("'__import__'", "not supported")),
    ("k2_tf_ops.h5", _slice_batch, ("slicing the batch axis",)),
    ("k2_tf_ops.h5", _perm_batch, ("moves the batch axis",)),
    ("k2_tf_time_major.h5", _untranspose, ("'tm-lstm'", "time_major=True reads")),
    ("k2_dot_attention.h5", _dot_axes, ("'scores'", "sizes 4 and 5")),
]


@pytest.mark.parametrize("fixture,edit,needles", CASES, ids=[
    "unknown_function", "import_named", "slice_batch", "perm_batch", "time_major_on_batch_major", "dot_axes"])
def test_graph_variant_refused(capsys, tmp_path, fixture, edit, needles):
    convert_fails(capsys, tmp_path, [_edit_config(tmp_path, fixture, edit)], *needles)


def _drop_state(layers):
    layers["bi-enc"]["inbound_nodes"][0].pop()  # c-bwd: three states for two LSTM halves


def _odd_state(layers):
    layers["bi-enc"]["inbound_nodes"][0].pop()
    layers["bi-enc"]["inbound_nodes"][0].pop()
    layers["bi-enc"]["inbound_nodes"][0].pop()  # one state for two LSTM halves of two each


@pytest.mark.parametrize("edit,count", [(_drop_state, 3), (_odd_state, 1)], ids=["three", "one"])
def test_bidirectional_initial_state_count_refused(capsys, tmp_path, edit, count):
    path = _edit_config(tmp_path, "k2_bidi_init_state_lstm.h5", edit)
    convert_fails(capsys, tmp_path, [path], "'bi-enc'", f"initial_state has {count} tensor(s)", "takes 4")


def _edit_keras_config(tmp_path, fixture, edit):
    """Copy a Keras 3 .keras fixture, applying ``edit`` to its config.json layers (by name)."""
    path = tmp_path / f"bad_{fixture}"
    with zipfile.ZipFile(FIXTURES / fixture) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit({layer["name"]: layer for layer in config["config"]["layers"]})
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _k3_drop_state(layers):
    layers["bi-enc"]["inbound_nodes"][0]["kwargs"]["initial_state"].pop()


def test_keras3_bidirectional_initial_state_count_refused(capsys, tmp_path):
    path = _edit_keras_config(tmp_path, "k3_bidi_init_state_lstm.keras", _k3_drop_state)
    convert_fails(capsys, tmp_path, [path], "'bi-enc'", "initial_state has 3 tensor(s)", "takes 4")
