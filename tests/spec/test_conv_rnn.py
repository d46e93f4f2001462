"""ConvLSTM layers beyond the fixtures' own settings: unroll over a fixed time axis (every
ConvLSTM fixture whose time axis is fixed, and one made fixed), a stateful layer fed in
chunks, the carried states' shapes, refusals naming layer and argument (strides with
dilation, which Keras refuses too; masks where Keras's backends disagree), and the NumPy
convolution against a direct sum."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import LayerError, UnsupportedError
from kerasrnn2onnx.spec.conv_rnn import conv_nd

from ..conftest import FIXTURES, MANIFEST, converted

FIXTURE = "k3_convlstm2d_seq"


def _edited(tmp_path: Path, edit: Callable[[dict], None], name: str = FIXTURE) -> Path:
    with zipfile.ZipFile(FIXTURES / f"{name}.keras") as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    out = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(out, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return out


def _layers(config: dict, class_name: str) -> list[dict]:
    return [entry for entry in config["config"]["layers"] if entry["class_name"] == class_name]


def _case(index: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    io = np.load(FIXTURES / f"{FIXTURE}.io.npz")
    return io[f"c{index}_in0"], [io[f"c{index}_out{j}"] for j in range(2)]


def _fixed_time(steps: int) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        (inp,) = _layers(config, "InputLayer")
        inp["config"]["batch_shape"][1] = steps
    return edit


def test_unroll_over_a_fixed_time_axis(tmp_path):
    x, expected = _case(0)
    model = _edited(tmp_path, _fixed_time(x.shape[1]))
    proto = kerasrnn2onnx.convert(model, strategy="unroll")
    lowering = json.loads({p.key: p.value for p in proto.metadata_props}["lowering"])
    assert set(lowering.values()) == {"unroll"}
    for got, want in zip(kerasrnn2onnx.Session(proto).run([x]), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_stateful_chunks_equal_one_pass(tmp_path):
    """The first layer made stateful (batch fixed): two chunks carry the flat state and give
    the whole sequence's outputs (the second layer walks backwards, so only the first
    layer's sequence is compared)."""
    x, (y, _) = _case(0)

    def edit(config: dict) -> None:
        (inp,) = _layers(config, "InputLayer")
        inp["config"]["batch_shape"][0] = x.shape[0]
        _layers(config, "ConvLSTM2D")[0]["config"]["stateful"] = True

    session = kerasrnn2onnx.Session(kerasrnn2onnx.convert(_edited(tmp_path, edit)))
    first, second = session.run([x[:, :2]])[0], session.run([x[:, 2:]])[0]
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), y, atol=1e-5, rtol=1e-4)


def _set(key: str, value: object) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        _layers(config, "ConvLSTM2D")[0]["config"][key] = value
    return edit


@pytest.mark.parametrize("edit, error, needle", [
    (_set("padding", "causal"), UnsupportedError, "padding"),
    (_set("data_format", "channels_middle"), LayerError, "data_format"),
    (_set("kernel_size", [3]), LayerError, "kernel_size"),
    (_set("time_major", True), UnsupportedError, "time_major"),
], ids=["padding", "data_format", "kernel_size", "time_major"])
def test_refusals_name_layer_and_argument(tmp_path, edit, error, needle):
    with pytest.raises(error) as info:
        kerasrnn2onnx.load(_edited(tmp_path, edit))
    assert "conv_lstm2d" in str(info.value) and needle in str(info.value)


@pytest.mark.parametrize("strides, dilation, padding", [((1, 1), (2, 1), "same"), ((2, 3), (1, 1), "same"),
                                                         ((2, 1), (1, 1), "valid"), ((1, 1), (1, 2), "valid")])
def test_numpy_convolution_is_the_direct_sum(strides, dilation, padding):
    rng = np.random.default_rng(0)
    x, kernel = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    got = conv_nd(x, kernel, strides, dilation, padding)
    span = [d * (k - 1) + 1 for k, d in zip(kernel.shape[:2], dilation, strict=True)]
    if padding == "same":
        outs = [-(-n // s) for n, s in zip(x.shape[1:3], strides, strict=True)]
        total = [max((o - 1) * s + k - n, 0) for o, s, k, n in zip(outs, strides, span, x.shape[1:3], strict=True)]
        x = np.pad(x, [(0, 0), (total[0] // 2, total[0] - total[0] // 2), (total[1] // 2, total[1] - total[1] // 2),
                       (0, 0)])
    else:
        outs = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:3], span, strides, strict=True)]
    want = np.zeros((2, *outs, 4))
    for i in range(outs[0]):
        for j in range(outs[1]):
            for a in range(kernel.shape[0]):
                for b in range(kernel.shape[1]):
                    row, col = i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1]
                    want[:, i, j] += x[:, row, col] @ kernel[a, b]
    np.testing.assert_allclose(got, want, atol=1e-12)


FIXED_TIME = [pytest.param(f, id=f.name) for f in MANIFEST
              if "conv_lstm" in f.tags and "grid" in f.tags]


