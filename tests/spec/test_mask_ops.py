"""Keras 3 op nodes in mask computations: the idioms Keras's own compute_mask records are
parsed into boolean tensors with the right facts, and anything else is refused naming the node,
the op and why. The numbers of the supported idioms are checked against real-Keras fixtures
(k3_maskop_*, through tests/parity and tests/reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import ConversionError
from kerasrnn2onnx.spec.types import BidirectionalSpec, MaskOpSpec, RecurrentLayerSpec

from ..conftest import FIXTURES, GRU_ZEROS, MANIFEST, write_functional_json

OPS = "keras.src.ops.numpy"


def _tensor(name: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


def _op(cls: str, name: str, *args: Any, **config: Any) -> dict[str, Any]:
    """An op node as Keras 3 writes it; a str argument names a tensor, a list of names is one
    list argument (the op Concatenate's)."""
    def arg(a: Any) -> Any:
        if isinstance(a, str):
            return _tensor(a)
        return [_tensor(x) for x in a] if isinstance(a, list) else a
    return {"module": OPS, "class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [{"args": [arg(a) for a in args], "kwargs": {}}]}


def _convert(tmp_path: Path, ops: list[dict[str, Any]], mask: str) -> Any:
    """ids (None, None) int32 -> Embedding(5, 3, mask_zero) 'emb' -> GRU(2, mask=``mask``),
    with ``ops`` between; the spec of the model."""
    layers = [
        {"class_name": "InputLayer", "name": "ids", "inbound_nodes": [],
         "config": {"name": "ids", "batch_shape": [None, None], "dtype": "int32"}},
        {"class_name": "Embedding", "name": "emb", "inbound_nodes": [{"args": [_tensor("ids")], "kwargs": {}}],
         "config": {"name": "emb", "input_dim": 5, "output_dim": 3, "mask_zero": True}},
        _op("NotEqual", "not_equal", "ids", 0),
        *ops,
        {"class_name": "GRU", "name": "rnn",
         "inbound_nodes": [{"args": [_tensor("emb")], "kwargs": {"mask": _tensor(mask)}}],
         "config": {"name": "rnn", "units": 2, "reset_after": True}},
    ]
    path, npz = write_functional_json(tmp_path, layers, ["ids"], "rnn", GRU_ZEROS)
    return kerasrnn2onnx.load(path, weights=npz, keras_version=3)


WIDENED = [_op("ExpandDims", "expand_dims", "not_equal", axis=-1), _op("ZerosLike", "zeros_like", "emb", dtype="bool"),
           _op("LogicalOr", "logical_or", "expand_dims", "zeros_like")]


def test_concatenate_idiom_facts(tmp_path):
    """Concatenate.compute_mask of a masked input and an unmasked one: the widened mask
    (batch, time, 3), the all-True one, joined to width 6 and reduced to (batch, time)."""
    ops = [*WIDENED, _op("OnesLike", "ones_like", "emb", dtype="bool"),
           _op("Concatenate", "concatenate", ["logical_or", "ones_like"], axis=-1),
           _op("Any", "any", "concatenate", axis=-1, keepdims=False)]
    spec = _convert(tmp_path, ops, "any")
    facts = {layer.name: layer.out[0] for layer in spec.layers}
    assert [(facts[n].rank, facts[n].width, facts[n].boolean) for n in ("expand_dims", "logical_or", "concatenate",
                                                                       "any")] == [
        (3, 1, True), (3, 3, True), (3, 6, True), (2, None, True)]
    assert next(layer for layer in spec.layers if layer.name == "concatenate").op == "concatenate"


REFUSED = {
    "unknown-op": ([_op("Sum", "sum", "not_equal", axis=-1)], "sum", ["Keras op Sum", "not supported",
                                                                      "compute masks"]),
    "zeros-like-float": ([_op("ZerosLike", "zeros", "emb")], "zeros", ["Keras op ZerosLike", "dtype='bool'"]),
    "expand-dims-axis-0": ([_op("ExpandDims", "expand_dims", "not_equal", axis=0)], "expand_dims",
                           ["Keras op ExpandDims", "axis=0"]),
    "or-of-ranks": ([_op("ExpandDims", "expand_dims", "not_equal", axis=-1),
                     _op("LogicalOr", "logical_or", "expand_dims", "not_equal")], "logical_or",
                    ["Keras op LogicalOr", "ranks 3 and 2"]),
    "or-of-widths": ([_op("ZerosLike", "zeros", "emb", dtype="bool"),
                      _op("Concatenate", "wide", ["zeros", "zeros"], axis=-1),
                      _op("LogicalOr", "logical_or", "wide", "zeros")], "logical_or",
                     ["Keras op LogicalOr", "widths 6 and 3", "do not broadcast"]),
    "concatenate-of-data": ([_op("Concatenate", "joined", ["emb", "emb"], axis=-1)], "joined",
                            ["Keras op Concatenate", "boolean"]),
    "any-keepdims": ([*WIDENED, _op("Any", "any", "logical_or", axis=-1, keepdims=True)], "any",
                     ["Keras op Any", "keepdims"]),
}


@pytest.mark.parametrize("ops,node,words", REFUSED.values(), ids=REFUSED.keys())
def test_other_ops_are_refused_naming_node_op_and_why(tmp_path, ops, node, words):
    with pytest.raises(ConversionError) as info:
        _convert(tmp_path, ops, ops[-1]["name"])
    message = str(info.value)
    assert f"layer '{node}'" in message and all(w in message for w in words), message
    assert "supported: recurrent layers" not in message  # not the long list of layers


def test_op_and_layer_of_one_class_name_are_told_apart_by_module():
    """k3_maskop_concat_gru holds a Concatenate layer ('joined') and the op Concatenate of its
    mask ('concatenate'): the layer joins float sequences, the op boolean masks."""
    spec = kerasrnn2onnx.load(FIXTURES / "k3_maskop_concat_gru.keras")
    kinds = {layer.name: type(layer).__name__ for layer in spec.layers}
    assert kinds["joined"] == "MergeSpec" and kinds["concatenate"] == "MaskOpSpec"
    assert spec.facts(next(layer for layer in spec.layers if layer.name == "concatenate").inputs[0]).boolean


MASKOP_FIXTURES = [f for f in MANIFEST if "_maskop_" in f.name]


@pytest.mark.parametrize("fixture", [pytest.param(f, id=f.name) for f in MASKOP_FIXTURES])
def test_keras3_files_hand_recurrent_layers_op_masks_and_tf_keras_files_none(fixture):
    """The k3 fixtures exercise the recorded ops (every recurrent layer that reads a merged
    mask reads it from a mask op), their tf-keras twins record none (the mask flows
    implicitly): one model, both paths, both checked against Keras by tests/parity."""
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    ops = {layer.name for layer in spec.layers if isinstance(layer, MaskOpSpec)}
    sources = {layer.mask_source.layer for layer in spec.layers
               if isinstance(layer, (RecurrentLayerSpec, BidirectionalSpec)) and layer.mask_source is not None}
    if fixture.name.startswith("k3_"):
        assert ops and sources and sources <= ops, (ops, sources)
    else:
        assert not ops and not sources
