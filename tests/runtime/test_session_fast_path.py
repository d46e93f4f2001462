"""The Session's per-step fast path (the binding's own ``run`` on CPU) gives the same
outputs and states as ``InferenceSession.run`` fed by hand, and still checks its inputs.

Why: a streaming caller pays the Session's per-call cost on every step, so its hot path
skips onnxruntime's Python-side checks; this makes sure nothing else was skipped. Not timed
(scripts/bench_session.py measures the cost).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import RuntimeInputError

from ..conftest import FIXTURES


@pytest.mark.parametrize("name", ["k3_stateful_lstm", "k3_stateful_gru", "k3_stateful_simple_rnn"])
def test_fast_path_matches_a_hand_fed_session(name: str) -> None:
    proto = kerasrnn2onnx.convert(FIXTURES / f"{name}.keras")
    session = kerasrnn2onnx.Session(proto)
    raw = getattr(session.onnxruntime_session, "_sess", None)
    assert raw is None or session._call == raw.run  # CPU: the binding's run
    bare = session.onnxruntime_session
    io = json.loads({p.key: p.value for p in proto.metadata_props}["states"])
    rng = np.random.default_rng(3)
    states = {e["input"]: np.zeros((2, e["width"]), np.float32) for e in io}
    outputs = [o.name for o in bare.get_outputs()]
    for steps in (3, 1, 4):
        x = rng.standard_normal((2, steps, bare.get_inputs()[0].shape[2])).astype(np.float32)
        got = session.run(x)
        want = bare.run(outputs, {session.input_names[0]: x, **states})
        states = dict(zip([e["input"] for e in io], want[len(got):], strict=True))
        np.testing.assert_array_equal(got[0], want[0])
        for entry in io:
            np.testing.assert_array_equal(session.states[f"{entry['layer']}/{entry['state']}"], states[entry["input"]])


def test_fast_path_still_checks_inputs() -> None:
    session = kerasrnn2onnx.Session(kerasrnn2onnx.convert(FIXTURES / "k3_stateful_lstm.keras"))
    features = session.onnxruntime_session.get_inputs()[0].shape[2]
    with pytest.raises(RuntimeInputError, match="has shape"):
        session.run(np.zeros((3, 2, features), np.float32))  # the batch is fixed at 2
    with pytest.raises(RuntimeInputError, match="expected 1 input"):
        session.run([np.zeros((2, 2, features), np.float32)] * 2)
    out = session.run(np.zeros((2, 2, features), np.float64))  # converted to float32, not refused
    assert out[0].dtype == np.float32
