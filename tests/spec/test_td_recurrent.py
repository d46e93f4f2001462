"""TimeDistributed of a recurrent layer (or of a model holding one) becomes a fold, the wrapped
layers and an unfold in the graph IR; what Keras itself refuses there is refused with the
wrapper and the feature named. The numbers (every strategy, onnxruntime and the NumPy
reference) are checked against the real-Keras fixtures ``k?_td_rnn_*`` by the fixture-wide
tests (tests/lowering/test_strategies.py, tests/reference, tests/parity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import ConversionError
from kerasrnn2onnx.lowering.model import state_io
from kerasrnn2onnx.spec.folds import FoldSpec, UnfoldSpec
from kerasrnn2onnx.spec.types import MaskOpSpec

from ..conftest import FIXTURES, MANIFEST, write_functional_json


def _layer(cls: str, name: str, source: str, **config: Any) -> dict[str, Any]:
    return {"class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [[[source, 0, 0, {}]]]}


def _td(name: str, source: str, inner: dict[str, Any]) -> dict[str, Any]:
    return {"class_name": "TimeDistributed", "name": name, "config": {"name": name, "layer": inner},
            "inbound_nodes": [[[source, 0, 0, {}]]]}


def _lstm(**config: Any) -> dict[str, Any]:
    return {"class_name": "LSTM", "config": {"name": "word-lstm", "units": 2, **config}}


def _model(tmp_path: Path, shape: list, dtype: str, layers: list[dict[str, Any]],
           weights: list[tuple[int, ...]]) -> tuple[Path, Path]:
    """A tf-keras style functional JSON over one input ``x``, flat .npz weights."""
    entries: list[dict[str, Any]] = [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
                                      "config": {"batch_input_shape": [None, *shape], "dtype": dtype, "name": "x"}}]
    rng = np.random.default_rng(0)
    return write_functional_json(tmp_path, entries + layers, ["x"], layers[-1]["name"],
                                 [rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in weights],
                                 keras_version="2.21.0")


LSTM_WEIGHTS = [(3, 8), (2, 8), (8,)]
CHAR_EMB = {"class_name": "Embedding", "config": {"name": "char-emb", "input_dim": 12, "output_dim": 3,
                                                  "mask_zero": True}}
REFUSALS = {
    # Keras 3: ValueError, tf-keras: AttributeError ('list' object has no attribute 'shape')
    "return_state": ([4, 5, 3], "float32", [_td("td", "x", _lstm(return_state=True))], LSTM_WEIGHTS,
                     "return_state"),
    # Keras carries the states across the wrapper's steps (and across calls)
    "stateful": ([4, 5, 3], "float32", [_td("td", "x", _lstm(stateful=True))], LSTM_WEIGHTS, "stateful"),
    "two_outputs": ([4, 5, 3], "float32", [_td("td", "x", {"class_name": "Bidirectional", "config": {
        "name": "bi", "merge_mode": None, "layer": _lstm()}})], LSTM_WEIGHTS * 2, "2 outputs"),
    # a (batch, time) mask reaching the wrapped LSTM: an IndexError in both versions
    "masked_input": ([4, 3], "float32", [_layer("Masking", "pad", "x", mask_value=0.0), _td("td", "pad", {
        "class_name": "Sequential", "config": {"name": "rep", "layers": [
            {"class_name": "RepeatVector", "config": {"name": "rep-2", "n": 2}}, _lstm()]}})],
        LSTM_WEIGHTS, "Keras itself fails"),
    # tf-keras hands a wrapped model's sequence mask on as (batch, words, chars): not the ids' != 0
    "handed_on_mask": ([5, 6], "int32", [_td("seq", "x", {"class_name": "Sequential", "config": {
        "name": "chars", "layers": [CHAR_EMB, {"class_name": "GRU", "config": {
            "name": "char-gru", "units": 2, "return_sequences": True, "reset_after": True}}]}}),
        _td("td", "seq", _lstm())], [(12, 3), (3, 6), (2, 6), (2, 6)], "mask"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_the_wrapper_and_the_feature(tmp_path, case):
    shape, dtype, layers, weights, words = REFUSALS[case]
    path, npz = _model(tmp_path, shape, dtype, layers, weights)
    with pytest.raises(ConversionError) as info:
        kerasrnn2onnx.load(path, weights=npz)
    message = str(info.value)
    assert "'td'" in message and words in message, message
    assert "\n" not in message


def test_leftover_weights_of_a_wrapped_model_are_an_error(tmp_path):
    inner = {"class_name": "Sequential", "config": {"name": "enc", "layers": [_lstm()]}}
    path, npz = _model(tmp_path, [4, 5, 3], "float32", [_td("td", "x", inner)], [*LSTM_WEIGHTS, (2,)])
    with pytest.raises(ConversionError, match="weight"):
        kerasrnn2onnx.load(path, weights=npz)


def _fixture(name: str):
    return next(f for f in MANIFEST if f.name == name)


@pytest.mark.parametrize("name", ["k3_td_rnn_hierarchical", "k2_td_rnn_hierarchical"])
def test_hierarchical_model_is_fold_encoder_unfold(name):
    """The wrapper is a fold, the encoder's own layers under the wrapper's name, and an unfold
    named as the wrapper (the model output Keras names); the folded layers' batch is batch x
    sentences and their mask comes from the encoder's Embedding alone."""
    fixture = _fixture(name)
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    layers = [layer for layer in spec.layers if not isinstance(layer, MaskOpSpec)]  # Keras 3 records NotEqual
    assert [layer.name for layer in layers[:5]] == [
        "sentence-encoder/fold", "sentence-encoder/word-emb", "sentence-encoder/word-bigru", "sentence-encoder/proj",
        "sentence-encoder"]
    fold, unfold = layers[0], layers[4]
    assert isinstance(fold, FoldSpec) and isinstance(unfold, UnfoldSpec)
    assert all(o.folded for layer in spec.layers[:spec.layers.index(unfold)] for o in layer.out)
    assert spec.layer("sentence-encoder/word-bigru").masked
    assert not unfold.out[0].masked and not unfold.out[0].folded
    assert unfold.out[0].time == "time"  # the sentence axis of the model input, as Keras returns it
    halves = [half.name for half in spec.recurrent_layers]  # Keras 3 names the forward half forward_word-gru
    assert [h.rsplit("/", 1)[0] for h in halves] == ["sentence-encoder/word-bigru"] * 2 + ["sentence-lstm"]


