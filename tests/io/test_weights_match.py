"""Keras 2 HDF5 weights matched to the config as Keras matches them: by order by default
(``model.load_weights``), by name on request (``by_name=True``); mismatches name both sides."""

from __future__ import annotations

import json
import shutil

import h5py
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import ConversionError
from kerasrnn2onnx.io import load_raw_model

from ..conftest import FIXTURES, convert_fails


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pair(tmp_path, name="k2_order_auto_names"):
    model, weights = tmp_path / f"{name}.json", tmp_path / f"{name}.weights.h5"
    shutil.copy(FIXTURES / f"{name}.json", model)
    shutil.copy(FIXTURES / f"{name}.weights.h5", weights)
    return model, weights


def test_old_file_names_differ_from_the_config():
    """The fixture's premise: the file's lstm_1 is the config's lstm (first layer)."""
    with h5py.File(FIXTURES / "k2_order_auto_names.weights.h5", "r") as handle:
        names = [_text(n) for n in handle.attrs["layer_names"]]
        weight_names = [_text(w) for w in handle["lstm_1"].attrs["weight_names"]]
        assert _text(handle.attrs["backend"]) == "theano"
    assert names == ["input_1", "lstm_1", "lstm_2"] and weight_names[0] == "lstm_1/kernel"
    config = json.loads((FIXTURES / "k2_order_auto_names.json").read_text())
    assert [e["config"]["name"] for e in config["config"]["layers"]] == ["input", "lstm", "lstm_1"]
    raw = load_raw_model(FIXTURES / "k2_order_auto_names.json", FIXTURES / "k2_order_auto_names.weights.h5")
    assert raw.layer("lstm").weights[0].shape == (2, 20) and raw.layer("lstm_1").weights[0].shape == (5, 12)


def test_by_name_puts_the_weights_on_the_wrong_layer(capsys, tmp_path):
    model, weights = _pair(tmp_path)
    convert_fails(capsys, tmp_path, [model, "--weights", weights, "--weights-match", "name"],
                   "layer 'lstm'", "no layer 'lstm'")


def test_one_layer_too_many_names_both_sides(capsys, tmp_path):
    model, weights = _pair(tmp_path)
    with h5py.File(weights, "r+") as handle:
        handle.copy("lstm_2", "lstm_3")
        handle.attrs["layer_names"] = [*(_text(n).encode() for n in handle.attrs["layer_names"]), b"lstm_3"]
    convert_fails(capsys, tmp_path, [model, "--weights", weights], "3 layer(s) with weights (lstm_1, lstm_2, lstm_3)",
                   "the config has 2 (lstm, lstm_1)")


def test_missing_group_names_both_sides(capsys, tmp_path):
    model, weights = _pair(tmp_path)
    with h5py.File(weights, "r+") as handle:
        del handle["lstm_2"]
        handle.attrs["layer_names"] = [b"input_1", b"lstm_1"]
    convert_fails(capsys, tmp_path, [model, "--weights", weights], "1 layer(s) with weights (lstm_1)",
                   "the config has 2 (lstm, lstm_1)")


def test_wrong_shape_names_the_file_layer(capsys, tmp_path):
    model, weights = _pair(tmp_path)
    with h5py.File(weights, "r+") as handle:
        group = handle["lstm_2/lstm_2"]
        data = group["kernel"][()]
        del group["kernel"]
        group["kernel"] = data[:-1]
    convert_fails(capsys, tmp_path, [model, "--weights", weights], "layer 'lstm_1'", "kernel", "(4, 12)",
                   "the weights file's layer 'lstm_2'")


def test_extra_array_in_a_group_names_the_file_layer(capsys, tmp_path):
    model, weights = _pair(tmp_path)
    with h5py.File(weights, "r+") as handle:
        group = handle["lstm_1"]
        group["lstm_1/extra"] = group["lstm_1/bias"][()]
        group.attrs["weight_names"] = [*(_text(w).encode() for w in group.attrs["weight_names"]), b"lstm_1/extra"]
    convert_fails(capsys, tmp_path, [model, "--weights", weights], "layer 'lstm'", "more weights",
                   "the weights file's layer 'lstm_1'")


