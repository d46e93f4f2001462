"""A model config read into specs, refused where it cannot be exact: unknown layer classes,
argument values, the Keras-version rule, and graph wiring (cycles, dangling inputs, nested
models), each one line naming the layer, exit 2; a shared layer converts with one copy of its
weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.cli import main

from ..conftest import convert_fails, lstm_weights, write_layer_json


def test_unknown_layer_classes_are_all_listed(capsys, tmp_path):
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "inp", "batch_shape": [None, 4, 2]}},
        {"class_name": "Lambda", "config": {"name": "code", "function": "cHJpbnQoKQ=="}},
        {"class_name": "LSTM", "config": {"name": "enc", "units": 3}},
        {"class_name": "MyCustomLayer", "config": {"name": "mine"}},
    ]}}
    model = tmp_path / "m.json"
    model.write_text(json.dumps(config))
    npz = tmp_path / "w.npz"
    np.savez(npz, *lstm_weights())
    line = convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"],
                          "'code' (Lambda)", "'mine' (MyCustomLayer)")
    assert "unsupported layer" in line


@pytest.mark.parametrize(
    "change,needles",
    [
        ({"return_state": 1}, ["layer 'enc'", "return_state", "true/false"]),
        ({"activation": "threshold"}, ["layer 'enc'", "activation", "threshold", "arguments"]),
        ({"activation": "no_such_fn"}, ["layer 'enc'", "unknown activation 'no_such_fn'"]),
        ({"activation": {"class_name": "MyAct", "module": "evil", "config": {}}}, ["layer 'enc'", "custom activation"]),
        ({"units": -3}, ["layer 'enc'", "units"]),
        ({"go_backwards": "yes"}, ["layer 'enc'", "go_backwards"]),
        ({"frobnicate": 1}, ["layer 'enc'", "unknown argument", "frobnicate"]),
        ({"time_major": True}, ["layer 'enc'", "time_major"]),
        ({"dtype": "float16"}, ["layer 'enc'", "dtype"]),
        ({"dropout": 3.0}, ["layer 'enc'", "dropout"]),
    ],
    ids=["non-bool-flag", "threshold", "unknown-activation", "custom-activation", "units", "bool", "unknown-key",
         "time_major", "dtype", "dropout"],
)
def test_unsupported_argument_values(capsys, tmp_path, change, needles):
    config = {"name": "enc", "units": 3, **change}
    model, npz = write_layer_json(tmp_path, "LSTM", config, lstm_weights())
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], *needles)


def test_hard_sigmoid_without_a_version_asks_for_one(capsys, tmp_path):
    config = {"name": "enc", "units": 3, "recurrent_activation": "hard_sigmoid", "activation": "tanh", "use_bias": True}
    model, npz = write_layer_json(tmp_path, "LSTM", config, lstm_weights())
    convert_fails(capsys, tmp_path, [model, "--weights", npz], "layer 'enc'", "--keras-version")


def test_version_independent_json_needs_no_version(tmp_path, capsys):
    config = {"name": "enc", "units": 3, "recurrent_activation": "sigmoid", "activation": "tanh"}
    model, npz = write_layer_json(tmp_path, "LSTM", config, lstm_weights())
    assert main(["convert", str(model), "--weights", str(npz), "-o", str(tmp_path / "ok.onnx")]) == 0
    assert (tmp_path / "ok.onnx").exists()


def _functional(tmp_path, layers, inputs, outputs):
    config = {"class_name": "Functional", "config": {"name": "f", "layers": layers, "input_layers": inputs,
                                                      "output_layers": outputs}}
    model = tmp_path / "f.json"
    model.write_text(json.dumps(config))
    npz = tmp_path / "w.npz"
    np.savez(npz, *lstm_weights())
    return model, npz


def _lstm_entry(name, source, units=3):
    return {"class_name": "LSTM", "name": name, "config": {"name": name, "units": units, "return_sequences": True},
            "inbound_nodes": [[[source, 0, 0, {}]]]}


def test_graph_with_a_cycle(capsys, tmp_path):
    layers = [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              _lstm_entry("a", "b"), _lstm_entry("b", "a")]
    model, npz = _functional(tmp_path, layers, [["x", 0, 0]], [["b", 0, 0]])
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "layer 'a'",
                   "'b'", "not produced by any layer")


def test_dangling_input(capsys, tmp_path):
    layers = [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              {"class_name": "InputLayer", "name": "unused", "config": {"name": "unused", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              _lstm_entry("a", "x")]
    model, npz = _functional(tmp_path, layers, [["x", 0, 0], ["unused", 0, 0]], [["a", 0, 0]])
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'unused'", "feeds no layer")


def test_shared_layer_converts_with_one_copy_of_its_weights(tmp_path):
    """A layer called twice: two calls in the graph, one set of weights (not an error)."""
    import onnxruntime as ort

    from kerasrnn2onnx.reference import run_model

    entry = _lstm_entry("a", "x")
    entry["inbound_nodes"].append([["y", 0, 0, {}]])
    layers = [{"class_name": "InputLayer", "name": n, "config": {"name": n, "batch_shape": [None, 4, 2]},
               "inbound_nodes": []} for n in ("x", "y")] + [entry]
    rng = np.random.default_rng(0)
    model, npz = _functional(tmp_path, layers, [["x", 0, 0], ["y", 0, 0]], [["a", 0, 0], ["a", 1, 0]])
    np.savez(npz, *[rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in lstm_weights()])
    spec = kerasrnn2onnx.load(model, weights=npz, keras_version=3)
    proto = kerasrnn2onnx.convert(spec, strategy="native")
    assert [o.name for o in proto.graph.output] == ["a", "a#1"]
    weights = sorted(i.name.rsplit(".", 1)[-1] for i in proto.graph.initializer if len(i.dims) >= 2)
    assert weights == ["B", "R", "W"]  # once, shared by both LSTM nodes
    xs = [rng.standard_normal((2, 4, 2)).astype(np.float32) for _ in range(2)]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for got, want in zip(session.run(None, {"x": xs[0], "y": xs[1]}), run_model(spec, xs), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_unsupported_layer_inside_a_nested_model_is_named(capsys, tmp_path):
    inner = {"name": "inner", "layers": [
        {"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [None, 4, 2]}},
        {"class_name": "Lambda", "config": {"name": "code", "function": "x"}}]}
    layers = [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              {"class_name": "Sequential", "name": "inner", "config": inner, "inbound_nodes": [[["x", 0, 0, {}]]]},
              _lstm_entry("a", "inner")]
    model, npz = _functional(tmp_path, layers, [["x", 0, 0]], [["a", 0, 0]])
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'inner/code' (Lambda)")


def test_nested_model_call_that_does_not_exist_is_refused(capsys, tmp_path):
    """A nested model called twice is inlined per call (tf-keras numbers the calls 1 and 2
    when the model starts with an InputLayer): a reference to call 3 is one line, exit 2."""
    inner = {"name": "inner", "layers": [
        {"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [None, 4, 2]}},
        {"class_name": "LSTM", "config": {"name": "l", "units": 3, "return_sequences": True}}]}
    layers = [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              {"class_name": "Sequential", "name": "inner", "config": inner,
               "inbound_nodes": [[["x", 0, 0, {}]], [["x", 0, 0, {}]]]}]
    model, npz = _functional(tmp_path, layers, [["x", 0, 0]], [["inner", 3, 0]])
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'inner'", "has no call 3")


@pytest.mark.parametrize("declared", [{"batch_input_shape": [None, 5, 2]}, {"batch_shape": [None, 5, 2]},
                                      {"input_shape": [5, 2]}, {"input_dim": 2, "input_length": 5}],
                         ids=["batch_input_shape", "batch_shape", "input_shape", "input_dim"])
def test_a_bare_layer_config_keeps_the_time_its_own_config_declares(tmp_path, declared):
    """tf-keras writes a first layer's input_shape= into its get_config() (batch_input_shape);
    a bare layer config read as a model takes its input's shape from there, as a Sequential
    without an InputLayer does: the fixed time is what unroll and the Scan-less targets need
    (the bare layer's input used to be all dynamic, so unroll=True was refused)."""
    config = {"name": "enc", "units": 3, "unroll": True, "recurrent_activation": "sigmoid", **declared}
    model, npz = write_layer_json(tmp_path, "LSTM", config, lstm_weights())
    spec = kerasrnn2onnx.load(model, npz)
    (inp,) = spec.inputs
    assert spec.time_dims()[inp.name] == 5 and inp.features == 2
    proto = kerasrnn2onnx.convert(model, weights=npz, strategy="unroll")
    dims = [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [5, 2]


def test_a_bare_layer_config_without_a_declared_shape_stays_dynamic(tmp_path):
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3, "recurrent_activation": "sigmoid"},
                                  lstm_weights())
    spec = kerasrnn2onnx.load(model, npz)
    assert spec.time_dims()[spec.inputs[0].name] == "time"  # a named dynamic dim