def test_exposed_states_leave_the_folded_layers_out():
    """A wrapped layer's rows are (batch x time): nothing of it is carried across calls."""
    fixture = _fixture("k3_td_rnn_simple_backwards")
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    assert {io.layer for io in state_io(spec, expose_states=True)} == {"burst-lstm"}


def test_per_layer_strategies_reach_the_wrapped_layers():
    """``layer_strategies`` (what tune applies) names a wrapped layer by its graph name."""
    fixture = _fixture("k2_td_rnn_bigru_seq")
    chosen = {"per-clip-seq/bi-gru/gru": "unroll", "per-clip-seq/bi-gru/backward_gru": "scan",
              "per-clip-last/gru": "native"}
    proto = kerasrnn2onnx.convert(fixture.model, layer_strategies=chosen, **fixture.load_kwargs())
    lowering = json.loads({p.key: p.value for p in proto.metadata_props}["lowering"])
    assert lowering == chosen
    for actual, (_, expected) in zip(fixture.run_session(proto), fixture.cases, strict=True):
        for a, e in zip(actual, expected, strict=True):
            np.testing.assert_allclose(a, e, **fixture.tolerance(np.float32))


def test_fixtures_exist():
    for name in ("hierarchical", "char_words", "sequential", "lstm_fixed", "lstm_dynamic", "simple_backwards",
                 "bigru_seq"):
        for prefix, suffix in (("k3", ".keras"), ("k2", ".h5")):
            assert (FIXTURES / f"{prefix}_td_rnn_{name}{suffix}").is_file()


@pytest.mark.parametrize("name", ["k2_td_rnn_char_words", "k3_td_rnn_char_words"])
def test_each_version_masks_the_wrapped_layers_as_it_does(name):
    """tf-keras reshapes TimeDistributed(Embedding(mask_zero=True))'s mask for the wrapped
    recurrent layers, hands a wrapped sequence's mask on and otherwise returns its any over
    chars; Keras 3 hands no mask on there (both measured: the fixtures' numbers)."""
    fixture = _fixture(name)
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    keras2 = name.startswith("k2")
    folds = {layer.name: layer.mask_ids for layer in spec.layers if isinstance(layer, FoldSpec)}
    assert folds == {"char-seq/fold": keras2, "word-vectors/fold": keras2, "word-ends/fold": keras2}
    rules = {layer.name: layer.mask_rule for layer in spec.layers if isinstance(layer, UnfoldSpec)}
    assert rules == ({"char-seq": "hand_on_ids", "word-vectors": "any_ids", "word-ends": "any_ids"} if keras2
                     else dict.fromkeys(("char-seq", "word-vectors", "word-ends"), "none"))
    assert spec.layer("tagger").masked == keras2 and spec.layer("end-gru").masked == keras2
