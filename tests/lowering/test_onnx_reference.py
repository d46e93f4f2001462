"""Every fixture under every strategy, audited against the ONNX spec itself: the onnx
checker's full check, and ``onnx.reference.ReferenceEvaluator`` (ONNX's own NumPy
implementation of the spec) reproducing Keras at the fixture's tolerance.

What the reference evaluator cannot judge (onnx 1.23, read in onnx/reference/ops): its
LSTM and GRU ignore the ``activations``/``activation_alpha``/``activation_beta``
attributes and ``sequence_lens`` (its RNN honours only Tanh and Affine, not
``sequence_lens``), and
its Scan has no reversed ``scan_input_directions`` (go_backwards on the onnxruntime
targets; the other targets flip the inputs instead).
Graphs with such a node are still checked by the full checker, and their numbers by the
onnxruntime tests; the test asserts the reason instead of comparing (no silent skip).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

import kerasrnn2onnx
from kerasrnn2onnx.errors import UnsupportedError
from kerasrnn2onnx.lowering import plan_layers

from ..conftest import MANIFEST, Fixture, converted

STRATEGIES = ("native", "scan", "unroll")


def _params():
    for fixture in MANIFEST:
        for strategy in STRATEGIES:
            yield pytest.param(fixture, strategy, id=f"{fixture.name}-{strategy}")
        yield pytest.param(fixture, "portable", id=f"{fixture.name}-target-portable")


def _nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(attr.g)


def not_an_oracle(model: onnx.ModelProto) -> str | None:
    """Why the reference evaluator would compute this model differently from the spec."""
    for node in _nodes(model.graph):
        uses_lens = len(node.input) > 4 and node.input[4] != ""
        if node.op_type in ("LSTM", "GRU", "RNN") and uses_lens:
            return f"{node.op_type} with sequence_lens (ignored by the reference evaluator)"
        if node.op_type in ("LSTM", "GRU") and any(a.name.startswith("activation") for a in node.attribute):
            return f"{node.op_type} with an activations attribute (ignored by the reference evaluator)"
        acts = [list(a.strings) for a in node.attribute if a.name == "activations"]
        if node.op_type == "RNN" and acts and not set(acts[0]) <= {b"Tanh", b"Affine"}:
            return "RNN with an activation other than Tanh/Affine (the reference evaluator knows only those)"
        directions = [list(a.ints) for a in node.attribute if a.name == "scan_input_directions"]
        if node.op_type == "Scan" and directions and any(directions[0]):
            return "Scan with reversed scan_input_directions (not implemented by the reference evaluator)"
    return None


def _run_reference(model: onnx.ModelProto, fixture: Fixture) -> list[list[np.ndarray]]:
    """The evaluator over every case, carrying the states of stateful fixtures as the
    Session does (zeros first, reset where Keras reset)."""
    evaluator = ReferenceEvaluator(model)
    states = json.loads({p.key: p.value for p in model.metadata_props}.get("states", "[]"))
    inputs = [i.name for i in model.graph.input if i.name not in {s["input"] for s in states}]
    outputs = [o.name for o in model.graph.output if o.name not in {s["output"] for s in states}]
    carried: dict[str, np.ndarray] = {}
    results = []
    for index, (ins, _) in enumerate(fixture.cases):
        if not fixture.sequential or index in (0, fixture.reset_before):
            carried = {s["input"]: np.zeros((ins[0].shape[0], s["width"]), np.float32) for s in states}
        feeds = dict(zip(inputs, ins, strict=True)) | carried
        values = evaluator.run(outputs + [s["output"] for s in states], feeds)
        carried = {s["input"]: v for s, v in zip(states, values[len(outputs):], strict=True)}
        results.append(values[: len(outputs)])
    return results


@pytest.mark.parametrize(("fixture", "strategy"), list(_params()))
def test_spec_checker_and_reference_evaluator_match_keras(fixture, strategy):
    if strategy == "portable":
        try:
            payload = converted(fixture, "portable")
        except UnsupportedError as exc:
            assert "target portable" in str(exc)
            return
    else:
        try:
            plan_layers(kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs()), strategy)
        except UnsupportedError:
            return  # a real limit of that strategy, asserted in test_strategies.py
        payload = converted(fixture, "cpu", strategy)
    model = onnx.load_from_string(payload)
    onnx.checker.check_model(model, full_check=True)
    reason = not_an_oracle(model)
    if reason is not None:
        # the onnxruntime targets keep these (measured faster there); the portable target
        # flips instead, so its graphs are always judged
        assert strategy != "portable", reason
        return
    for actual, (_, expected) in zip(_run_reference(model, fixture), fixture.cases, strict=True):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert a.shape == e.shape
            np.testing.assert_allclose(a, e, **fixture.tolerance(np.float32))


def test_the_evaluator_judges_most_native_graphs():
    """The escape above must stay the exception: most fixtures' native graphs are judged
    (measured: 96 judged, 70 not: sequence_lens of masks 37, LSTM/GRU activations 12, RNN
    activations other than Tanh 21; every Scan graph of the portable target is judged)."""
    judged = refused = 0
    for fixture in MANIFEST:
        try:
            model = onnx.load_from_string(converted(fixture, "cpu", "native"))
        except UnsupportedError:
            continue
        if not_an_oracle(model) is None:
            judged += 1
        else:
            refused += 1
    assert judged > refused
