"""Attention layers: what the fixtures cannot show on their own.

Refusals name the layer and the argument; the masked-softmax rules agree between the NumPy
reference and the lowering on rows whose every score is blocked (the rows where Keras's
layers and versions differ).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import UnsupportedError
from kerasrnn2onnx.reference.attention import masked_softmax

from ..conftest import FIXTURES


def _edited(tmp_path: Path, name: str, edit: Callable[[dict], None]) -> Path:
    """A copy of a .keras fixture with its config.json changed by ``edit``."""
    with zipfile.ZipFile(FIXTURES / name) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    out = tmp_path / name
    with zipfile.ZipFile(out, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return out


def _layer(config: dict, class_name: str, index: int = 0) -> dict:
    return [entry for entry in config["config"]["layers"] if entry["class_name"] == class_name][index]


def _set(key: str, value: Any, index: int = 0) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        _layer(config, "MultiHeadAttention", index)["config"][key] = value
    return edit


def _call_flag(key: str, value: Any) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        _layer(config, "MultiHeadAttention")["inbound_nodes"][0]["kwargs"][key] = value
    return edit


def _share_inputs(config: dict) -> None:
    """Point the second MultiHeadAttention at the first one's (masked) Embedding outputs."""
    first, second = _layer(config, "MultiHeadAttention", 0), _layer(config, "MultiHeadAttention", 1)
    second["inbound_nodes"][0]["args"] = first["inbound_nodes"][0]["args"]


@pytest.mark.parametrize("fixture, edit, needles", [
    ("k3_mha_attention_mask.keras", _set("sliding_window", 2), ("sliding_window",)),
    ("k3_mha_attention_mask.keras", _set("use_gate", True), ("use_gate",)),
    ("k3_mha_attention_mask.keras", _set("attention_axes", [2]), ("attention_axes",)),
    ("k3_mha_attention_mask.keras", _set("output_shape", [2, 3]), ("output_shape",)),
    ("k3_mha_attention_mask.keras", _call_flag("something_new", True), ("something_new",)),
    ("k3_mha_masks.keras", _share_inputs, ("clears the masks",)),
], ids=["sliding_window", "use_gate", "attention_axes", "output_shape", "call_flag", "shared_masked_input"])
def test_refusals_name_layer_and_argument(tmp_path, fixture, edit, needles):
    with pytest.raises(UnsupportedError) as info:
        kerasrnn2onnx.load(_edited(tmp_path, fixture, edit))
    message = str(info.value)
    assert "multi_head_attention" in message
    for needle in needles:
        assert needle in message


def test_score_mode_is_checked(tmp_path):
    def edit(config: dict) -> None:
        _layer(config, "Attention")["config"]["score_mode"] = "cosine"
    with pytest.raises(UnsupportedError, match="score_mode"):
        kerasrnn2onnx.load(_edited(tmp_path, "k3_attn_concat_causal.keras", edit))


@pytest.mark.parametrize("rule, expected_row", [
    ("subtract", np.full(4, 0.25)), ("uniform", np.full(4, 0.25)), ("zero", np.zeros(4))])
def test_fully_blocked_rows_follow_the_rule_in_both_stages(rule, expected_row):
    """Row 0 is fully blocked, row 1 partly: the reference and onnxruntime agree with each
    other and with the rule's definition."""
    import onnx_ir as ir

    from kerasrnn2onnx.lowering.attention import masked_softmax as lower_softmax
    from kerasrnn2onnx.lowering.context import LoweringContext

    scores = np.array([[0.3, -1.2, 2.0, 0.1], [1.0, 0.5, -0.5, 0.2]], np.float32)
    keep = np.array([[False] * 4, [True, False, True, True]])
    reference = masked_softmax(scores.astype(np.float64), keep, rule)
    ctx = LoweringContext("softmax", 17)
    s = ctx.input("s", "float32", [2, 4])
    k = ctx.builder.input("k", ir.DataType.BOOL, [2, 4])
    proto = ctx.finish([(lower_softmax(ctx, s, k, rule), "w", [2, 4])], "0", {})
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (lowered,) = session.run(None, {"s": scores, "k": keep})
    np.testing.assert_allclose(reference[0], expected_row, atol=1e-7)
    np.testing.assert_allclose(lowered, reference, atol=1e-6)
    partial = np.exp(scores[1][keep[1]]) / np.exp(scores[1][keep[1]]).sum()
    np.testing.assert_allclose(reference[1][keep[1]], partial, rtol=1e-6)
