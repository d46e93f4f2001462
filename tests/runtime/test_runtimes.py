"""Fixtures on the runtimes beyond onnxruntime, each converted with that runtime's target.

A representative subset per runtime (the whole non-stateful set is measured by
scripts/runtime_parity.py, minutes per runtime): plain LSTM/GRU/SimpleRNN, go_backwards,
masks (with go_backwards and return_state), Bidirectional, activations the native ops'
attribute form cannot carry everywhere, and fixed-time models (OpenCV runs those, and
LSTMs of any length).
A runtime that is not installed is skipped with the extra that installs it.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from kerasrnn2onnx.runtime.runtimes import load_on, web_unavailable

from ..conftest import MANIFEST, converted

DYNAMIC_TIME = ["k3_lstm", "k3_lstm_back_state", "k3_gru", "k3_simple_rnn", "k3_lstm_back_seq", "k3_mask_lstm_last",
                "k2_mask_gru_back_state",
                "k3_bidi_concat", "k3_act_elu", "k2_lstm_hard_sigmoid", "k2_gru_reset_before_hs", "k3_sentiment"]
FIXED_TIME = ["k3_edge_t1_b1_u1", "k3_gru_unroll", "k3_unroll_simple_back", "k3_unroll_lstm_state", "k3_cnn_lstm",
              "k2_mask_unroll"]
OPENCV_LSTM = ["k3_lstm", "k3_lstm_back_seq", "k3_bidi_concat", "k2_lstm"]  # OpenCV runs these natively
MODULES = {"openvino": "openvino", "tract": "tract", "opencv": "cv2"}


def _absent(runtime: str) -> str | None:
    if runtime == "web":
        return web_unavailable()
    if importlib.util.find_spec(MODULES[runtime]) is None:
        # the test extra installs every Python runtime: absent is a broken set-up, not a skip
        raise RuntimeError(f"{runtime} is not installed (pip install -e '.[cpu,test]')")
    return None


def _params():
    for runtime in ("openvino", "tract", "opencv", "web"):
        why = _absent(runtime)
        names = FIXED_TIME + OPENCV_LSTM if runtime == "opencv" else DYNAMIC_TIME + FIXED_TIME
        marks = [pytest.mark.skip(reason=why)] if why else []
        for name in names:
            yield pytest.param(runtime, name, marks=marks, id=f"{runtime}-{name}")


@pytest.mark.parametrize(("runtime", "name"), list(_params()))
def test_fixture_on_runtime_matches_keras(runtime, name):
    fixture = next(f for f in MANIFEST if f.name == name)
    model = load_on(runtime, converted(fixture, runtime))
    try:
        for ins, expected in fixture.cases:
            outputs = model.run(dict(zip(model.input_names, ins, strict=True)))
            assert len(outputs) == len(expected)
            for a, e in zip(outputs, expected, strict=True):
                np.testing.assert_allclose(np.asarray(a).reshape(e.shape), e, **fixture.tolerance(np.float32))
    finally:
        model.close()
