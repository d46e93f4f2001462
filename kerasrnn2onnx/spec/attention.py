"""Specs and parsers of Keras's attention layers: ``Attention`` (Luong, dot or concat
scores), ``AdditiveAttention`` (Bahdanau) and ``MultiHeadAttention``.

They read several tensors (query, value, optionally key and an attention mask) and may
return the attention scores as a second output. Masks follow Keras: the query's mask
zeroes (Attention) or blocks (MultiHeadAttention) query rows, the value's mask blocks
value steps, and the output carries the query's mask.

How a masked score enters the softmax differs by layer and version, and it decides what a
row whose every score is masked outputs (``softmax`` on the specs):

- ``"subtract"``: ``where(mask, s, s - 1e9)`` in float32 (Attention and AdditiveAttention in
  both versions; tf-keras MultiHeadAttention without ``softmax_robust_masking``). A fully
  masked row becomes (nearly) uniform: ``s - 1e9`` rounds to multiples of 64.
- ``"uniform"``: ``where(mask, s, -large)`` (Keras 3 MultiHeadAttention when it calls the
  backend's ``dot_product_attention``: no dropout, no scores returned; tf-keras with
  ``softmax_robust_masking``). A fully masked row is exactly uniform.
- ``"zero"``: ``"uniform"`` then masked weights set to 0 (Keras 3 MultiHeadAttention through
  its ``Softmax`` layer: when scores are returned or dropout is set). A fully masked row is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer, RawModel, TensorRef
from .checks import (
    BASE_KEYS,
    TensorFacts,
    WeightFeed,
    check_dtype,
    check_keys,
    flag,
    number,
    read_weight,
)
from .node import Node
from .types import Ref

INITIALIZER_KEYS = frozenset({"kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                              "kernel_constraint", "bias_constraint", "activity_regularizer"})
CALL_FLAGS = frozenset({"return_attention_scores", "use_causal_mask", "training"})


@dataclass(frozen=True, eq=False)
class AttentionSpec(Node):
    """``Attention`` (``score_mode`` "dot" or "concat") or ``AdditiveAttention`` ("additive").

    Scores (batch, Tq, Tv): dot ``scale * q·kᵀ``; concat ``w * sum(tanh(scale * (q + k)))``;
    additive ``sum(scale * tanh(q + k))`` with ``scale`` a (dim,) vector. The value mask
    and ``causal`` block scores; the query mask zeroes output rows."""

    name: str
    inputs: tuple[Ref, ...]  # query, value[, key]
    class_name: str
    score_mode: str  # "dot" | "concat" | "additive"
    scale: np.ndarray | None  # () for Attention, (dim,) for AdditiveAttention
    concat_score_weight: np.ndarray | None  # () with score_mode="concat"
    causal: bool
    return_scores: bool
    softmax: str = "subtract"
    mask = "pass"  # the output carries the query's mask (sources[0])

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("", "scores") if self.return_scores else ("",)

    @property
    def output_ranks(self) -> tuple[int, ...]:
        return (3, 3) if self.return_scores else (3,)

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        """The first non-batch dim of output ``index``: the query's steps for both."""
        return time

    def describe(self) -> str:
        flags = [f"score_mode={self.score_mode}"] + (["use_scale"] if self.scale is not None else [])
        flags += ["use_causal_mask"] if self.causal else []
        flags += ["return_attention_scores"] if self.return_scores else []
        return f"{self.class_name}({', '.join(flags)})"