@pytest.mark.parametrize("fixture", FIXED_TIME)
def test_unrolled_grid_matches_keras(fixture):
    """The audit grid has a fixed time axis: ``--strategy unroll`` gives Keras's numbers too."""
    proto = kerasrnn2onnx.convert(fixture.model, strategy="unroll", **fixture.load_kwargs())
    lowering = json.loads({p.key: p.value for p in proto.metadata_props}["lowering"])
    assert set(lowering.values()) == {"unroll"}
    for actual, (_, expected) in zip(fixture.run_session(proto), fixture.cases, strict=True):
        for a, e in zip(actual, expected, strict=True):
            np.testing.assert_allclose(a, e, **fixture.tolerance())


def test_the_grid_covers_every_argument():
    """Between them the ConvLSTM fixtures set every argument of the layers, per version."""
    for major in ("2", "3"):
        configs = []
        for fixture in MANIFEST:
            if "conv_lstm" not in fixture.tags or not fixture.keras_version.startswith(major):
                continue
            spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
            configs += [layer.cells[0].config for layer in spec.recurrent_layers]
        seen = {(key, json.dumps(config.get(key), sort_keys=True)) for config in configs for key in config}
        for key, value in [("padding", "valid"), ("padding", "same"), ("use_bias", False), ("go_backwards", True),
                           ("return_state", True), ("return_sequences", True), ("stateful", True),
                           ("unit_forget_bias", False), ("recurrent_activation", "hard_sigmoid")]:
            assert any(k == key and json.loads(v) == value for k, v in seen), (major, key, value)
        assert any(max(c.get("strides") or [1]) > 1 for c in configs), major
        assert any(max(c.get("dilation_rate") or [1]) > 1 for c in configs), major
        ranks = {len(c["kernel_size"]) for c in configs}
        assert ranks == {1, 2, 3}, (major, ranks)


def test_stateful_states_are_flat_channels_first():
    """A stateful ConvLSTM2D's carried states are graph inputs/outputs of (batch, filters *
    prod(spatial)), one pair per state."""
    (fixture,) = [f for f in MANIFEST if f.name == "k3_convlstm_stateful"]
    session = kerasrnn2onnx.Session(converted(fixture))
    states = session.states
    assert len(states) == 4  # h and c of both layers
    assert sorted(v.shape for v in states.values()) == [(2, 2 * 3 * 3)] * 2 + [(2, 2 * 4 * 4)] * 2


@pytest.mark.parametrize("strides, dilation", [((2, 2), (2, 2)), ((2, 1), (1, 2))])
def test_strides_with_dilation_are_refused_as_keras_does(tmp_path, strides, dilation):
    def edit(config: dict) -> None:
        layer = _layers(config, "ConvLSTM2D")[0]["config"]
        layer["strides"], layer["dilation_rate"] = list(strides), list(dilation)

    with pytest.raises(LayerError) as info:
        kerasrnn2onnx.load(_edited(tmp_path, edit))
    assert "conv_lstm2d" in str(info.value) and "dilation_rate" in str(info.value)


def test_keras3_mask_with_a_carried_state_is_refused(tmp_path):
    """Keras 3's JAX and TensorFlow loops differ before a row's first unmasked step once the
    state is not zero, so a masked stateful ConvLSTM in a Keras 3 file is refused."""
    def edit(config: dict) -> None:
        _layers(config, "ConvLSTM2D")[0]["config"]["stateful"] = True

    with pytest.raises(UnsupportedError) as info:
        kerasrnn2onnx.load(_edited(tmp_path, edit, "k3_convlstm_mask_arg"))
    assert "conv_lstm2d" in str(info.value) and "mask" in str(info.value) and "stateful" in str(info.value)


def test_masked_steps_carry_every_state_pixel():
    """The mask fixture's all-masked case outputs zeros throughout (zero states carried), and
    its 'holes' case repeats the previous output at each masked step."""
    (fixture,) = [f for f in MANIFEST if f.name == "k3_convlstm_mask_arg"]
    session = kerasrnn2onnx.Session(converted(fixture))
    for (ins, expected), pattern in zip(fixture.cases, ("none", "right", "left", "holes", "all"), strict=True):
        y = session.run(ins)[0]
        np.testing.assert_allclose(y, expected[0], **fixture.tolerance())
        if pattern == "holes":  # steps 1 and 3 masked
            np.testing.assert_array_equal(y[:, 1], y[:, 0])
            np.testing.assert_array_equal(y[:, 3], y[:, 2])
        if pattern == "all":
            assert not np.any(y)


def test_a_bool_input_is_the_mask_and_stays_bool():
    """``Input((None,), dtype="bool")`` given as ``mask=``: a BOOL graph input, fed as is."""
    import onnx

    (fixture,) = [f for f in MANIFEST if f.name == "k2_convlstm_mask_input"]
    graph = onnx.load_from_string(converted(fixture)).graph
    types = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    assert types == {"video": onnx.TensorProto.FLOAT, "keep": onnx.TensorProto.BOOL}


def test_a_bool_input_of_another_rank_is_refused(tmp_path):
    def edit(config: dict) -> None:
        (inp,) = _layers(config, "InputLayer")
        inp["config"]["dtype"] = "bool"

    with pytest.raises(UnsupportedError) as info:
        kerasrnn2onnx.load(_edited(tmp_path, edit))
    assert "bool" in str(info.value) and "(batch, time) mask" in str(info.value)
