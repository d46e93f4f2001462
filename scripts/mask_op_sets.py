"""Fixture sets of masks computed by merge layers and read by recurrent layers: Add, Average and
Concatenate of masked sequences (Embedding(mask_zero=True), Masking) feeding LSTM, GRU,
SimpleRNN and Bidirectional(LSTM).

Keras 3 records the mask computation of these merges as op nodes in the saved config
(NotEqual, LogicalOr, ExpandDims, ZerosLike/OnesLike(dtype=bool), the op Concatenate, Any)
and hands the result to the recurrent layer as ``mask=``; tf-keras records none of it (the
mask flows implicitly), so the k2 twins of the same models check that path still works.

Imported by make_fixtures.py, which passes its ``Fx``, ``lay`` and ``Inputs`` in (this module
imports no Keras itself; every ``build`` receives the running Keras). Layers carry user-chosen
names with dashes; each model gets a few Adam steps (trained-looking weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from issue14_sets import _random_targets, fit_steps

VOCAB = 9

# Padding per row of case 0 (batch 5, T = 6); 1 = a padded step (token 0). Each token input of
# a model gets its own column of patterns, so the merged mask differs from every input's.
PADDING = {
    "a": ([0, 0, 0, 0, 1, 1], [1, 1, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]),
    "b": ([1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 0, 1, 0, 0, 1], [1, 1, 1, 1, 1, 1]),
}
PADDING_CASE1 = {"a": ([0, 0, 1, 1], [1, 0, 0, 0]), "b": ([0, 0, 0, 1], [1, 1, 1, 1])}  # batch 2, T = 4
# Float features: steps that are all zero (masked by Masking(0.0)) per row of case 0 / case 1.
ZERO_STEPS = (([5], [0, 1], [], [2, 3], [0, 1, 2, 3, 4, 5]), ([3], []))


def _tokens(rng: Any, pattern: Any) -> Any:
    import numpy as np

    pad = np.array(pattern, dtype=bool)
    ids = rng.randint(1, VOCAB, size=pad.shape).astype("int32")
    ids[pad] = 0
    return ids


def _features(rng: Any, shape: tuple, zero_steps: tuple) -> Any:
    x = rng.standard_normal(shape).astype("float32")
    for row, steps in enumerate(zero_steps):
        x[row, steps] = 0.0
    return x


def padded_inputs(*kinds: str, fixed_cases: bool = False) -> Callable:
    """One array per model input, per case: ``"a"`` / ``"b"`` token ids padded by that column
    of ``PADDING``; ``"f"`` float (batch, T, 2) features with all-zero steps (``ZERO_STEPS``).
    ``fixed_cases``: both cases T = 4 (a model with a fixed time axis)."""
    def make(fx: Any, rng: Any) -> list:
        cases = []
        for c in range(2):
            case = []
            for kind in kinds:
                if kind == "f":
                    steps = 6 if c == 0 and not fixed_cases else 4
                    zero = tuple([s for s in row if s < steps] for row in ZERO_STEPS[c])
                    case.append(_features(rng, (len(zero), steps, 2), zero))
                elif c == 0 and not fixed_cases:
                    case.append(_tokens(rng, PADDING[kind]))
                elif c == 0:
                    case.append(_tokens(rng, [row[:4] for row in PADDING[kind]]))
                else:
                    case.append(_tokens(rng, PADDING_CASE1[kind]))
            cases.append(case)
        return cases
    return make


def _train_inputs(*kinds: str, steps: int = 6) -> Callable:
    """Random training batches: token ids with zeros (padding) anywhere, normal features."""
    def make(rng: Any) -> list:
        out = []
        for kind in kinds:
            if kind == "f":
                out.append(rng.standard_normal((8, steps, 2)).astype("float32"))
            else:
                out.append(rng.randint(0, VOCAB, size=(8, steps)).astype("int32"))
        return out
    return make


def _token_input(keras: Any, name: str, steps: int | None = None) -> Any:
    return keras.Input((steps,), dtype="int32", name=name)


def g_add_lstm(keras: Any):
    """Add of two masked embeddings: Keras 3 ORs their masks (NotEqual x2, LogicalOr)."""
    L = keras.layers
    query, doc = _token_input(keras, "query-ids"), _token_input(keras, "doc-ids")
    summed = L.Add(name="sum-emb")([L.Embedding(VOCAB, 4, mask_zero=True, name="query-emb")(query),
                                     L.Embedding(VOCAB, 4, mask_zero=True, name="doc-emb")(doc)])
    seq = L.LSTM(3, return_sequences=True, name="enc-lstm")(summed)
    last = L.LSTM(2, name="enc-lstm-last")(summed)
    return [query, doc], [seq, last]


def g_concat_gru(keras: Any):
    """Concatenate of a masked embedding with float features: unmasked (every step kept, the
    OnesLike idiom) and masked by Masking(0.0) (both masks widened, concatenated, Any)."""
    L = keras.layers
    tokens, feats = _token_input(keras, "token-ids"), keras.Input((None, 2), name="side-feats")
    emb = L.Embedding(VOCAB, 3, mask_zero=True, name="tok-emb")(tokens)
    open_seq = L.GRU(3, return_sequences=True, name="gru-open")(L.Concatenate(name="joined")([emb, feats]))
    masked = L.Masking(0.0, name="feat-mask")(feats)
    last = L.GRU(2, name="gru-masked")(L.Concatenate(name="joined-masked")([emb, masked]))
    return [tokens, feats], [open_seq, last]


def g_concat_bidi(keras: Any):
    """Concatenate of two masked embeddings with different padding -> Bidirectional(LSTM)."""
    L = keras.layers
    left, right = _token_input(keras, "left-ids"), _token_input(keras, "right-ids")
    both = L.Concatenate(name="both-emb")([L.Embedding(VOCAB, 3, mask_zero=True, name="emb-left")(left),
                                          L.Embedding(VOCAB, 2, mask_zero=True, name="emb-right")(right)])
    seq = L.Bidirectional(L.LSTM(2, return_sequences=True), name="bi-enc")(both)
    last = L.Bidirectional(L.LSTM(2), merge_mode="sum", name="bi-enc-sum")(both)
    return [left, right], [seq, last]


def g_average_rnn(keras: Any):
    """Average of two masked embeddings (LogicalOr of the masks in Keras 3) -> SimpleRNN."""
    L = keras.layers
    a, b = _token_input(keras, "ids-a"), _token_input(keras, "ids-b")
    mean = L.Average(name="mean-emb")([L.Embedding(VOCAB, 3, mask_zero=True, name="emb-a")(a),
                                       L.Embedding(VOCAB, 3, mask_zero=True, name="emb-b")(b)])
    return [a, b], [L.SimpleRNN(3, return_sequences=True, name="mean-rnn")(mean),
                    L.SimpleRNN(2, go_backwards=True, name="mean-rnn-back")(mean)]


def g_multiply_rnn(keras: Any):
    """Multiply of two masked embeddings and Maximum of one with float features: Keras 3's
    Multiply/Maximum read their inputs' masks (a masked input counts as 1 / as the other
    input), tf-keras's do not."""
    L = keras.layers
    a, b, feats = _token_input(keras, "ids-a"), _token_input(keras, "ids-b"), keras.Input((None, 2), name="feats")
    emb_a = L.Embedding(VOCAB, 2, mask_zero=True, name="emb-a")(a)
    product = L.Multiply(name="gate-mul")([emb_a, L.Embedding(VOCAB, 2, mask_zero=True, name="emb-b")(b)])
    peak = L.Maximum(name="peak")([emb_a, feats])
    return [a, b, feats], [L.SimpleRNN(3, return_sequences=True, name="mul-rnn")(product),
                           L.SimpleRNN(2, name="peak-rnn")(peak), product, peak]