@dataclass(frozen=True, eq=False)
class MultiHeadAttentionSpec(Node):
    """``MultiHeadAttention`` over the time axis: per-head projections (EinsumDense kernels
    (dim, heads, size)), ``softmax(q·kᵀ / sqrt(key_dim))`` with the merged mask, and the
    output projection (heads, value_dim, out). ``roles`` names each source."""

    name: str
    inputs: tuple[Ref, ...]
    roles: tuple[str, ...]  # "query", "value", then "key" / "attention_mask" where given
    num_heads: int
    key_dim: int
    value_dim: int
    query_kernel: np.ndarray
    query_bias: np.ndarray | None
    key_kernel: np.ndarray
    key_bias: np.ndarray | None
    value_kernel: np.ndarray
    value_bias: np.ndarray | None
    output_kernel: np.ndarray
    output_bias: np.ndarray | None
    causal: bool
    return_scores: bool
    softmax: str  # see the module docstring
    mask = "pass"

    def source(self, role: str) -> int | None:
        return self.roles.index(role) if role in self.roles else None

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("", "scores") if self.return_scores else ("",)

    @property
    def output_ranks(self) -> tuple[int, ...]:
        return (3, 4) if self.return_scores else (3,)

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        """The first non-batch dim of output ``index``: the query's steps, then the heads
        of the scores (batch, heads, Tq, Tv)."""
        return time if index == 0 else self.num_heads

    def describe(self) -> str:
        flags = [f"num_heads={self.num_heads}", f"key_dim={self.key_dim}", f"value_dim={self.value_dim}"]
        flags += ["use_causal_mask"] if self.causal else []
        flags += ["return_attention_scores"] if self.return_scores else []
        return f"MultiHeadAttention({', '.join(flags)})"


ATTENTION_SPECS = (AttentionSpec, MultiHeadAttentionSpec)
MHA_TENSOR_ROLES = ("query", "value", "key", "attention_mask")
TENSOR_KWARGS = frozenset({*MHA_TENSOR_ROLES, "query_mask", "value_mask", "key_mask"})


def _call_flags(raw: RawLayer) -> tuple[bool, bool]:
    flags = dict(raw.call_kwargs)
    unknown = sorted(set(flags) - CALL_FLAGS)
    if unknown:
        raise UnsupportedError(raw.name, f"call argument(s) {', '.join(unknown)} are not supported", unknown[0])
    values = []
    for key in ("return_attention_scores", "use_causal_mask"):
        value = flags.get(key, False)
        if not isinstance(value, bool):
            raise LayerError(raw.name, f"expected true/false, got {value!r}", key)
        values.append(value)
    return values[0], values[1]


def call_tensors(raw: RawLayer) -> list[TensorRef]:
    """The tensors an attention layer reads, in its roles' order: Attention's input list;
    MultiHeadAttention's query, value, key and attention_mask (positional or keyword)."""
    if raw.class_name != "MultiHeadAttention":
        return list(raw.inbound)
    for key in ("query_mask", "value_mask", "key_mask"):
        if key in raw.tensor_kwargs:
            raise UnsupportedError(raw.name, f"an explicit {key}= tensor is not supported (masks from the inputs are)",
                                   key)
    given: dict[str, TensorRef] = dict(zip(MHA_TENSOR_ROLES, raw.inbound, strict=False))
    for role in MHA_TENSOR_ROLES:
        refs = raw.tensor_kwargs.get(role)
        if refs:
            given[role] = refs[0]
    if "query" not in given or "value" not in given:
        raise LayerError(raw.name, "MultiHeadAttention needs a query and a value")
    return [given[role] for role in MHA_TENSOR_ROLES if role in given]


def mha_roles(raw: RawLayer) -> tuple[str, ...]:
    given = set(MHA_TENSOR_ROLES[: len(raw.inbound)]) | {r for r in MHA_TENSOR_ROLES if raw.tensor_kwargs.get(r)}
    return tuple(r for r in MHA_TENSOR_ROLES if r in given)


def _sequence_inputs(raw: RawLayer, infos: Sequence[TensorFacts], what: Sequence[str]) -> None:
    for info, role in zip(infos, what, strict=False):
        if info.boolean or info.rank != 3 or info.width is None:
            raise UnsupportedError(raw.name, f"its {role} must be a (batch, time, features) float tensor")


def _width(info: TensorFacts) -> int:
    assert info.width is not None  # checked by _sequence_inputs
    return info.width