def test_full_h5_is_matched_by_order_too(tmp_path):
    """A full .h5 whose weight groups were renamed still loads (Keras's load_model matches by order)."""
    path = tmp_path / "renamed.h5"
    shutil.copy(FIXTURES / "k2_named_chain.h5", path)
    with h5py.File(path, "r+") as handle:
        group = handle["model_weights"]
        names = [_text(n) for n in group.attrs["layer_names"]]
        for name in names:
            group.move(name, f"old_{name}")
        group.attrs["layer_names"] = [f"old_{n}".encode() for n in names]
    renamed = kerasrnn2onnx.load(path)
    original = kerasrnn2onnx.load(FIXTURES / "k2_named_chain.h5")
    assert [type(x).__name__ for x in renamed.layers] == [type(x).__name__ for x in original.layers]
    with pytest.raises(kerasrnn2onnx.LayerError, match="no layer"):
        kerasrnn2onnx.load(path, weights_match="name")


def test_theano_convolutions_are_refused(capsys, tmp_path):
    path = tmp_path / "theano.h5"
    shutil.copy(FIXTURES / "k2_conv_variants.h5", path)
    with h5py.File(path, "r+") as handle:
        handle["model_weights"].attrs["backend"] = b"theano"
    convert_fails(capsys, tmp_path, [path], "Theano", "not converted")


@pytest.mark.parametrize("model, weights", [
    ("k3_named_chain.keras", None),
    ("k3_named_chain_weights.json", "k3_named_chain_weights.weights.h5"),
    ("k2_json_npz.json", "k2_json_npz.npz"),
])
def test_match_rule_where_it_does_not_apply(model, weights):
    with pytest.raises(ConversionError, match="--weights-match"):
        kerasrnn2onnx.load(FIXTURES / model, FIXTURES / weights if weights else None, weights_match="order")


def test_unknown_match_rule():
    with pytest.raises(ConversionError, match="order, name"):
        kerasrnn2onnx.load(FIXTURES / "k2_named_chain.h5", weights_match="position")


def test_every_supported_layer_class_is_classified():
    """Order matching counts the layers that have weights: a new shape-only layer class must
    join WEIGHTLESS (or a family there), or every file with it fails to pair."""
    from kerasrnn2onnx.io.keras2_weights import has_weights
    from kerasrnn2onnx.spec.parse_layers import PARSERS

    weighted = {c for c in PARSERS if has_weights({"class_name": c, "config": {}})}
    assert weighted == {
        "BatchNormalization", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose",
        "Convolution1D", "Convolution2D", "Convolution2DTranspose", "Convolution3D", "Convolution3DTranspose", "Dense",
        "DepthwiseConv1D", "DepthwiseConv2D", "LayerNormalization", "Normalization", "PReLU", "SeparableConv1D",
        "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "TimeDistributed"}
    assert not has_weights({"class_name": "TimeDistributed", "config": {"layer": {"class_name": "Dropout"}}})
    assert not has_weights({"class_name": "LayerNormalization", "config": {"center": False, "scale": False}})


def test_cudnn_layout_bias_of_a_wrong_size_names_both_sides(capsys, tmp_path):
    """textgenrnn's trained rnn_1 stores CuDNNLSTM weights (bias 8u) that Keras 2's loader
    converts for an LSTM; a bias that is neither 4u nor 8u is refused with both sides named."""
    model, weights = _pair(tmp_path, "k2_trained_textgenrnn_rnn1")
    with h5py.File(weights, "r+") as handle:
        group = handle["rnn_1/rnn_1"]
        data = group["bias:0"][()]
        del group["bias:0"]
        group["bias:0"] = data[:-24]
    convert_fails(capsys, tmp_path, [model, "--weights", weights], "layer 'rnn_1'", "bias", "(1000,)", "(512,)",
                   "the weights file's layer 'rnn_1'")


def test_cudnn_layout_is_converted_as_keras_2_does():
    files = FIXTURES / "k2_trained_textgenrnn_rnn1.json", FIXTURES / "k2_trained_textgenrnn_rnn1.weights.h5"
    raw = load_raw_model(*files)
    assert raw.layer("rnn_1").weights[2].shape == (1024,) and raw.layer("rnn_1").keras2_layout
    spec = kerasrnn2onnx.load(*files)
    cell = spec.recurrent_layers[0].cells[0]
    assert cell.bias.shape == (512,)
