"""Feed-forward layers the converter cannot make exact are refused with the layer and the
argument named (one line, exit 2 from the CLI); the numbers of what it does convert are
checked against real-Keras fixtures in tests/parity/test_fixtures_parity.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import ConversionError

from ..conftest import GRU_ZEROS, write_functional_json


def _model(tmp_path: Path, shape: list, layers: list[tuple[str, dict]], weights: list[tuple[int, ...]],
           dtype: str = "float32") -> tuple[Path, Path]:
    """A Keras 2 style Sequential JSON, the layers under test, then GRU(2); flat .npz weights."""
    entries: list[dict[str, Any]] = [{"class_name": "InputLayer",
                                      "config": {"batch_input_shape": [None, *shape], "dtype": dtype, "name": "x"}}]
    entries += [{"class_name": cls, "config": config} for cls, config in layers]
    doc = {"class_name": "Sequential", "config": {"name": "m", "layers": entries}, "keras_version": "2.21.0"}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    npz = tmp_path / "m.npz"
    rng = np.random.default_rng(0)
    # refusals come before the GRU reads its weights: one placeholder array keeps the file valid
    np.savez(npz, *[rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in weights or [(1,)]])
    return path, npz


GRU = ("GRU", {"name": "gru", "units": 2, "reset_after": True, "recurrent_activation": "sigmoid"})

CASES = {
    "strided_dilated_conv": (
        [6, 6, 2], [("Conv2D", {"name": "front-conv", "filters": 2, "kernel_size": [3, 3], "strides": [2, 2],
                                "dilation_rate": [2, 2]}), ("Reshape", {"name": "r", "target_shape": [1, 2]}), GRU],
        [(3, 3, 2, 2), (2,)], "front-conv", "dilation_rate"),
    "transpose_over_dynamic_axis": (
        [None, 4, 2], [("Conv2DTranspose", {"name": "up-conv", "filters": 2, "kernel_size": 3, "strides": 2}), GRU],
        [(3, 3, 2, 2), (2,)], "up-conv", "Conv2DTranspose"),
    "bicubic_upsampling": (
        [4, 4, 2], [("UpSampling2D", {"name": "up", "size": [2, 2], "interpolation": "bicubic"}), GRU],
        [], "up", "interpolation"),
    "prelu_over_dynamic_time": (
        [None, 3], [("PReLU", {"name": "act", "shared_axes": None}), GRU], [], "act", "shared_axes"),
    "time_distributed_functional_that_branches": (
        [3, 4], [("TimeDistributed", {"name": "td", "layer": {"class_name": "Functional", "config": {
            "name": "branchy", "input_layers": [["f", 0, 0]], "output_layers": [["sum", 0, 0]], "layers": [
                {"class_name": "InputLayer", "name": "f", "inbound_nodes": [],
                 "config": {"name": "f", "batch_input_shape": [None, 4], "dtype": "float32"}},
                {"class_name": "Dense", "name": "a", "inbound_nodes": [[["f", 0, 0, {}]]],
                 "config": {"name": "a", "units": 2}},
                {"class_name": "Dense", "name": "b", "inbound_nodes": [[["f", 0, 0, {}]]],
                 "config": {"name": "b", "units": 2}},
                {"class_name": "Add", "name": "sum", "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]],
                 "config": {"name": "sum"}}]}}}), GRU],
        [], "td", "chain"),
    "causal_channels_first": (
        [6, 3], [("Conv1D", {"name": "c1", "filters": 2, "kernel_size": 2, "padding": "causal",
                             "data_format": "channels_first"}), GRU], [(2, 6, 2), (2,)], "c1", "padding"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusal_names_layer_and_argument(tmp_path, case):
    shape, layers, weights, layer, argument = CASES[case]
    path, npz = _model(tmp_path, shape, layers, weights)
    with pytest.raises(ConversionError) as info:
        kerasrnn2onnx.load(path, weights=npz)
    message = str(info.value)
    assert layer in message and argument in message, message


def test_softmax_of_a_masked_tensor_is_refused(tmp_path):
    layers = [("Embedding", {"name": "emb", "input_dim": 5, "output_dim": 3, "mask_zero": True}),
              ("Softmax", {"name": "probs", "axis": -1}), GRU]
    path, npz = _model(tmp_path, [None], layers, [(5, 3)], dtype="int32")
    with pytest.raises(ConversionError, match="probs.*mask"):
        kerasrnn2onnx.load(path, weights=npz)


def _functional(tmp_path: Path, layers: list[dict[str, Any]], inputs: list[tuple[str, list]]) -> tuple[Path, Path]:
    """A Keras 2 style functional JSON (inbound nodes as [layer, node, tensor, kwargs])."""
    entries: list[dict[str, Any]] = [
        {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
         "config": {"batch_input_shape": [None, *shape], "dtype": "float32", "name": name}} for name, shape in inputs]
    entries += layers
    doc = {"class_name": "Functional", "keras_version": "2.21.0",
           "config": {"name": "m", "layers": entries, "input_layers": [[n, 0, 0] for n, _ in inputs],
                      "output_layers": [[layers[-1]["name"], 0, 0]]}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    npz = tmp_path / "m.npz"
    np.savez(npz, np.zeros((4, 12), np.float32), np.zeros((3, 12), np.float32), np.zeros((12,), np.float32))
    return path, npz


def _softmax(name: str, source: str, mask: str | None = None) -> dict[str, Any]:
    kwargs = {"mask": [mask, 0, 0]} if mask else {}
    return {"class_name": "Softmax", "name": name, "config": {"name": name, "axis": -1},
            "inbound_nodes": [[[source, 0, 0, kwargs]]]}


LSTM = {"class_name": "LSTM", "name": "rnn", "config": {"name": "rnn", "units": 3},
        "inbound_nodes": [[["probs", 0, 0, {}]]]}

SOFTMAX_MASK_REFUSALS = {
    # Keras passes the mask= tensor on as the Softmax output's mask; an LSTM would read it
    "mask_reaches_a_recurrent_layer": ([_softmax("probs", "x", "m"), LSTM], [("x", [5, 4]), ("m", [5, 4])],
                                       "rnn", "mask"),
    # attention layers read their inputs' masks too
    "mask_reaches_an_attention_layer": ([_softmax("probs", "x", "m"), {
        "class_name": "Attention", "name": "attn", "config": {"name": "attn"},
        "inbound_nodes": [[["probs", 0, 0, {}], ["probs", 0, 0, {}]]]}],
        [("x", [5, 4]), ("m", [5, 4])], "attn", "mask"),
    # a (batch, 4) mask against (batch, 5, 4): the batch axis would meet the time axis
    "mask_of_lower_rank": ([_softmax("probs", "x", "m")], [("x", [5, 4]), ("m", [4])], "probs", "rank"),
    "mask_that_does_not_broadcast": ([_softmax("probs", "x", "m")], [("x", [5, 4]), ("m", [5, 3])], "probs",
                                     "broadcast"),
}


@pytest.mark.parametrize("case", sorted(SOFTMAX_MASK_REFUSALS))
def test_softmax_mask_refusals_name_layer_and_reason(tmp_path, case):
    layers, inputs, layer, words = SOFTMAX_MASK_REFUSALS[case]
    path, npz = _functional(tmp_path, layers, inputs)
    with pytest.raises(ConversionError) as info:
        kerasrnn2onnx.load(path, weights=npz)
    message = str(info.value)
    assert layer in message and words in message, message


def _td(name: str, source: str, inner: dict[str, Any]) -> dict[str, Any]:
    return {"class_name": "TimeDistributed", "name": name, "config": {"name": name, "layer": inner},
            "inbound_nodes": [[[source, 0, 0, {}]]]}


CHAR_EMB = {"class_name": "Embedding", "config": {"name": "char-emb", "input_dim": 12, "output_dim": 4,
                                                  "mask_zero": True}}
TD_EMBEDDING_REFUSALS = {
    # tf-keras hands the (batch, words, chars) mask on; TimeDistributed(GlobalAveragePooling1D) would read it per id
    "masked_mean_over_chars": ([_td("chars", "x", CHAR_EMB), _td("mean", "chars", {
        "class_name": "GlobalAveragePooling1D", "config": {"name": "gap"}})], "mean", "mask"),
    # inside a wrapped model the mask reaches the model's next layer
    "followed_inside_the_wrapped_model": ([_td("chars", "x", {"class_name": "Sequential", "config": {
        "name": "word", "layers": [CHAR_EMB, {"class_name": "Flatten", "config": {"name": "flat"}}]}})],
        "chars", "mask_zero"),
}


@pytest.mark.parametrize("case", sorted(TD_EMBEDDING_REFUSALS))
def test_time_distributed_embedding_mask_zero_refusals(tmp_path, case):
    layers, layer, words = TD_EMBEDDING_REFUSALS[case]
    entries: list[dict[str, Any]] = [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
                                      "config": {"batch_input_shape": [None, 5, 6], "dtype": "int32", "name": "x"}}]
    path, npz = write_functional_json(tmp_path, entries + layers, ["x"], layers[-1]["name"],
                                      [np.zeros((12, 4), np.float32)], keras_version="2.21.0")
    with pytest.raises(ConversionError) as info:
        kerasrnn2onnx.load(path, weights=npz)
    message = str(info.value)
    assert layer in message and words in message, message


def _k3_node(*sources: str, **kwargs: str) -> list[dict[str, Any]]:
    def tensor(name: str) -> dict[str, Any]:
        return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}
    return [{"args": [tensor(s) for s in sources], "kwargs": {k: tensor(v) for k, v in kwargs.items()}}]


@pytest.mark.parametrize("extra", [{"dtype": "float32"}, {"sparse": True}])
def test_convert_to_tensor_of_a_mask_is_the_identity_only(tmp_path, extra):
    """Keras 3's Attention.compute_mask records ops.convert_to_tensor(mask) as a node; with a
    dtype (or sparse) it is no longer the boolean mask a recurrent layer reads."""
    layers = [
        {"class_name": "InputLayer", "name": "ids", "inbound_nodes": [],
         "config": {"name": "ids", "batch_shape": [None, None], "dtype": "int32"}},
        {"class_name": "Embedding", "name": "emb", "inbound_nodes": _k3_node("ids"),
         "config": {"name": "emb", "input_dim": 5, "output_dim": 3, "mask_zero": True}},
        {"module": "keras.src.ops.numpy", "class_name": "NotEqual", "name": "not_equal",
         "config": {"name": "not_equal"},
         "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["ids", 0, 0]}},
                                     0], "kwargs": {}}]},
        {"module": "keras.src.ops.core", "class_name": "ConvertToTensor", "name": "convert",
         "config": {"name": "convert", "dtype": None, "sparse": None, "ragged": None, **extra},
         "inbound_nodes": _k3_node("not_equal")},
        {"class_name": "GRU", "name": "rnn", "inbound_nodes": _k3_node("emb", mask="convert"),
         "config": {"name": "rnn", "units": 2, "reset_after": True}},
    ]
    path, npz = write_functional_json(tmp_path, layers, ["ids"], "rnn", GRU_ZEROS)
    with pytest.raises(ConversionError) as info:
        kerasrnn2onnx.load(path, weights=npz, keras_version=3)
    message = str(info.value)
    assert "convert" in message and next(iter(extra)) in message, message
