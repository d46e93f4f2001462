"""Stateful and streaming inference: state inputs/outputs, the Session, chunking, serving."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.cli import main
from kerasrnn2onnx.errors import RuntimeInputError
from kerasrnn2onnx.reference import run_model_with_states

from ..conftest import ATOL, FIXTURES, RTOL


def _stacked_masked_model(tmp_path, stateful: bool, batch: int | None):
    """Masking -> LSTM(rs) -> RNN([GRUCell, SimpleRNNCell], rs, go_backwards=False)."""
    rng = np.random.default_rng(7)
    cells = [{"class_name": "GRUCell", "config": {"name": "g", "units": 3}},
             {"class_name": "SimpleRNNCell", "config": {"name": "s", "units": 2}}]
    layers = [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [batch, None, 3]}},
        {"class_name": "Masking", "config": {"name": "mask", "mask_value": 0.0}},
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 4, "return_sequences": True, "stateful": stateful}},
        {"class_name": "RNN", "config": {"name": "stack", "return_sequences": True, "stateful": stateful,
                                         "cell": {"class_name": "StackedRNNCells", "config": {"cells": cells}}}},
    ]
    shapes = [(3, 16), (4, 16), (16,), (4, 9), (3, 9), (2, 9), (3, 2), (2, 2), (2,)]
    weights = [rng.uniform(-0.6, 0.6, s).astype(np.float32) for s in shapes]
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}}))
    np.savez(tmp_path / "w.npz", *weights)
    return path, tmp_path / "w.npz"


def _inputs(rng, batch=4, steps=11):
    x = rng.standard_normal((batch, steps, 3)).astype(np.float32)
    x[0, steps - 3:] = 0.0  # right padding
    x[1, :2] = 0.0  # left padding
    x[2, [1, steps - 2]] = 0.0  # holes
    return x


def test_stateful_layers_get_state_inputs_and_outputs(tmp_path):
    model, weights = _stacked_masked_model(tmp_path, stateful=True, batch=4)
    proto = kerasrnn2onnx.convert(model, weights=weights, keras_version=3)
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    assert inputs == ["x", "lstm/state_h_in", "lstm/state_c_in", "stack/g/state_h_in", "stack/s/state_h_in"]
    assert outputs == ["stack", "lstm/state_h_out", "lstm/state_c_out", "stack/g/state_h_out", "stack/s/state_h_out"]
    batch = proto.graph.input[1].type.tensor_type.shape.dim[0].dim_value
    assert batch == 4  # the fixed Keras batch is kept


@pytest.mark.parametrize("strategy", ["native", "scan"])
@pytest.mark.parametrize("seed", range(4))
def test_chunked_run_equals_one_pass(tmp_path, strategy, seed):
    """Property: any chunking of the time axis with carried states = one pass, masks included."""
    model, weights = _stacked_masked_model(tmp_path, stateful=False, batch=None)
    proto = kerasrnn2onnx.convert(model, weights=weights, keras_version=3, expose_states=True, strategy=strategy)
    rng = np.random.default_rng(seed)
    x = _inputs(rng)
    whole = kerasrnn2onnx.Session(proto).run([x])[0]
    spec = kerasrnn2onnx.load(model, weights=weights, keras_version=3)
    np.testing.assert_allclose(whole, run_model_with_states(spec, [x])[0][0], atol=ATOL, rtol=RTOL)
    cuts = np.sort(rng.choice(np.arange(1, x.shape[1]), size=rng.integers(1, 5), replace=False))
    session = kerasrnn2onnx.Session(proto)
    pieces = [session.run([chunk])[0] for chunk in np.split(x, cuts, axis=1)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=ATOL, rtol=RTOL)


def test_reset_states_of_chosen_rows(tmp_path):
    model, weights = _stacked_masked_model(tmp_path, stateful=True, batch=4)
    session = kerasrnn2onnx.Session(kerasrnn2onnx.convert(model, weights=weights, keras_version=3))
    rng = np.random.default_rng(0)
    first, second = _inputs(rng, steps=5), _inputs(rng, steps=5)
    session.run([first])
    session.reset_states(samples=[1, 3])
    carried = session.run([second])[0]
    fresh = kerasrnn2onnx.Session(kerasrnn2onnx.convert(model, weights=weights, keras_version=3)).run([second])[0]
    np.testing.assert_allclose(carried[[1, 3]], fresh[[1, 3]], atol=ATOL, rtol=RTOL)
    assert np.abs(carried[[0, 2]] - fresh[[0, 2]]).max() > 1e-3  # rows 0 and 2 kept their history
    session.reset_states()
    assert all(np.all(v == 0) for v in session.states.values())


def test_states_can_be_read_and_set(tmp_path):
    model, weights = _stacked_masked_model(tmp_path, stateful=True, batch=4)
    proto = kerasrnn2onnx.convert(model, weights=weights, keras_version=3)
    session = kerasrnn2onnx.Session(proto)
    x = _inputs(np.random.default_rng(1), steps=6)
    session.run([x[:, :3]])
    saved = session.states
    expected = session.run([x[:, 3:]])[0]
    other = kerasrnn2onnx.Session(proto)
    other.states = saved
    np.testing.assert_allclose(other.run([x[:, 3:]])[0], expected, atol=1e-6)
    with pytest.raises(RuntimeInputError, match="lstm/state_h"):
        other.states = {"lstm/state_h": np.zeros((4, 5), np.float32)}


def test_wrong_shapes_are_named(tmp_path):
    model, weights = _stacked_masked_model(tmp_path, stateful=True, batch=4)
    session = kerasrnn2onnx.Session(kerasrnn2onnx.convert(model, weights=weights, keras_version=3))
    with pytest.raises(RuntimeInputError, match=r"input 'x' has shape \(2, 5, 3\), the model expects \(4, \?, 3\)"):
        session.run([np.zeros((2, 5, 3), np.float32)])
    with pytest.raises(RuntimeInputError, match="input 'x'"):
        session.run([np.zeros((4, 5), np.float32)])


def test_cli_run_with_chunks(tmp_path, capsys):
    model, weights = _stacked_masked_model(tmp_path, stateful=False, batch=None)
    onnx_path = tmp_path / "m.onnx"
    assert main(["convert", str(model), "--weights", str(weights), "--keras-version", "3", "--expose-states",
                 "-o", str(onnx_path)]) == 0
    x = _inputs(np.random.default_rng(3))
    np.savez(tmp_path / "x.npz", x=x)
    assert main(["run", str(onnx_path), "--inputs", str(tmp_path / "x.npz"), "-o", str(tmp_path / "one.npz")]) == 0
    assert main(["run", str(onnx_path), "--inputs", str(tmp_path / "x.npz"), "--chunks", "3",
                 "-o", str(tmp_path / "three.npz")]) == 0
    one, three = np.load(tmp_path / "one.npz"), np.load(tmp_path / "three.npz")
    np.testing.assert_allclose(three["stack"], one["stack"], atol=ATOL, rtol=RTOL)


def test_cli_run_chunks_needs_states(tmp_path, capsys):
    onnx_path = tmp_path / "m.onnx"
    assert main(["convert", str(FIXTURES / "k3_lstm_back_seq.keras"), "-o", str(onnx_path)]) == 0
    np.savez(tmp_path / "x.npz", np.zeros((1, 4, 2), np.float32))
    assert main(["run", str(onnx_path), "--inputs", str(tmp_path / "x.npz"), "--chunks", "2"]) == 2
    assert "--expose-states" in capsys.readouterr().err


SERVE = """
import sys
sys.path[:] = [p for p in sys.path if 'site-packages' not in p] + [sys.argv[4]]
import importlib.util
assert importlib.util.find_spec('kerasrnn2onnx') is None, 'package must not be importable'
import numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])
x = np.load(sys.argv[2])['x']
feeds = {'x': x}
names = [i.name for i in s.get_inputs()]
outs = [o.name for o in s.get_outputs()]
for n in names[1:]:
    feeds[n] = np.zeros((x.shape[0], s.get_inputs()[names.index(n)].shape[1]), np.float32)
