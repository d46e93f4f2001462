"""Every fixture under every strategy that can express it, against Keras's own outputs;
the CUDA target's graphs use only what cuDNN runs; ``inspect`` explains each choice."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import UnsupportedError
from kerasrnn2onnx.lowering import plan_layers
from kerasrnn2onnx.lowering.options import DEFAULT_OPSET, MIN_OPSET, STRATEGIES
from kerasrnn2onnx.lowering.strategy import BY_BATCH, SCAN_FROM_BATCH

from ..conftest import FIXTURES, MANIFEST, converted, fixture_params, script

FORCED = [s for s in STRATEGIES if s != "auto"]  # every strategy --strategy can force


def _strategy_params():
    for fixture in MANIFEST:
        for strategy in FORCED:
            yield pytest.param(fixture, strategy, id=f"{fixture.name}-{strategy}")


def _run(proto, fixture):
    for actual, (_, expected) in zip(fixture.run_session(proto), fixture.cases, strict=True):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            np.testing.assert_allclose(a, e, **fixture.tolerance(np.float32))


@pytest.mark.parametrize("fixture,strategy", list(_strategy_params()))
def test_strategy_matches_keras(fixture, strategy):
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    try:
        plan_layers(spec, strategy)
    except UnsupportedError as exc:
        # the only legitimate refusals: unroll without a static time axis, native without
        # an attribute form for an activation, a custom cell on native
        refusal = str(exc)
        assert ("unroll" in refusal and "fixed number of timesteps" in refusal) or (
            strategy == "native" and ("attribute form" in refusal or "custom cell" in refusal)), refusal
        return
    proto = kerasrnn2onnx.convert(fixture.model, strategy=strategy, **fixture.load_kwargs())
    lowering = json.loads({p.key: p.value for p in proto.metadata_props}["lowering"])
    # a model without recurrent layers has nothing to lower by strategy (and still matches Keras)
    assert set(lowering.values()) == ({strategy} if spec.recurrent_layers else set())
    _run(proto, fixture)


UNROLL_FIXTURES = {"k3_unroll_simple_back", "k3_mask_unroll", "k2_mask_unroll", "k3_unroll_stacked",
                   "k3_unroll_lstm_state"}


@pytest.mark.parametrize("fixture", fixture_params())
def test_oldest_opset_matches_keras(fixture):
    """At the oldest supported opset (14) ops take some arguments as attributes (ReduceMax's
    axes) and Split cannot split by count, so every fixture is also checked there, the
    unrolled ones under unroll."""
    strategy = "unroll" if fixture.name in UNROLL_FIXTURES else "auto"
    proto = kerasrnn2onnx.convert(fixture.model, strategy=strategy, opset=MIN_OPSET, **fixture.load_kwargs())
    assert proto.opset_import[0].version == MIN_OPSET
    _run(proto, fixture)


CUDNN_DEFAULTS = {"LSTM": [b"Sigmoid", b"Tanh", b"Tanh"], "GRU": [b"Sigmoid", b"Tanh"], "RNN": [b"Tanh"]}


def _recurrent_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        if node.op_type in CUDNN_DEFAULTS:
            yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _recurrent_nodes(attr.g)


@pytest.mark.parametrize("fixture", [pytest.param(f, id=f.name) for f in MANIFEST])
def test_cuda_target_uses_only_cudnn_capable_recurrent_nodes(fixture):
    """Parity of these graphs (on the CPU provider, and on CUDA with -m gpu) is tests/runtime/test_gpu.py's."""
    proto = onnx.load_from_string(converted(fixture, "cuda"))
    for node in _recurrent_nodes(proto.graph):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs.get("activations", CUDNN_DEFAULTS[node.op_type]) == CUDNN_DEFAULTS[node.op_type], node.name
        assert "activation_alpha" not in attrs and "activation_beta" not in attrs and "clip" not in attrs
        if node.op_type == "GRU":
            assert attrs["linear_before_reset"] == 1


def test_cuda_target_moves_non_cudnn_layers_to_scan():
    spec = kerasrnn2onnx.load(FIXTURES / "k2_lstm_hard_sigmoid.h5")
    assert [p.strategy for p in plan_layers(spec, "auto", "cpu")] == ["native"]
    (plan,) = plan_layers(spec, "auto", "cuda")
    assert plan.strategy == "scan" and "cuDNN" in plan.reason


def test_inspect_explains_every_choice(capsys):
    from kerasrnn2onnx.cli import main

    assert main(["inspect", str(FIXTURES / "k3_gru_unroll.keras")]) == 0
    out = capsys.readouterr().out
    assert "lowering: unroll — Keras unroll=True" in out
    assert main(["inspect", str(FIXTURES / "k2_gru_reset_before_hs.h5"), "--target", "cuda"]) == 0
    out = capsys.readouterr().out
    assert "lowering: scan — target cuda: cuDNN" in out


# What the benchmarks measured (README, "Performance", and lowering/tuning.py): per layer
# class, the lowering with the smallest worst case over its shape grid on the CPU, over both
# machines measured. GRU: the native op (Scan won by up to 1.20x at batch 32+ on one machine
# and lost by up to 1.71x on the other).
BENCHMARK_WINNERS = {"SimpleRNN": "scan", "LSTM": "native", "Bidirectional(LSTM)": "native", "masked LSTM": "native",
                     "GRU": "native", "GRU(reset_after=False)": "native"}


@pytest.mark.parametrize("label,expected", sorted(BENCHMARK_WINNERS.items()))
def test_auto_picks_the_benchmarks_fastest_lowering(tmp_path, label, expected):
    bench = script("bench")
    layer = next(entry for entry in bench.LAYERS if entry.label == label)
    for shape in bench.SHAPES:
        path, _ = bench.write_model(tmp_path, layer, shape, np.random.default_rng(0))
        spec = kerasrnn2onnx.load(path, weights=path.with_suffix(".npz"), keras_version=3)
        assert {p.strategy for p in plan_layers(spec)} == {expected}, (label, shape)


