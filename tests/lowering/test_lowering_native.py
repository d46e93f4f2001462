"""Structure of the converted graphs: valid ONNX, named dynamic dims, gate and attribute
choices, metadata, and no needless layout ops."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import shape_inference

import kerasrnn2onnx
from kerasrnn2onnx.lowering import STRATEGIES, plan_layers
from kerasrnn2onnx.lowering.strategy import BY_BATCH
from kerasrnn2onnx.lowering.weights import onnx_weights

from ..conftest import FIXTURES, fixture_params


def _nodes(proto, op):
    return [n for n in proto.graph.node if n.op_type == op]


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


@pytest.mark.parametrize("fixture", fixture_params())
def test_graph_is_valid_and_shapes_infer(fixture):
    proto = kerasrnn2onnx.convert(fixture.model, **fixture.load_kwargs())
    onnx.checker.check_model(proto, full_check=True)
    inferred = shape_inference.infer_shapes(proto, strict_mode=True)
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in inferred.graph.value_info}
    ranks.update({v.name: len(v.type.tensor_type.shape.dim) for v in inferred.graph.output})
    for node in inferred.graph.node:
        for out in node.output:
            if out:
                assert out in ranks, f"no inferred shape for {out}"
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["keras_major"] == fixture.keras_version.split(".")[0]
    if fixture.model.suffix in (".keras", ".h5") and "keras22_defaults" not in fixture.tags:
        assert props["keras_version"] == fixture.keras_version
    assert props["converter"].startswith("kerasrnn2onnx ")
    lowering = json.loads(props["lowering"])
    plans = {p.layer: p.strategy for p in plan_layers(kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs()))}
    assert lowering == plans and set(plans.values()) <= {*STRATEGIES, BY_BATCH} - {"auto"}


def test_dims_are_named_and_dynamic():
    proto = kerasrnn2onnx.convert(FIXTURES / "k3_lstm_back_state.keras")
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "time", 2] or dims[:2] == ["batch", "time"]
    out = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert out[:2] == ["batch", "time"]
    assert [o.name for o in proto.graph.output] == ["lstm", "lstm/state_h", "lstm/state_c"]


def test_static_time_dimension_is_kept():
    proto = kerasrnn2onnx.convert(FIXTURES / "k3_edge_t1_b1_u1.keras")
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 1


def test_stacked_layers_have_no_transpose_between_layers():
    proto = kerasrnn2onnx.convert(FIXTURES / "k3_stacked_layers.keras", strategy="native")
    # one Transpose at the input edge; the final layer returns its last output (no edge transpose)
    assert len(_nodes(proto, "Transpose")) == 1
    assert [n.op_type for n in proto.graph.node if n.op_type in ("LSTM", "GRU", "RNN")] == ["LSTM", "GRU", "RNN"]


@pytest.mark.parametrize("name,expected", [("k3_gru", 1), ("k3_gru_reset_before_seq", 0), ("k2_keras22_defaults", 0)])
def test_gru_linear_before_reset_is_always_explicit(name, expected):
    path = next(p for p in FIXTURES.glob(f"{name}.*") if not p.name.endswith(".io.npz"))
    (gru,) = _nodes(kerasrnn2onnx.convert(path, strategy="native"), "GRU")
    assert _attr(gru, "linear_before_reset") == expected


def test_go_backwards_uses_reverse_direction_and_one_flip():
    proto = kerasrnn2onnx.convert(FIXTURES / "k3_lstm_back_seq.keras")
    (lstm,) = _nodes(proto, "LSTM")
    assert _attr(lstm, "direction") == b"reverse"
    assert len(_nodes(proto, "Slice")) == 1


def test_default_activations_are_left_implicit_and_others_explicit():
    default = kerasrnn2onnx.convert(FIXTURES / "k3_lstm.keras")
    (lstm,) = _nodes(default, "LSTM")
    assert _attr(lstm, "activations") is None and _attr(lstm, "activation_alpha") is None
    keras2 = kerasrnn2onnx.convert(FIXTURES / "k2_lstm_hard_sigmoid.h5")
    (lstm,) = _nodes(keras2, "LSTM")
    assert _attr(lstm, "activations") == [b"HardSigmoid", b"Tanh", b"Tanh"]
    assert _attr(lstm, "activation_alpha") == pytest.approx([0.2])
    assert _attr(lstm, "activation_beta") == pytest.approx([0.5])
    keras3 = kerasrnn2onnx.convert(FIXTURES / "k3_lstm_hs_softsign.keras")
    (lstm,) = _nodes(keras3, "LSTM")
    assert _attr(lstm, "activations") == [b"HardSigmoid", b"Softsign", b"Softsign"]
    assert _attr(lstm, "activation_alpha") == pytest.approx([1 / 6])


def test_lstm_gates_are_reordered_to_iofc():
    spec = kerasrnn2onnx.load(FIXTURES / "k3_lstm.keras")
    cell = spec.layers[0].cells[0]
    w, r, b = onnx_weights(cell)
    u = cell.units
    keras_blocks = {g: cell.kernel[:, k * u : (k + 1) * u].T for k, g in enumerate("ifco")}
    onnx_blocks = {g: w[0, k * u : (k + 1) * u] for k, g in enumerate("iofc")}
    for gate in "ifco":
        np.testing.assert_array_equal(keras_blocks[gate], onnx_blocks[gate])
    np.testing.assert_array_equal(b[0, 4 * u :], 0)  # Keras has one bias: Rb is zero


@pytest.mark.parametrize("opset", [14, 17, 18, 21])
def test_opset_option(opset):
    proto = kerasrnn2onnx.convert(FIXTURES / "k3_rnn_stacked_state.keras", opset=opset)
    assert proto.opset_import[0].version == opset
    onnx.checker.check_model(proto, full_check=True)


def test_samples_convert():
    from ..conftest import SAMPLES

    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".keras", ".h5"))
    assert len(samples) >= 3
    for sample in samples:
        onnx.checker.check_model(kerasrnn2onnx.convert(sample), full_check=True)


@pytest.mark.parametrize("inner", [
    {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "relu"}},
    {"class_name": "Dropout", "config": {"name": "d", "rate": 0.5}},
    {"class_name": "Activation", "config": {"name": "d", "activation": "softmax"}},
], ids=["dense", "dropout", "activation"])
def test_time_distributed_wraps_per_step_layers(tmp_path, inner):
    import onnxruntime as ort

    from kerasrnn2onnx.reference import run_model

    rng = np.random.default_rng(0)
    layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, None, 2]}},
              {"class_name": "LSTM", "config": {"name": "l", "units": 3, "return_sequences": True}},
              {"class_name": "TimeDistributed", "config": {"name": "td", "layer": inner}}]
    model = tmp_path / "m.json"
    model.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}}))
    shapes = [(2, 12), (3, 12), (12,)] + ([(3, 2), (2,)] if inner["class_name"] == "Dense" else [])
    np.savez(tmp_path / "w.npz", *[rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in shapes])
    spec = kerasrnn2onnx.load(model, weights=tmp_path / "w.npz", keras_version=3)
    session = ort.InferenceSession(kerasrnn2onnx.convert(spec).SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((2, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], run_model(spec, [x])[0], atol=1e-5, rtol=1e-4)
