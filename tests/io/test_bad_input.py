"""Bad input: one line on stderr naming what is wrong and where, exit code 2, no
traceback, and no output file."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import h5py
import numpy as np
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.cli import main

from ..conftest import FIXTURES, write_layer_json


def _lstm_weights(units=3, features=2):
    return [np.zeros((features, 4 * units), np.float32), np.zeros((units, 4 * units), np.float32),
            np.zeros((4 * units,), np.float32)]


def _convert_fails(capsys, tmp_path, args, *needles):
    out = tmp_path / "out.onnx"
    code = main(["convert", *map(str, args), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.onnx")] == []
    return lines[0]


def _edit_keras_weights(src, dst, edit):
    """Copy a .keras archive, applying ``edit`` to its model.weights.h5."""
    with zipfile.ZipFile(src) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as handle:
        edit(handle)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(dst, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_missing_file(capsys, tmp_path):
    _convert_fails(capsys, tmp_path, [tmp_path / "nope.keras"], "nope.keras", "not found")


def test_empty_file(capsys, tmp_path):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    _convert_fails(capsys, tmp_path, [empty], "empty.keras", "empty")


def test_truncated_keras_archive(capsys, tmp_path):
    data = (FIXTURES / "k3_lstm.keras").read_bytes()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: len(data) // 2])
    _convert_fails(capsys, tmp_path, [cut], "cut.keras", "corrupt or truncated")


def test_h5_that_is_not_keras(capsys, tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = np.arange(3)
    _convert_fails(capsys, tmp_path, [path], "data.h5", "not a Keras model")


def test_text_file_that_is_not_a_model(capsys, tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("hello")
    _convert_fails(capsys, tmp_path, [path], "notes.keras", "not a Keras model file")


def test_missing_weight_in_keras_archive(capsys, tmp_path):
    broken = tmp_path / "broken.keras"
    _edit_keras_weights(FIXTURES / "k3_lstm.keras", broken, lambda h: h["layers/lstm/cell/vars"].pop("2"))
    _convert_fails(capsys, tmp_path, [broken], "layer 'lstm'", "missing weight", "bias")


def test_wrong_weight_shape_in_keras_archive(capsys, tmp_path):
    def shrink(handle):
        vars_ = handle["layers/lstm/cell/vars"]
        data = vars_["1"][()]
        del vars_["1"]
        vars_["1"] = data[:, :-1]

    broken = tmp_path / "broken.keras"
    _edit_keras_weights(FIXTURES / "k3_lstm.keras", broken, shrink)
    _convert_fails(capsys, tmp_path, [broken], "layer 'lstm'", "recurrent_kernel", "expected (5, 20)")


def test_missing_weight_in_npz(capsys, tmp_path):
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, _lstm_weights()[:2])
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "layer 'enc'", "missing weight")


def test_wrong_weight_shape_in_npz(capsys, tmp_path):
    weights = _lstm_weights()
    weights[2] = np.zeros((7,), np.float32)
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, weights)
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "layer 'enc'", "(7,)", "(12,)")


def test_extra_weights_in_npz(capsys, tmp_path):
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, _lstm_weights() + [np.zeros(2)])
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "left over")


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
    np.savez(npz, *_lstm_weights())
    line = _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"],
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
    model, npz = write_layer_json(tmp_path, "LSTM", config, _lstm_weights())
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], *needles)


def test_json_without_weights(capsys, tmp_path):
    model, _ = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3}, _lstm_weights())
    _convert_fails(capsys, tmp_path, [model], "--weights")


def test_hard_sigmoid_without_a_version_asks_for_one(capsys, tmp_path):
    config = {"name": "enc", "units": 3, "recurrent_activation": "hard_sigmoid", "activation": "tanh", "use_bias": True}
    model, npz = write_layer_json(tmp_path, "LSTM", config, _lstm_weights())
    _convert_fails(capsys, tmp_path, [model, "--weights", npz], "layer 'enc'", "--keras-version")


def test_version_independent_json_needs_no_version(tmp_path, capsys):
    config = {"name": "enc", "units": 3, "recurrent_activation": "sigmoid", "activation": "tanh"}
    model, npz = write_layer_json(tmp_path, "LSTM", config, _lstm_weights())
    assert main(["convert", str(model), "--weights", str(npz), "-o", str(tmp_path / "ok.onnx")]) == 0
    assert (tmp_path / "ok.onnx").exists()


def test_contradicting_version_flag(capsys, tmp_path):
    _convert_fails(capsys, tmp_path, [FIXTURES / "k3_lstm.keras", "--keras-version", "2"], "Keras 3.15.1")


def test_weights_only_h5_as_model(capsys, tmp_path):
    _convert_fails(capsys, tmp_path, [FIXTURES / "k2_json_weights_h5.weights.h5"], "weights-only")


def test_bad_opset(capsys, tmp_path):
    _convert_fails(capsys, tmp_path, [FIXTURES / "k3_lstm.keras", "--opset", "7"], "--opset")


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
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'x' (system)")


def test_renamed_file_is_read_by_content(tmp_path):
    renamed = tmp_path / "model.bin"
    shutil.copy(FIXTURES / "k2_lstm.h5", renamed)
    assert main(["convert", str(renamed), "-o", str(tmp_path / "x.onnx")]) == 0


def test_forced_native_strategy_for_an_activation_the_op_lacks(capsys, tmp_path):
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3, "activation": "gelu"}, _lstm_weights())
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3", "--strategy", "native"],
                   "layer 'enc'", "--strategy native", "gelu")


def test_unroll_with_a_dynamic_time_dimension(capsys, tmp_path):
    _convert_fails(capsys, tmp_path, [FIXTURES / "k3_lstm.keras", "--strategy", "unroll"],
                   "layer 'lstm'", "unroll", "fixed number of timesteps")


def _functional(tmp_path, layers, inputs, outputs):
    config = {"class_name": "Functional", "config": {"name": "f", "layers": layers, "input_layers": inputs,
                                                      "output_layers": outputs}}
    model = tmp_path / "f.json"
    model.write_text(json.dumps(config))
    npz = tmp_path / "w.npz"
    np.savez(npz, *_lstm_weights())
    return model, npz


def _lstm_entry(name, source, units=3):
    return {"class_name": "LSTM", "name": name, "config": {"name": name, "units": units, "return_sequences": True},
            "inbound_nodes": [[[source, 0, 0, {}]]]}


def test_graph_with_a_cycle(capsys, tmp_path):
    layers = [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              _lstm_entry("a", "b"), _lstm_entry("b", "a")]
    model, npz = _functional(tmp_path, layers, [["x", 0, 0]], [["b", 0, 0]])
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "layer 'a'",
                   "'b'", "not produced by any layer")


def test_dangling_input(capsys, tmp_path):
    layers = [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              {"class_name": "InputLayer", "name": "unused", "config": {"name": "unused", "batch_shape": [None, 4, 2]},
               "inbound_nodes": []},
              _lstm_entry("a", "x")]
    model, npz = _functional(tmp_path, layers, [["x", 0, 0], ["unused", 0, 0]], [["a", 0, 0]])
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'unused'", "feeds no layer")


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
    np.savez(npz, *[rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in _lstm_weights()])
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
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'inner/code' (Lambda)")


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
    _convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3"], "'inner'", "has no call 3")
