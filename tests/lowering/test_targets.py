"""The runtime targets' lowering choices, read from the graphs and ``inspect`` (no runtime
runs here; tests/runtime/test_runtimes.py runs the graphs): what a target cannot express is
refused with the layer and target named, and the onnxruntime-only choices are dropped."""

from __future__ import annotations

import pytest

import kerasrnn2onnx

from ..conftest import FIXTURES, MANIFEST, converted


def test_opencv_target_refuses_dynamic_time_with_one_line():
    fixture = next(f for f in MANIFEST if f.name == "k3_gru")
    refusal = r"layer 'gru': target opencv: .*time dimension is dynamic"
    with pytest.raises(kerasrnn2onnx.UnsupportedError, match=refusal):
        kerasrnn2onnx.convert(fixture.model, target="opencv", **fixture.load_kwargs())


@pytest.mark.parametrize(("target", "expected"), [
    ("tract", "lowering: scan — target tract: tract ignores the activations attribute"),
    ("openvino", "lowering: scan — target openvino: OpenVINO rejects HardSigmoid in the activations attribute"),
    ("web", "lowering: native — target web: onnxruntime-web (WebAssembly) runs the ONNX LSTM op exactly"),
])
def test_inspect_shows_the_target_choice_and_why(target, expected, capsys):
    from kerasrnn2onnx.cli import main

    assert main(["inspect", str(FIXTURES / "k2_lstm_hard_sigmoid.h5"), "--target", target]) == 0
    assert expected in capsys.readouterr().out


def test_runtime_targets_emit_no_if_and_no_reverse_direction():
    """The runtime targets drop onnxruntime-only choices: no If (batch switch), and but for
    web (onnxruntime's own kernels) no direction=reverse or reversed Scan inputs (flips)."""
    import onnx

    for name in ("k3_gru", "k3_lstm_back_seq", "k2_mask_gru_back_state", "k3_bidi_concat"):
        fixture = next(f for f in MANIFEST if f.name == name)
        for target in ("openvino", "tract", "web", "portable"):
            graph = onnx.load_from_string(converted(fixture, target)).graph
            stack = list(graph.node)
            while stack:
                node = stack.pop()
                assert node.op_type != "If", (name, target)
                for attr in node.attribute:
                    if attr.type == onnx.AttributeProto.GRAPH:
                        stack.extend(attr.g.node)
                    if target == "web":
                        continue
                    assert not (attr.name == "direction" and attr.s == b"reverse"), (name, target)
                    assert not (attr.name == "scan_input_directions" and any(attr.ints)), (name, target)


def test_a_target_refusing_an_activation_names_layer_activation_target_and_why():
    """No shipped target refuses an activation today (tract's gelu now goes through an
    Exp-and-polynomial erf); the check stays for the next runtime that computes one inexactly."""
    import dataclasses

    from kerasrnn2onnx.lowering import target_checks, targets

    fixture = next(f for f in MANIFEST if f.name == "k3_act_gelu")
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    strict = dataclasses.replace(targets.PROFILES["tract"], refused_activations=(("gelu", "its Erf is inexact"),))
    with pytest.raises(kerasrnn2onnx.UnsupportedError, match=r"layer '.+': target tract: activation gelu: its Erf"):
        target_checks.refuse_inexact_activations(spec, strict)
    target_checks.refuse_inexact_activations(spec, targets.PROFILES["tract"])  # the shipped profile converts it


@pytest.mark.parametrize(("name", "target", "slopes"), [
    ("k3_convlstm_grid_2d", "opencv", set()),  # Keras 3: relu6(x + 3) / 6, no HardSigmoid
    ("k3_convlstm_grid_2d", "portable", set()),
    ("k3_convlstm_grid_2d", "cpu", {1.0 / 6.0}),  # onnxruntime computes the fused pair exactly
    ("k2_convlstm_grid_2d", "opencv", {0.2}),  # Keras 2's slope is not fused by OpenCV
])
def test_hard_sigmoid_form_per_target(name, target, slopes):
    """OpenCV fuses Mul(HardSigmoid(x; 1/6, 1/2), y) into HardSwish(x) whatever y is
    (reproducer hard_sigmoid_mul_fused): the targets whose graphs run there write Keras 3's
    hard_sigmoid without HardSigmoid; the others keep the one node."""
    import onnx

    fixture = next(f for f in MANIFEST if f.name == name)
    stack, found = list(onnx.load_from_string(converted(fixture, target)).graph.node), set()
    while stack:  # Scan bodies included (the cpu target loops there)
        node = stack.pop()
        stack.extend(n for a in node.attribute if a.type == onnx.AttributeProto.GRAPH for n in a.g.node)
        found |= {round(a.f, 6) for a in node.attribute if node.op_type == "HardSigmoid" and a.name == "alpha"}
    assert found == {round(s, 6) for s in slopes}


def test_openvino_runs_recurrent_layers_sharing_an_input_as_scan():
    """OpenVINO 2026.4 computes one of two recurrent ops reading one X wrong (no error):
    the openvino target plans Scan for layers whose input, seen through TimeDistributed
    folds, another recurrent layer also reads; other targets and other layers keep the op."""
    from kerasrnn2onnx.lowering import plan_layers

    spec = kerasrnn2onnx.load(FIXTURES / "k3_td_rnn_char_words.keras")
    openvino = {p.layer: p.strategy for p in plan_layers(spec, "auto", "openvino")}
    cpu = {p.layer: p.strategy for p in plan_layers(spec, "auto", "cpu")}
    shared = {"char-seq/char-bigru/forward_char-gru", "char-seq/char-bigru/backward_char-gru",
              "word-vectors/char-lstm"}
    assert {name for name, strategy in openvino.items() if strategy == "scan"} == shared
    assert set(cpu.values()) == {"native"}
    forced = {p.layer: p.strategy for p in plan_layers(spec, "native", "openvino")}
    assert set(forced.values()) == {"native"}  # a forced strategy is the user's call
