"""Fixtures on the runtimes beyond onnxruntime, each converted with that runtime's target,
and a smaller set converted with ``--target portable`` on every runtime.

A representative subset per runtime (the whole non-stateful set is measured by
scripts/runtime_parity.py, a minute or so per runtime and target): plain LSTM/GRU/SimpleRNN,
go_backwards, masks (with go_backwards and return_state), Bidirectional, activations the native
ops' attribute form cannot carry everywhere, and fixed-time models (OpenCV runs those, and
LSTMs of any length; a portable graph with a dynamic time is refused for OpenCV).
A Python runtime that is not installed fails (the test extra installs it); onnxruntime-web is
skipped only where Node is absent (the README's test command installs it wherever Node is).
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from kerasrnn2onnx.errors import UnsupportedError
from kerasrnn2onnx.runtime.runtimes import load_on, web_unavailable

from ..conftest import MANIFEST, converted

DYNAMIC_TIME = ["k3_lstm", "k3_lstm_back_state", "k3_gru", "k3_simple_rnn", "k3_lstm_back_seq", "k3_mask_lstm_last",
                "k2_mask_gru_back_state",
                "k3_bidi_concat", "k3_act_elu", "k2_lstm_hard_sigmoid", "k2_gru_reset_before_hs", "k3_sentiment",
                # each a workaround of lowering/targets.py: Exp forms (silu, mish), Scan bodies (custom
                # cells, outer constants), Transpose chains (attention, TensorFlow functions)
                "k3_act_silu", "k3_act_mish", "k3_custom_minimal_rnn", "k2_custom_attention_constants",
                "k3_dot_attention", "k2_tf_ops", "k3_named_wrappers",
                # newer families: attention seq2seq, ConvLSTM, a whole CRNN
                "k3_seq2seq_bahdanau", "k3_convlstm2d_seq", "k3_crnn_ocr",
                # a time axis a Reshape made, flipped for go_backwards (tract: reproducer flip_of_split_axis)
                "k3_reshape_go_backwards",
                # two recurrent layers on one (folded) input: OpenVINO computes one of two
                # recurrent ops on one X wrong, so the openvino target runs them as Scan
                "k3_td_rnn_char_words", "k2_td_rnn_hierarchical"]
FIXED_TIME = ["k3_edge_t1_b1_u1", "k3_gru_unroll", "k3_unroll_simple_back", "k3_unroll_lstm_state", "k3_cnn_lstm",
              "k2_mask_unroll",
              # OpenCV's workarounds: constant reshapes (TimeDistributed), one-axis reductions (3D
              # pooling), PReLU as Max/Min, the time after Permute((2, 1))
              "k3_video_classifier", "k3_volumes_3d", "k3_activation_layers_4d", "k3_fixed_time_permute",
              "k3_convlstm_grid_1d",  # and the unrolled loop's steps stacked without a computed shape
              "k2_json_layer_fixed_time"]  # a bare layer config whose batch_input_shape fixes the time
# --target portable: fixed-time models (unrolled: OpenCV too) and dynamic-time ones (Scan),
# among them the unrolled Bidirectional layers tract's declutter failed on (crnn_ocr, lipnet:
# reproducer flip_after_reshape_stack)
PORTABLE_FIXED = ["k3_crnn_ocr", "k2_lipnet", "k3_unroll_lstm_state", "k2_mask_unroll", "k3_video_classifier",
                  "k2_json_layer_fixed_time"]
PORTABLE_DYNAMIC = ["k3_bidi_mask_seq", "k2_gru_reset_before_hs", "k3_act_silu", "k2_custom_attention_constants",
                    "k3_convlstm1d_state", "k2_reshape_go_backwards"]
# other targets with --strategy unroll: tract's declutter on the flipped backward half
UNROLLED = [("tract", "k3_crnn_ocr"), ("tract", "k2_lipnet")]
# OpenCV runs these LSTMs natively at any length; shared_lstm's second call is named 'lstm#1'
OPENCV_LSTM = ["k3_lstm", "k3_lstm_back_seq", "k3_bidi_concat", "k2_lstm", "k3_shared_lstm", "k2_tf_ops"]
# Keras 3's hard_sigmoid as relu6(x + 3) / 6: OpenCV fuses HardSigmoid(1/6, 1/2) times a cell
# state into HardSwish (reproducer hard_sigmoid_mul_fused); the opencv and portable targets
OPENCV_HARD_SIGMOID = ["k3_convlstm_grid_2d", "k3_convlstm_grid_3d", "k3_convlstm_grid_3d_channels_first"]
MODULES = {"openvino": "openvino", "tract": "tract", "opencv": "cv2"}


def _absent(runtime: str) -> str | None:
    if runtime == "web":
        why = web_unavailable()
        if why and shutil.which("node") is not None:
            # the README's test command installs it wherever Node is: absent is a broken set-up
            raise RuntimeError(f"{why} (the README's test command does)")
        return why
    if importlib.util.find_spec(MODULES[runtime]) is None:
        # the test extra installs every Python runtime: absent is a broken set-up, not a skip
        raise RuntimeError(f"{runtime} is not installed (pip install -e '.[cpu,test]')")
    return None


def _params():
    for runtime in ("openvino", "tract", "opencv", "web"):
        why = _absent(runtime)
        names = FIXED_TIME + OPENCV_LSTM + OPENCV_HARD_SIGMOID if runtime == "opencv" else DYNAMIC_TIME + FIXED_TIME
        portable = PORTABLE_FIXED if runtime == "opencv" else PORTABLE_FIXED + PORTABLE_DYNAMIC
        marks = [pytest.mark.skip(reason=why)] if why else []
        for name in names:
            yield pytest.param(runtime, runtime, "auto", name, marks=marks, id=f"{runtime}-{name}")
        for name in portable:
            yield pytest.param(runtime, "portable", "auto", name, marks=marks, id=f"{runtime}-portable-{name}")
        for name in (n for r, n in UNROLLED if r == runtime):
            yield pytest.param(runtime, runtime, "unroll", name, marks=marks, id=f"{runtime}-unroll-{name}")


def _matches_keras(runtime: str, name: str, target: str, strategy: str = "auto") -> None:
    fixture = next(f for f in MANIFEST if f.name == name)
    model = load_on(runtime, converted(fixture, target, strategy))
    try:
        for ins, expected in fixture.cases:
            outputs = model.run(dict(zip(model.input_names, ins, strict=True)))
            assert len(outputs) == len(expected)
            for a, e in zip(outputs, expected, strict=True):
                np.testing.assert_allclose(np.asarray(a).reshape(e.shape), e, **fixture.tolerance(np.float32))
    finally:
        model.close()


@pytest.mark.parametrize(("runtime", "target", "strategy", "name"), list(_params()))
def test_fixture_on_runtime_matches_keras(runtime, target, strategy, name):
    _matches_keras(runtime, name, target, strategy)


@pytest.mark.parametrize("name", OPENCV_HARD_SIGMOID)
def test_portable_target_on_opencv_matches_keras(name):
    """The portable target's graphs run on OpenCV where the time is fixed: these take its
    hard_sigmoid form as well (the same fusion, reproducer hard_sigmoid_mul_fused)."""
    _absent("opencv")
    _matches_keras("opencv", name, "portable")


@pytest.mark.parametrize("name", PORTABLE_DYNAMIC)
def test_portable_graph_with_a_dynamic_time_is_refused_for_opencv(name):
    """A portable graph loops over a dynamic time with Scan, which OpenCV lacks (its importer
    fails with an unnamed "handleNode" error): the adapter refuses it first, in one line naming
    the layer, the feature and the target."""
    _absent("opencv")
    fixture = next(f for f in MANIFEST if f.name == name)
    with pytest.raises(UnsupportedError) as refused:
        load_on("opencv", converted(fixture, "portable"))
    message = str(refused.value)
    assert "\n" not in message and message.startswith("layer '") and "target portable" in message
    assert "Scan" in message and "OpenCV" in message and "fixed length" in message


def test_verify_of_a_portable_graph_with_a_dynamic_time_on_opencv_is_one_line(capsys, tmp_path):
    """``verify model.keras portable.onnx --runtime opencv``: exit 2 and the adapter's one line."""
    from kerasrnn2onnx.cli import main

    _absent("opencv")
    fixture = next(f for f in MANIFEST if f.name == "k3_bidi_mask_seq")
    path = tmp_path / "portable.onnx"
    path.write_bytes(converted(fixture, "portable"))
    code = main(["verify", str(fixture.model), str(path), "--runtime", "opencv"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "layer 'bidirectional/forward_lstm'" in lines[0] and "target portable" in lines[0], lines[0]