def _no_extra_weights(feed: WeightFeed, it: Any, layer: str) -> None:
    if feed.is_per_layer and next(it, None) is not None:
        raise LayerError(layer, "the file holds more weights than the layer uses")


def _attention(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...], infos: Sequence[TensorFacts],
               model: RawModel, feed: WeightFeed) -> tuple[AttentionSpec, list[TensorFacts]]:
    additive = raw.class_name == "AdditiveAttention"
    check_keys(config, BASE_KEYS | {"use_scale", "score_mode", "dropout", "seed", "causal"}, raw.name)
    check_dtype(config, raw.name)
    if len(sources) not in (2, 3):
        raise LayerError(raw.name, f"{raw.class_name} takes [query, value] or [query, value, key], got {len(sources)}")
    _sequence_inputs(raw, infos, ("query", "value", "key"))
    query, value = infos[0], infos[1]
    key = infos[2] if len(infos) == 3 else value
    if query.width != key.width:
        raise LayerError(raw.name, f"query width {query.width} differs from key width {key.width}")
    mode = "additive" if additive else config.get("score_mode", "dot")
    if mode not in ("dot", "concat", "additive"):
        raise UnsupportedError(raw.name, f"score_mode {mode!r} is not supported (dot, concat)", "score_mode")
    use_scale = flag(config, "use_scale", additive, raw.name)
    it = feed.for_layer(raw)
    scale = None
    if use_scale:
        scale = read_weight(feed, it, raw.name, raw.name, "scale", (_width(query),) if additive else ())
    concat = read_weight(feed, it, raw.name, raw.name, "concat_score_weight", ()) if mode == "concat" else None
    _no_extra_weights(feed, it, raw.name)
    return_scores, causal = _call_flags(raw)
    causal = causal or flag(config, "causal", False, raw.name)
    spec = AttentionSpec(raw.name, sources, raw.class_name, mode, scale, concat, causal, return_scores)
    outs = [TensorFacts(value.width, 3, query.masked, steps=query.steps)]
    if return_scores:
        outs.append(TensorFacts(value.steps, 3, False, steps=query.steps))
    return spec, outs


MHA_KEYS = frozenset({"num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape", "attention_axes",
                      "sliding_window", "flash_attention", "use_gate", "seed", "query_shape", "key_shape",
                      "value_shape", "softmax_robust_masking"})