first = s.run(None, {**feeds, 'x': x[:, :5]})
for n in names[1:]:
    feeds[n] = first[outs.index(n[:-3] + '_out')]
second = s.run(None, {**feeds, 'x': x[:, 5:]})
np.save(sys.argv[3], np.concatenate([first[0], second[0]], axis=1))
"""


def _minimal_site(folder):
    """A folder holding only onnxruntime and numpy (and what their wheels bundle)."""
    import os

    import numpy
    import onnxruntime

    folder.mkdir()
    for module in (numpy, onnxruntime):
        package = os.path.dirname(module.__file__)
        parent = os.path.dirname(package)
        for entry in os.listdir(parent):
            name = os.path.basename(package)
            if entry == name or entry.startswith(f"{name}.libs") or entry == f"{name}_libs":
                os.symlink(os.path.join(parent, entry), folder / entry)
    return folder


@pytest.mark.parametrize("stateful", [False, True])
def test_served_by_plain_onnxruntime(tmp_path, stateful):
    """The .onnx runs where only onnxruntime and numpy are importable, state fed by hand."""
    model, weights = _stacked_masked_model(tmp_path, stateful=stateful, batch=4 if stateful else None)
    onnx_path = tmp_path / "m.onnx"
    kerasrnn2onnx.convert(model, onnx_path, weights=weights, keras_version=3, expose_states=True)
    x = _inputs(np.random.default_rng(5))
    np.savez(tmp_path / "x.npz", x=x)
    script = tmp_path / "serve.py"
    script.write_text(SERVE)
    site = _minimal_site(tmp_path / "site")
    result = subprocess.run([sys.executable, "-S", "-E", str(script), str(onnx_path), str(tmp_path / "x.npz"),
                             str(tmp_path / "y.npy"), str(site)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    spec = kerasrnn2onnx.load(model, weights=weights, keras_version=3)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), run_model_with_states(spec, [x])[0][0],
                               atol=ATOL, rtol=RTOL)
    assert onnx.load(str(onnx_path)).graph.input[1].name == "lstm/state_h_in"


def test_session_applies_the_recommended_thread_count(tmp_path):
    small = kerasrnn2onnx.convert(FIXTURES / "k3_gru.keras")
    props = {p.key: p.value for p in small.metadata_props}
    assert props["recommended_intra_op_threads"] == "1"
    assert kerasrnn2onnx.Session(small).intra_op_threads == 1
    assert kerasrnn2onnx.Session(small).onnxruntime_session.get_session_options().intra_op_num_threads == 1
    assert kerasrnn2onnx.Session(small, intra_op_threads=2).intra_op_threads == 2
    lstm = kerasrnn2onnx.convert(FIXTURES / "k3_lstm.keras")
    assert "recommended_intra_op_threads" not in {p.key for p in lstm.metadata_props}
    assert kerasrnn2onnx.Session(lstm).intra_op_threads is None


@pytest.mark.parametrize("batch", [3, 20])
@pytest.mark.parametrize("kind", ["GRU", "masked SimpleRNN"])
def test_chunked_run_through_the_batch_switch(tmp_path, kind, batch):
    """A masked SimpleRNN lowered as native+scan carries its states through either If branch
    (batch 3: native, batch 20: Scan) exactly like one pass; a GRU (native at every batch,
    lowering/tuning.py) too."""
    from kerasrnn2onnx.lowering import plan_layers
    from kerasrnn2onnx.lowering.strategy import BY_BATCH

    rng = np.random.default_rng(batch)
    layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, None, 3]}}]
    if kind == "GRU":
        layers.append({"class_name": "GRU", "config": {"name": "gru", "units": 4, "return_sequences": True}})
        shapes = [(3, 12), (4, 12), (2, 12)]
    else:
        layers.append({"class_name": "Masking", "config": {"name": "mask", "mask_value": 0.0}})
        layers.append({"class_name": "SimpleRNN", "config": {"name": "rnn", "units": 4, "return_sequences": True}})
        shapes = [(3, 4), (4, 4), (4,)]
    weights = [rng.uniform(-0.6, 0.6, s).astype(np.float32) for s in shapes]
    model = tmp_path / "model.json"
    model.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}}))
    np.savez(tmp_path / "w.npz", *weights)
    spec = kerasrnn2onnx.load(model, weights=tmp_path / "w.npz", keras_version=3)
    assert {p.strategy for p in plan_layers(spec)} == {"native" if kind == "GRU" else BY_BATCH}
    proto = kerasrnn2onnx.convert(spec, expose_states=True)
    x = _inputs(rng, batch=batch, steps=9)
    whole = kerasrnn2onnx.Session(proto).run([x])[0]
    np.testing.assert_allclose(whole, run_model_with_states(spec, [x])[0][0], atol=ATOL, rtol=RTOL)
    session = kerasrnn2onnx.Session(proto)
    pieces = [session.run([chunk])[0] for chunk in np.split(x, [2, 7], axis=1)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=ATOL, rtol=RTOL)
