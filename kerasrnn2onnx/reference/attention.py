"""NumPy forms of the attention layers (batch-major, Keras's formulas step by step).

Masked scores follow the layer's ``softmax`` rule (spec/attention.py). The ``"subtract"``
rule rounds ``s - 1e9`` to float32 even in a float64 run: that rounding is what makes a
fully masked row uniform in Keras, so it is part of the semantics, not an artefact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..spec.attention import AttentionSpec, MultiHeadAttentionSpec

BIG = 1e9


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def masked_softmax(scores: np.ndarray, keep: np.ndarray | None, rule: str) -> np.ndarray:
    """Softmax over the last axis with blocked positions (``keep`` False) per ``rule``."""
    if keep is None:
        return _softmax(scores)
    if rule == "subtract":
        shifted = (scores.astype(np.float32) - np.float32(BIG)).astype(scores.dtype)
        return _softmax(np.where(keep, scores, shifted))
    weights = _softmax(np.where(keep, scores, np.asarray(-BIG, dtype=scores.dtype)))
    return np.where(keep, weights, np.zeros((), dtype=scores.dtype)) if rule == "zero" else weights


def causal_keep(tq: int, tv: int) -> np.ndarray:
    """Keras's causal mask: query step i sees value steps j <= i (shape (1, Tq, Tv))."""
    return (np.arange(tq)[:, None] >= np.arange(tv)[None, :])[None]


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else np.logical_and(a, b)


def _attention(layer: AttentionSpec, xs: list[np.ndarray], masks: list[Any]) -> Any:
    q, v = xs[0], xs[1]
    k = xs[2] if len(xs) > 2 else v
    dtype = q.dtype
    if layer.score_mode == "dot":
        scores = q @ np.swapaxes(k, 1, 2)
        if layer.scale is not None:
            scores = scores * layer.scale.astype(dtype)
    else:
        summed = q[:, :, None, :] + k[:, None, :, :]
        if layer.score_mode == "concat":
            inner = summed * layer.scale.astype(dtype) if layer.scale is not None else summed
            assert layer.concat_score_weight is not None  # read with score_mode="concat"
            scores = layer.concat_score_weight.astype(dtype) * np.tanh(inner).sum(axis=-1)
        else:
            scale = layer.scale.astype(dtype) if layer.scale is not None else np.ones((), dtype)
            scores = (scale * np.tanh(summed)).sum(axis=-1)
    v_mask = masks[1] if len(masks) > 1 else None
    keep = v_mask[:, None, :] if v_mask is not None else None
    if layer.causal:
        keep = _and(keep, causal_keep(q.shape[1], k.shape[1]))
    weights = masked_softmax(scores, keep, layer.softmax)
    out = weights @ v
    if masks[0] is not None:
        out = np.where(masks[0][:, :, None], out, np.zeros((), dtype))
    return (out, weights) if layer.return_scores else out


def _project(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """EinsumDense ``abc,cde->abde``: (batch, time, dim) -> (batch, time, heads, size)."""
    y = np.einsum("btd,dhs->bths", x, kernel.astype(x.dtype))
    return y + bias.astype(x.dtype) if bias is not None else y


def _multi_head(layer: MultiHeadAttentionSpec, xs: list[np.ndarray], masks: list[Any]) -> Any:
    by_role = dict(zip(layer.roles, xs, strict=True))
    mask_of = dict(zip(layer.roles, masks, strict=True))
    query, value = by_role["query"], by_role["value"]
    key = by_role.get("key", value)
    dtype = query.dtype
    keep = None
    if mask_of["query"] is not None:
        keep = mask_of["query"][:, :, None]
    for role in ("value", "key"):
        if mask_of.get(role) is not None:
            keep = _and(keep, mask_of[role][:, None, :])
    if layer.causal:
        keep = _and(keep, causal_keep(query.shape[1], value.shape[1]))
    if "attention_mask" in by_role:
        keep = _and(by_role["attention_mask"] != 0, keep)
    q = _project(query, layer.query_kernel, layer.query_bias) * np.asarray(1.0 / np.sqrt(layer.key_dim), dtype)
    k = _project(key, layer.key_kernel, layer.key_bias)
    v = _project(value, layer.value_kernel, layer.value_bias)
    scores = np.einsum("bths,bvhs->bhtv", q, k)
    if keep is not None:
        keep = np.broadcast_to(keep, (scores.shape[0],) + scores.shape[2:])[:, None]
    weights = masked_softmax(scores, keep, layer.softmax)
    heads = np.einsum("bhtv,bvhs->bths", weights, v)
    out = np.einsum("bths,hso->bto", heads, layer.output_kernel.astype(dtype))
    if layer.output_bias is not None:
        out = out + layer.output_bias.astype(dtype)
    return (out, weights) if layer.return_scores else out


ATTENTION_RUNNERS: dict[type, Callable[..., Any]] = {AttentionSpec: _attention, MultiHeadAttentionSpec: _multi_head}