# Nodes per step of a Scan body (the budget: at most 11 for an LSTM step). Small
# layers cut the weights into gate blocks (no Split of the projection in the loop); LSTMs
# from 256 units keep one Gemm and Split it (faster once the Gemm dominates).
BODY_NODES = {("LSTM", 64, True): 10, ("LSTM", 64, False): 11, ("LSTM", 256, True): 10, ("LSTM", 256, False): 11,
              ("GRU", 64, True): 10, ("GRU", 64, False): 11, ("SimpleRNN", 64, True): 2,
              ("SimpleRNN", 64, False): 3}


@pytest.mark.parametrize("kind,units,last_only", sorted(BODY_NODES), ids=str)
def test_scan_body_size(tmp_path, kind, units, last_only):
    from ..conftest import write_layer_json

    gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}[kind]
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape).astype(np.float32) for shape in
               ((8, gates * units), (units, gates * units), (2, gates * units) if kind == "GRU" else (gates * units,))]
    config = {"name": "rnn", "units": units, "return_sequences": not last_only}
    model, npz = write_layer_json(tmp_path, kind, config, weights)
    proto = kerasrnn2onnx.convert(model, weights=npz, strategy="scan", keras_version=3)
    (scan,) = [node for node in proto.graph.node if node.op_type == "Scan"]
    body = next(attr.g for attr in scan.attribute if attr.name == "body")
    assert len(body.node) == BODY_NODES[(kind, units, last_only)], [n.op_type for n in body.node]


def _lowerings(proto) -> set[str]:
    return set(json.loads({p.key: p.value for p in proto.metadata_props}["lowering"]).values())


@pytest.mark.parametrize("fixture", [pytest.param(f, id=f.name) for f in MANIFEST if not f.sequential])
def test_batch_switch_exactly_where_planned(fixture):
    """The auto lowering's batch switch (an If) is in the graph exactly when a layer is
    planned on it; where it is, both branches match Keras at both ends of the opset range."""
    proto = onnx.load_from_string(converted(fixture))
    switched = BY_BATCH in _lowerings(proto)
    assert switched == any(n.op_type == "If" for n in proto.graph.node), _lowerings(proto)
    if switched:
        assert {o.domain: o.version for o in proto.opset_import}[""] == DEFAULT_OPSET
        _check_batch_switch(fixture, proto)
        _check_batch_switch(fixture, kerasrnn2onnx.convert(fixture.model, opset=MIN_OPSET, **fixture.load_kwargs()))


def _check_batch_switch(fixture, proto):
    """A GRU (or masked SimpleRNN) switched on the batch size: the native branch serves the fixture's own batch,
    the Scan branch the same rows repeated up to SCAN_FROM_BATCH + 1; both match Keras."""
    import onnxruntime as ort

    (switch, *_) = [n for n in proto.graph.node if n.op_type == "If"]
    branches = {a.name: {n.op_type for n in a.g.node} for a in switch.attribute}
    assert "Scan" in branches["then_branch"] and branches["else_branch"] & {"GRU", "RNN"}, branches
    # each branch stores its own weights (read from two scopes up, they cost 5-8% of speed),
    # except a shared layer's, which several calls read
    if not any("#" in layer for layer in json.loads({p.key: p.value for p in proto.metadata_props}["lowering"])):
        assert all(len(a.g.initializer) >= 2 for a in switch.attribute)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for ins, expected in fixture.cases:
        assert ins[0].shape[0] < SCAN_FROM_BATCH
        rows = -(-(SCAN_FROM_BATCH + 1) // ins[0].shape[0])
        for repeat in (1, rows):
            got = session.run(None, {n: np.concatenate([a] * repeat) for n, a in zip(names, ins, strict=True)})
            for a, e in zip(got, expected, strict=True):
                np.testing.assert_allclose(a, np.concatenate([e] * repeat), **fixture.tolerance(np.float32))


@pytest.mark.parametrize(("kind", "expected_by_batch"), [
    ("masked SimpleRNN", {2: "native", SCAN_FROM_BATCH: "scan", None: BY_BATCH}),
    ("GRU", {2: "native", SCAN_FROM_BATCH: "native", None: "native"}),  # lowering/tuning.py: gru_native_on_cpu
])
def test_fixed_batch_picks_one_lowering(tmp_path, kind, expected_by_batch):
    """A batch fixed in the model (e.g. stateful) needs no switch: the measured winner is used;
    a GRU runs the native op at every batch."""
    rng = np.random.default_rng(0)
    if kind == "GRU":
        weights = [rng.standard_normal(s).astype(np.float32) for s in ((3, 12), (4, 12), (2, 12))]
        stack = [{"class_name": "GRU", "config": {"name": "gru", "units": 4}}]
    else:
        weights = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (4, 4), (4,))]
        stack = [{"class_name": "Masking", "config": {"name": "mask", "mask_value": 0.0}},
                 {"class_name": "SimpleRNN", "config": {"name": "rnn", "units": 4}}]
    for batch, expected in expected_by_batch.items():
        layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [batch, 5, 3]}}, *stack]
        model = tmp_path / f"m{batch}.json"
        model.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "m", "layers": layers}}))
        np.savez(tmp_path / "w.npz", *weights)
        spec = kerasrnn2onnx.load(model, weights=tmp_path / "w.npz", keras_version=3)
        assert [p.strategy for p in plan_layers(spec)] == [expected], batch
