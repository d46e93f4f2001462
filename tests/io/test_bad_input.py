"""Bad files (missing, empty, truncated, not a Keras model, weights that do not fit their
config): one line on stderr naming what is wrong and where, exit code 2, no traceback, and no
output file."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np

from kerasrnn2onnx.cli import main

from ..conftest import FIXTURES, convert_fails, edit_keras_weights, lstm_weights, write_layer_json


def test_missing_file(capsys, tmp_path):
    convert_fails(capsys, tmp_path, [tmp_path / "nope.keras"], "nope.keras", "not found")


def test_empty_file(capsys, tmp_path):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    convert_fails(capsys, tmp_path, [empty], "empty.keras", "empty")


def test_truncated_keras_archive(capsys, tmp_path):
    data = (FIXTURES / "k3_lstm.keras").read_bytes()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: len(data) // 2])
    convert_fails(capsys, tmp_path, [cut], "cut.keras", "corrupt or truncated")


def test_h5_that_is_not_keras(capsys, tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = np.arange(3)
    convert_fails(capsys, tmp_path, [path], "data.h5", "not a Keras model")


def test_text_file_that_is_not_a_model(capsys, tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("hello")
    convert_fails(capsys, tmp_path, [path], "notes.keras", "not a Keras model file")


def test_missing_weight_in_keras_archive(capsys, tmp_path):
    broken = tmp_path / "broken.keras"
    edit_keras_weights(FIXTURES / "k3_lstm.keras", broken, lambda h: h["layers/lstm/cell/vars"].pop("2"))
    convert_fails(capsys, tmp_path, [broken], "layer 'lstm'", "missing weight", "bias")


def test_wrong_weight_shape_in_keras_archive(capsys, tmp_path):
    def shrink(handle):
        vars_ = handle["layers/lstm/cell/vars"]
        data = vars_["1"][()]
        del vars_["1"]
        vars_["1"] = data[:, :-1]

    broken = tmp_path / "broken.keras"
    edit_keras_weights(FIXTURES / "k3_lstm.keras", broken, shrink)
    convert_fails(capsys, tmp_path, [broken], "layer 'lstm'", "recurrent_kernel", "expected (5, 20)")


def test_missing_weight_in_npz(capsys, tmp_path):
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, lstm_weights()[:2])
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "layer 'enc'", "missing weight")


def test_wrong_weight_shape_in_npz(capsys, tmp_path):
    weights = lstm_weights()
    weights[2] = np.zeros((7,), np.float32)
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, weights)
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "layer 'enc'", "(7,)", "(12,)")


def test_extra_weights_in_npz(capsys, tmp_path):
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, lstm_weights() + [np.zeros(2)])
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "left over")


def test_json_without_weights(capsys, tmp_path):
    model, _ = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, lstm_weights())
    convert_fails(capsys, tmp_path, [model], "--weights")


def test_contradicting_version_flag(capsys, tmp_path):
    convert_fails(capsys, tmp_path, [FIXTURES / "k3_lstm.keras", "--keras-version", "2"], "Keras 3.15.1")


def test_weights_only_h5_as_model(capsys, tmp_path):
    convert_fails(capsys, tmp_path, [FIXTURES / "k2_json_weights_h5.weights.h5"], "weights-only")


def test_failed_conversion_leaves_existing_output_untouched(capsys, tmp_path):
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous")
    assert main(["convert", str(tmp_path / "missing.keras"), "-o", str(out)]) == 2
    assert out.read_bytes() == b"previous"


def test_model_file_code_is_never_imported(tmp_path, capsys):
    """A config naming a module is read as data: the module is never imported."""
    config = {"module": "os", "class_name": "system", "registered_name": "os>system", "config": {"name": "x"}}
    model = tmp_path / "m.json"
    model.write_text(json.dumps(config))
    npz = tmp_path / "w.npz"
    np.savez(npz, np.zeros(1))
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'x' (system)")


def test_renamed_file_is_read_by_content(tmp_path):
    renamed = tmp_path / "model.bin"
    shutil.copy(FIXTURES / "k2_lstm.h5", renamed)
    assert main(["convert", str(renamed), "-o", str(tmp_path / "x.onnx")]) == 0