def g_time_concat(keras: Any):
    """Concatenate along time of two masked embeddings (fixed T = 4 each): the op Concatenate
    joins the widened masks along axis 1 before Any."""
    L = keras.layers
    first, second = _token_input(keras, "first-ids", 4), _token_input(keras, "second-ids", 4)
    shared = L.Embedding(VOCAB, 3, mask_zero=True, name="shared-emb")
    joined = L.Concatenate(axis=1, name="then")([shared(first), shared(second)])
    return [first, second], [L.GRU(3, return_sequences=True, name="joined-gru")(joined)]


def mask_op_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    k3 = prefix == "k3"
    recorded = ("; Keras 3 records the mask as op nodes (" if k3 else "; tf-keras records no op nodes (") + "{})"
    tags = ("multi_input", "int_input", "mask", "user_names", "trained", "merge_mask")

    def fx(name: str, desc: str, ops: str, build: Callable, kinds: tuple, fixed: bool = False, **extra: Any) -> Any:
        return Fx(f"{prefix}_maskop_{name}", [], desc + recorded.format(ops if k3 else "the mask flows implicitly"),
                  **{"fmt": fmt, **extra}, api="functional", build=build,
                  inputs=Inputs(padded_inputs(*kinds, fixed_cases=fixed), tags),
                  prepare=fit_steps(_train_inputs(*kinds, steps=4 if fixed else 6), _random_targets))

    legacy = [fx("concat_gru_h5", "the concat_gru model saved by Keras 3 as a legacy .h5, which keeps the op nodes "
                 "but drops their module (only the file's layer_names tell the op Concatenate from the layer); "
                 "Keras 3 itself fails to reload it ('Unknown layer: NotEqual'), so no reload check",
                 "NotEqual, ExpandDims, ZerosLike/OnesLike(bool), LogicalOr, op Concatenate, Any", g_concat_gru,
                 ("a", "f"), fmt="h5", reload_check=False)] if k3 else []
    return [*legacy,
        fx("add_lstm", "functional query-ids, doc-ids (None,) int32 -> Embedding(9, 4, mask_zero=True) 'query-emb' / "
           "'doc-emb' -> Add 'sum-emb' -> LSTM(3, seq) 'enc-lstm' and LSTM(2) 'enc-lstm-last'; padding differs "
           "per input (right, left, holes, fully padded rows); 3 Adam steps", "NotEqual x2, LogicalOr", g_add_lstm,
           ("a", "b")),
        fx("concat_gru", "functional token-ids (None,) int32 -> Embedding(9, 3, mask_zero=True) 'tok-emb', side-feats "
           "(None, 2) float; Concatenate 'joined'([emb, feats]) -> GRU(3, seq) 'gru-open' (every step kept: feats "
           "has no mask); Masking(0.0) 'feat-mask'(feats), Concatenate 'joined-masked' -> GRU(2) 'gru-masked'; "
           "3 Adam steps", "NotEqual, ExpandDims, ZerosLike/OnesLike(bool), LogicalOr, op Concatenate, Any",
           g_concat_gru, ("a", "f")),
        fx("concat_bidi", "functional left-ids, right-ids (None,) int32 -> Embedding(9, 3) 'emb-left' / Embedding(9, "
           "2) 'emb-right' (mask_zero, different padding) -> Concatenate 'both-emb' -> Bidirectional(LSTM(2, seq)) "
           "'bi-enc' and Bidirectional(LSTM(2), merge_mode='sum') 'bi-enc-sum'; 3 Adam steps",
           "NotEqual x2, ExpandDims x2, ZerosLike(bool) x2, LogicalOr x2, op Concatenate, Any", g_concat_bidi,
           ("a", "b")),
        fx("average_rnn", "functional ids-a, ids-b (None,) int32 -> Embedding(9, 3, mask_zero=True) 'emb-a' / "
           "'emb-b' -> Average 'mean-emb' -> SimpleRNN(3, seq) 'mean-rnn' and SimpleRNN(2, go_backwards) "
           "'mean-rnn-back'; 3 Adam steps", "NotEqual x2, LogicalOr", g_average_rnn, ("a", "b")),
        fx("multiply_rnn", "functional ids-a, ids-b (None,) int32 -> Embedding(9, 2, mask_zero=True) 'emb-a' / "
           "'emb-b', feats (None, 2) float; Multiply 'gate-mul'(emb-a, emb-b) -> SimpleRNN(3, seq) 'mul-rnn'; "
           "Maximum 'peak'(emb-a, feats) -> SimpleRNN(2) 'peak-rnn'; outputs [mul-rnn, peak-rnn, gate-mul, peak] "
           "(Keras 3's Multiply/Maximum change masked steps' values); 3 Adam steps",
           "NotEqual x2, LogicalOr", g_multiply_rnn, ("a", "b", "f")),
        fx("time_concat", "functional first-ids, second-ids (4,) int32 -> one Embedding(9, 3, mask_zero=True) "
           "'shared-emb' on both -> Concatenate(axis=1) 'then' (8 steps) -> GRU(3, seq) 'joined-gru'; fixed time "
           "(unroll converts it too); 3 Adam steps", "NotEqual x2, ExpandDims x2, ZerosLike(bool) x2, LogicalOr x2, "
           "op Concatenate(axis=1), Any", g_time_concat, ("a", "b"), fixed=True),
    ]