def _positive(config: Mapping[str, Any], key: str, layer: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LayerError(layer, f"must be a positive integer, got {value!r}", key)
    return value


def _multi_head(raw: RawLayer, config: Mapping[str, Any], sources: tuple[Ref, ...], infos: Sequence[TensorFacts],
                model: RawModel, feed: WeightFeed) -> tuple[MultiHeadAttentionSpec, list[TensorFacts]]:
    name = raw.name
    check_keys(config, BASE_KEYS | INITIALIZER_KEYS | MHA_KEYS, name)
    check_dtype(config, name)
    roles = mha_roles(raw)
    by_role = dict(zip(roles, infos, strict=True))
    data_roles = [r for r in roles if r != "attention_mask"]
    _sequence_inputs(raw, [by_role[r] for r in data_roles], data_roles)
    if "attention_mask" in by_role:
        mask_info = by_role["attention_mask"]
        if mask_info.rank != 3:
            raise UnsupportedError(name, "attention_mask must be a (batch, Tq, Tv) tensor", "attention_mask")
    axes = config.get("attention_axes")
    if axes not in (None, 1, [1], (1,), -2, [-2]):
        raise UnsupportedError(name, f"attention_axes={axes!r} is not supported (the time axis only)", "attention_axes")
    if config.get("sliding_window") is not None:
        raise UnsupportedError(name, "sliding_window is not supported", "sliding_window")
    if config.get("use_gate"):
        raise UnsupportedError(name, "use_gate=True is not supported", "use_gate")
    heads, key_dim = _positive(config, "num_heads", name), _positive(config, "key_dim", name)
    value_dim = config.get("value_dim") or key_dim
    if not isinstance(value_dim, int) or isinstance(value_dim, bool) or value_dim < 1:
        raise LayerError(name, f"must be a positive integer, got {value_dim!r}", "value_dim")
    query, value = by_role["query"], by_role["value"]
    key = by_role.get("key", value)
    out = config.get("output_shape")
    if isinstance(out, (list, tuple)) and len(out) == 1:
        out = out[0]
    if out is None:
        out = query.width
    if not isinstance(out, int) or isinstance(out, bool) or out < 1:
        raise UnsupportedError(name, f"output_shape={config.get('output_shape')!r} is not supported (one size)",
                               "output_shape")
    use_bias = flag(config, "use_bias", True, name)
    it = feed.for_layer(raw)

    def dense(part: str, kernel: tuple[int, ...], bias: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
        k = read_weight(feed, it, name, f"{name}/{part}", "kernel", kernel)
        b = read_weight(feed, it, name, f"{name}/{part}", "bias", bias) if use_bias else None
        return k, b

    qk, qb = dense("query", (_width(query), heads, key_dim), (heads, key_dim))
    kk, kb = dense("key", (_width(key), heads, key_dim), (heads, key_dim))
    vk, vb = dense("value", (_width(value), heads, value_dim), (heads, value_dim))
    ok, ob = dense("attention_output", (heads, value_dim, out), (out,))
    _no_extra_weights(feed, it, name)
    return_scores, causal = _call_flags(raw)
    dropout = number(config, "dropout", 0.0, name) if config.get("dropout") is not None else 0.0
    if model.keras_major == 3:
        softmax = "zero" if (return_scores or dropout > 0) else "uniform"
    else:
        softmax = "uniform" if flag(config, "softmax_robust_masking", False, name) else "subtract"
    spec = MultiHeadAttentionSpec(name, sources, roles, heads, key_dim, value_dim, qk, qb, kk, kb, vk, vb, ok, ob,
                                  causal, return_scores, softmax)
    outs = [TensorFacts(out, 3, query.masked, steps=query.steps)]
    if return_scores:
        outs.append(TensorFacts(value.steps, 4, False, shape=(heads, query.steps, value.steps)))
    return spec, outs


ATTENTION_PARSERS = {"Attention": _attention, "AdditiveAttention": _attention, "MultiHeadAttention": _multi_head}


def parse_attention(raw: RawLayer, sources: Sequence[Ref], infos: Sequence[TensorFacts], model: RawModel,
                    feed: WeightFeed) -> tuple[Any, list[TensorFacts]]:
    """The spec of one attention layer and the infos of its outputs (output, then scores)."""
    return ATTENTION_PARSERS[raw.class_name](raw, raw.config, tuple(sources), list(infos), model, feed)


def check_shared_masked_inputs(layers: Sequence[Any], masked: Callable[[Ref], bool],
                               sources_of: Callable[[Any], tuple[Ref, ...]], keras_major: int | None) -> None:
    """Keras 3's MultiHeadAttention clears the masks of its query, value and key tensors when
    it runs, so another layer reading the same masked tensor sees its mask or not depending on
    the order Keras happens to execute the graph in (measured: a second MultiHeadAttention on
    the same Embedding outputs ran unmasked). Refuse rather than guess."""
    if keras_major != 3:
        return
    for layer in layers:
        if not isinstance(layer, MultiHeadAttentionSpec):
            continue
        pairs = zip(layer.inputs, layer.roles, strict=True)
        cleared = {s for s, role in pairs if role != "attention_mask" and masked(s)}
        for other in layers:
            shared = cleared & set(sources_of(other)) if other is not layer else set()
            if shared:
                tensor = min(shared, key=lambda s: (s.layer, s.index))
                raise UnsupportedError(
                    layer.name, f"its masked input '{tensor.layer}' is also read by '{other.name}': Keras 3 clears "
                    "the masks of MultiHeadAttention's inputs when it runs, so whether that layer sees the mask "
                    "depends on Keras's execution order (give each a tensor of its own)")
