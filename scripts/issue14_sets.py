"""Fixture sets of issue 14's remaining layer features: Softmax with a mask, TimeDistributed of a
functional model, TimeDistributed(Embedding(mask_zero=True)), user-named attention layers with
trained-looking weights, and Normalization adapted on data.

Imported by make_fixtures.py, which passes its ``Fx``, ``lay`` and ``Inputs`` in (this module
imports no Keras itself; every ``build`` receives the running Keras). Layers carry user-chosen
names with dashes, two layers of one class, names reused across nested models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# --------------------------------------------------------------------------
# Softmax with a mask
# --------------------------------------------------------------------------


def softmax_mask_inputs(cases: tuple = ((3, 4), (2, 6)), with_step: bool = True) -> Callable:
    """scores (batch, T, 5) normal; keep (batch, T, 5) in {0, 0.25, 0.75, 1} (Keras 3 keeps
    > 0.5, tf-keras adds (1 - keep) * -1e9: the two versions differ on 0.25 / 0.75) with one
    fully masked step in case 0; step_keep (batch, 1, 5) 0/1 with one all-zero row."""
    def make(fx: Any, rng: Any) -> list:

        out = []
        for c, (b, t) in enumerate(cases):
            x = (rng.standard_normal((b, t, 5)) * 2).astype("float32")
            keep = rng.choice([0.0, 0.25, 0.75, 1.0], size=(b, t, 5), p=[0.3, 0.1, 0.1, 0.5]).astype("float32")
            step = (rng.uniform(size=(b, 1, 5)) > 0.4).astype("float32")
            if c == 0:
                keep[0, 1] = 0.0
                step[1] = 0.0
                keep[2, 0] = 1.0
            out.append([x, keep, step] if with_step else [x, keep])
        return out
    return make


def g_softmax_mask(k3: bool) -> Callable:
    def build(keras: Any):
        L = keras.layers
        x = keras.Input((None, 5), name="scores")
        keep = keras.Input((None, 5), name="keep")
        step = keras.Input((1, 5), name="step_keep")
        probs = L.Softmax(name="attn-probs")(x, mask=keep)
        over_time = L.Softmax(axis=1, name="time-probs")(x, mask=step)  # (batch, 1, 5) broadcast over time
        # the mask Keras hands on: ReLU passes `keep` to the next Softmax, which reads it implicitly
        sharpened = L.ReLU(name="sharpen")(L.Rescaling(3.0, name="temperature")(probs))
        joint = L.Softmax(axis=[1, 2], name="joint-probs")(sharpened)
        mixed = L.Dense(3, name="mix")(probs)
        outs = [probs, over_time, joint, mixed]
        if k3:  # a boolean mask from an op (Keras 3 records keras.ops.not_equal as a NotEqual layer)
            outs.append(L.Softmax(name="bool-probs")(x, mask=keras.ops.not_equal(step, 0.0)))
        return [x, keep, step], outs
    return build


def g_softmax_robust(keras: Any):
    L = keras.layers
    x = keras.Input((None, 5), name="scores")
    keep = keras.Input((None, 5), name="keep")
    step = keras.Input((1, 5), name="step_keep")
    robust = L.Softmax(robust_masking=True, name="robust-probs")
    return [x, keep, step], [robust(x, mask=keep), L.Softmax(axis=[1, 2], robust_masking=True,
                                                              name="robust-joint")(x, mask=step)]


def g_softmax_handed_mask(keras: Any):
    """tf-keras hands the mask= tensor on implicitly (nothing in the config says so): through
    Dropout and ReLU (both support masking) to a second Softmax."""
    L = keras.layers
    x = keras.Input((None, 5), name="scores")
    keep = keras.Input((None, 5), name="keep")
    first = L.Softmax(name="first-probs")(x, mask=keep)
    again = L.Softmax(axis=1, name="again-probs")(L.ReLU(name="relu")(L.Dropout(0.2, name="drop")(first)))
    return [x, keep], [first, again]


def softmax_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    k3 = prefix == "k3"
    rule = ("Keras 3: where(mask > 0.5, x, -1e9), softmax, zeros where masked (a fully masked row is 0)" if k3 else
            "tf-keras: x + (1 - mask) * -1e9 in float32, softmax (a fully masked row is uniform; 0.25 / 0.75 "
            "mask values are both masked)")
    return [
        Fx(f"{prefix}_softmax_mask", [],
           "functional scores (None, 5), keep (None, 5) float mask in {0, .25, .75, 1}, step_keep (1, 5): "
           "Softmax(name='attn-probs')(x, mask=keep); Softmax(axis=1)(x, mask=step_keep) (broadcast over time); "
           "Rescaling(3) -> ReLU -> Softmax(axis=[1, 2]) reading keep as the mask Keras hands on; Dense(3) of "
           "the masked probabilities" + ("; Softmax(x, mask=keras.ops.not_equal(step_keep, 0))" if k3 else "")
           + "; " + rule, fmt=fmt, api="functional", build=g_softmax_mask(k3),
           inputs=Inputs(softmax_mask_inputs(), ("softmax_mask", "multi_input")), tags=("layer_family",)),
    ] + ([] if k3 else [
        Fx("k2_softmax_robust_mask", [],
           "functional scores (None, 5), keep (None, 5) in {0, .25, .75, 1}, step_keep (1, 5): tf-keras "
           "Softmax(robust_masking=True)(x, mask=keep) and Softmax(axis=[1, 2], robust_masking=True)(x, "
           "mask=step_keep): where(mask > 0.5, x, -1e9), softmax, no zeroing (a fully masked row is uniform)",
           fmt=fmt, api="functional", build=g_softmax_robust,
           inputs=Inputs(softmax_mask_inputs(), ("softmax_mask", "multi_input")), tags=("layer_family",)),
        Fx("k2_softmax_handed_mask", [],
           "functional scores (None, 5), keep (None, 5): Softmax 'first-probs'(x, mask=keep) -> Dropout -> ReLU -> "
           "Softmax(axis=1) "
           "'again-probs', which tf-keras hands keep to implicitly (its config records no mask)",
           fmt=fmt, api="functional", build=g_softmax_handed_mask,
           inputs=Inputs(softmax_mask_inputs(with_step=False), ("softmax_mask", "multi_input")),
           tags=("layer_family",)),
    ])


# --------------------------------------------------------------------------
# TimeDistributed of a functional model
# --------------------------------------------------------------------------


def td_model_inputs(cases: tuple = ((3, 5), (2, 7))) -> Callable:
    """steps (batch, T, 4) normal; words (batch, T, 6) int32 char ids in 0..11 (some 0)."""
    def make(fx: Any, rng: Any) -> list:
        out = []
        for b, t in cases:
            out.append([rng.standard_normal((b, t, 4)).astype("float32"),
                        rng.randint(0, 12, size=(b, t, 6)).astype("int32")])
        return out
    return make


def g_td_functional(k3: bool) -> Callable:
    # tf-keras's .h5 stores the wrapped model's weights in one group under the inner layers'
    # names, so two inner layers named "dense" collide there (h5py "name already exists")
    return lambda keras: _td_functional(keras, "dense" if k3 else "squash-dense")


def _td_functional(keras: Any, squash_name: str):
    L = keras.layers
    # per-step model: two layers in sequence and a Dense, with a nested model inside
    fi = keras.Input((4,), name="frame")
    h = L.Dense(5, activation="relu", name="dense")(fi)
    h = L.BatchNormalization(name="norm")(h)
    inner_in = keras.Input((5,), name="inner-in")
    inner = keras.Model(inner_in, L.Dense(5, activation="tanh", name=squash_name)(inner_in), name="squash")
    fo = L.Dense(3, name="dense-out")(inner(h))
    frame_net = keras.Model(fi, fo, name="frame-net")
    # per-word character CNN: Embedding -> Conv1D -> GlobalMaxPooling1D -> Dense
    ci = keras.Input((6,), dtype="int32", name="chars")
    c = L.Embedding(12, 3, name="char-emb")(ci)
    c = L.Conv1D(4, 3, padding="same", activation="relu", name="conv")(c)
    c = L.GlobalMaxPooling1D(name="pool")(c)
    word_net = keras.Model(ci, L.Dense(2, name="dense")(c), name="word-net")
    steps = keras.Input((None, 4), name="steps")
    words = keras.Input((None, 6), dtype="int32", name="words")
    a = L.TimeDistributed(frame_net, name="per-step")(steps)
    b = L.TimeDistributed(word_net, name="per-word")(words)
    joined = L.Concatenate(name="join")([a, b])
    return [steps, words], [a, L.LSTM(3, name="dense")(joined)]  # "dense": a name reused across models


def fit_steps(inputs: Callable, targets: Callable, steps: int = 3) -> Callable:
    """prepare(): a few Adam steps on random targets, so the weights look trained (moved off
    their initial values, BatchNormalization moving statistics updated)."""
    def prepare(keras: Any, fx: Any, model: Any, rng: Any) -> None:
        xs = inputs(rng)
        twin = keras.models.clone_model(model)  # trained apart: the saved model stays uncompiled
        twin.set_weights(model.get_weights())  # (no optimizer state in the file)
        # on the first output only: Keras 3 cannot apply an output's mask to an attention-scores loss
        trainer = keras.Model(twin.inputs, twin.outputs[0])
        ys = targets(trainer, xs, rng)
        trainer.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        trainer.fit(xs, ys, epochs=steps, batch_size=4, verbose=0, shuffle=False)
        model.set_weights(twin.get_weights())
    return prepare


def _random_targets(model: Any, xs: Any, rng: Any) -> list:
    import numpy as np

    outs = model(xs)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [rng.standard_normal(tuple(np.asarray(o).shape)).astype("float32") for o in outs]


def _td_train_inputs(rng: Any) -> list:
    return [rng.standard_normal((8, 5, 4)).astype("float32"), rng.randint(0, 12, size=(8, 5, 6)).astype("int32")]


def td_model_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    return [
        Fx(f"{prefix}_td_functional", [],
           "functional steps (None, 4) float and words (None, 6) int32: TimeDistributed(frame-net) 'per-step' "
           "with frame-net = Model(Input(4) -> Dense(5, relu, 'dense') -> BatchNormalization('norm') -> nested "
           "Model 'squash'(Dense(5, tanh, 'dense' in Keras 3, 'squash-dense' in Keras 2)) -> Dense(3, 'dense-out')); "
           "TimeDistributed(word-net) 'per-word' "
           "with word-net = Model(Input(6) int32 -> Embedding(12, 3) -> Conv1D(4, 3, same, relu) -> "
           "GlobalMaxPooling1D -> Dense(2, 'dense')); Concatenate -> LSTM(3, 'dense') (the name 'dense' in three "
           "models); 3 Adam fit steps on random targets (trained-looking weights, moved BatchNormalization "
           "statistics); outputs [per-step, lstm]", fmt=fmt, api="functional", build=g_td_functional(prefix == "k3"),
           inputs=Inputs(td_model_inputs(), ("time_distributed_model", "multi_input", "user_names")),
           prepare=fit_steps(_td_train_inputs, _random_targets), tags=("nested_model",)),
    ]


# --------------------------------------------------------------------------
# TimeDistributed(Embedding(mask_zero=True))
# --------------------------------------------------------------------------


def word_char_ids(cases: tuple = ((3, 5), (2, 5))) -> Callable:
    """(batch, 5 words, 6 chars) int32 ids in 0..11, right-padded words (trailing zeros), and in
    case 0 a fully padded word (row 0, word 4) and a word with a hole (row 1, word 0)."""
    def make(fx: Any, rng: Any) -> list:
        import numpy as np

        out = []
        for c, (b, t) in enumerate(cases):
            ids = rng.randint(1, 12, size=(b, t, 6)).astype("int32")
            lengths = rng.randint(1, 7, size=(b, t))
            ids[np.arange(6)[None, None, :] >= lengths[..., None]] = 0
            if c == 0:
                ids[0, 4] = 0
                ids[1, 0, 1] = 0
            out.append([ids])
        return out
    return make


def g_td_embedding_mask_zero(k3: bool) -> Callable:
    def build(keras: Any):
        L = keras.layers
        ids = keras.Input((5, 6), dtype="int32", name="word-chars")
        chars = L.TimeDistributed(L.Embedding(12, 3, mask_zero=True, name="char-emb"), name="chars")(ids)
        # Reshape ends tf-keras's (batch, words, chars) mask; Keras 3 hands on none
        words = L.Reshape((5, 18), name="flat-words")(chars)
        outs = [chars, L.LSTM(3, name="tagger")(words)]
        if k3:  # tf-keras raises "Layer conv1d does not support masking" here; Keras 3 has no mask to pass
            conv = L.TimeDistributed(L.Conv1D(4, 3, padding="same", activation="relu"), name="char-conv")(chars)
            pooled = L.TimeDistributed(L.GlobalMaxPooling1D(), name="char-pool")(conv)
            outs.append(L.LSTM(2, name="tagger-2")(pooled))
        return [ids], outs
    return build


def td_embedding_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    k3 = prefix == "k3"
    rule = ("Keras 3: TimeDistributed has no compute_mask of its own, so its output carries no mask and mask_zero "
            "changes nothing; TimeDistributed(Conv1D) -> TimeDistributed(GlobalMaxPooling1D) -> LSTM(2) too" if k3
            else "tf-keras: TimeDistributed.compute_mask hands on a (batch, 5, 6) mask, which Reshape ends (a "
            "TimeDistributed(Conv1D) after it raises 'does not support masking' in tf-keras)")
    return [
        Fx(f"{prefix}_td_embedding_mask_zero", [],
           "Input((5, 6), int32) word-chars -> TimeDistributed(Embedding(12, 3, mask_zero=True)) 'chars' -> "
           "Reshape((5, 18)) -> LSTM(3) 'tagger'; outputs [chars, tagger" + (", tagger-2]; " if k3 else "]; ") + rule,
           fmt=fmt, api="functional", build=g_td_embedding_mask_zero(k3), inputs=Inputs(word_char_ids(),
           ("int_input", "time_distributed_mask_zero")), tags=("user_names",)),
    ]


# --------------------------------------------------------------------------
# Attention layers with user names and trained-looking weights
# --------------------------------------------------------------------------


def attention_named_inputs(cases: tuple = ((4, 5, 6), (2, 3, 6))) -> Callable:
    """target_tokens (batch, Tq), source_tokens (batch, Tv) int32 in 0..11 with padding zeros
    (case 0: target row 1 and source row 2 fully padded, left padding in row 3), and a float
    0/1 attention_mask (batch, Tq, Tv) (case 0: query step 1 of row 0 fully blocked)."""
    def make(fx: Any, rng: Any) -> list:
        out = []
        for c, (b, tq, tv) in enumerate(cases):
            tgt = rng.randint(1, 12, size=(b, tq)).astype("int32")
            src = rng.randint(1, 12, size=(b, tv)).astype("int32")
            tgt[0, -2:] = 0
            src[0, -1] = 0
            if c == 0:
                tgt[1] = 0
                src[2] = 0
                tgt[3, :2] = 0
                src[3, 1] = 0
            mask = (rng.uniform(size=(b, tq, tv)) > 0.3).astype("float32")
            if c == 0:
                mask[0, 1] = 0.0
            out.append([tgt, src, mask])
        return out
    return make


def _attention_train_inputs(rng: Any) -> list:
    tgt = rng.randint(0, 12, size=(8, 5)).astype("int32")
    src = rng.randint(0, 12, size=(8, 6)).astype("int32")
    return [tgt, src, (rng.uniform(size=(8, 5, 6)) > 0.3).astype("float32")]


def g_attention_named(k3: bool) -> Callable:
    mha_name = "decoder-mha" if k3 else "decoder/mha"  # Keras 3 refuses "/" in a name, tf-keras takes it

    def build(keras: Any):
        L = keras.layers
        tgt = keras.Input((None,), dtype="int32", name="target_tokens")
        src = keras.Input((None,), dtype="int32", name="source_tokens")
        # the value axis of a float mask input is fixed: the converter needs an input's last dim
        blocked = keras.Input((None, 6), name="attention_mask")
        dec = L.Embedding(12, 4, mask_zero=True, name="tgt-emb")(tgt)
        enc = L.Embedding(12, 4, mask_zero=True, name="src-emb")(src)
        concat = L.Attention(use_scale=True, score_mode="concat", name="enc-attn")([dec, enc])
        dot, dot_scores = L.Attention(use_scale=True, name="dec-attn")([dec, enc], return_attention_scores=True)
        additive = L.AdditiveAttention(name="bahdanau-attn")([dec, enc, enc], use_causal_mask=True)
        # Keras 3's MultiHeadAttention clears its inputs' masks: each gets Embedding outputs of its own
        dec2 = L.Embedding(12, 4, mask_zero=True, name="tgt-emb-2")(tgt)
        enc2 = L.Embedding(12, 3, mask_zero=True, name="src-emb-2")(src)
        cross, cross_scores = L.MultiHeadAttention(2, 3, value_dim=2, name=mha_name)(
            dec2, enc2, attention_mask=blocked, return_attention_scores=True)
        dec3 = L.Embedding(12, 4, mask_zero=True, name="tgt-emb-3")(tgt)
        self_attn = L.MultiHeadAttention(2, 2, name="self-mha")(dec3, dec3, use_causal_mask=True)
        # the LSTM reads the Attention output (the query's mask); Keras 3 would record the ops of
        # Concatenate's mask (expand_dims, zeros_like, logical_or) as graph nodes for an LSTM after it
        seq = L.LSTM(4, return_sequences=True, name="decoder-rnn")(dot)
        joined = L.Concatenate(name="join")([concat, seq, additive, cross, self_attn])
        head = L.Dense(6, activation="softmax", name="vocab")(joined)
        return [tgt, src, blocked], [head, dot_scores, cross_scores]
    return build


def attention_named_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    k3 = prefix == "k3"
    return [
        Fx(f"{prefix}_attention_named", [],
           "functional target_tokens, source_tokens (None,) int32, attention_mask (None, 6) float 0/1: "
           "Embedding(12, 4, mask_zero=True) 'tgt-emb' / 'src-emb' -> Attention(use_scale=True, score_mode='concat') "
           "'enc-attn'; Attention(use_scale=True) 'dec-attn' (return_attention_scores); AdditiveAttention "
           "'bahdanau-attn'([q, v, v], use_causal_mask=True); MultiHeadAttention(2, 3, value_dim=2) "
           + ("'decoder-mha' (Keras 3 refuses '/' in names)" if k3 else "'decoder/mha' (a '/' in the name)")
           + "(q, v, attention_mask=, return_attention_scores=True) on Embeddings of their own; "
           "MultiHeadAttention(2, 2) "
           "'self-mha'(q, q, use_causal_mask=True); LSTM(4, seq) 'decoder-rnn' of dec-attn; Concatenate of all -> "
           "Dense(6, softmax); "
           "outputs [vocab, dec-attn scores, mha scores]; 3 Adam fit steps on random targets (trained-looking "
           "weights); case 0: fully padded target and source rows, left padding, a fully blocked query step",
           fmt=fmt, api="functional", build=g_attention_named(k3),
           inputs=Inputs(attention_named_inputs(), ("attention", "attention_mask", "int_input", "multi_input")),
           prepare=fit_steps(_attention_train_inputs, _random_targets), tags=("user_names", "causal", "trained")),
    ]


# --------------------------------------------------------------------------
# Normalization adapted on data
# --------------------------------------------------------------------------
NORM_SCALE = (1.0, 5.0, 0.2)
NORM_SHIFT = (3.0, -2.0, 0.5)


def _readings(rng: Any, shape: tuple) -> Any:
    return (rng.standard_normal(shape) * NORM_SCALE + NORM_SHIFT).astype("float32")


def normalization_inputs(cases: tuple = ((3, 6), (2, 8))) -> Callable:
    """readings (batch, 4, 3) on the adapt data's scale; tokens (batch, T) int32 in 0..9
    (case 0: row 0 right-padded, row 1 fully padded)."""
    def make(fx: Any, rng: Any) -> list:
        out = []
        for c, (b, t) in enumerate(cases):
            tokens = rng.randint(1, 10, size=(b, t)).astype("int32")
            tokens[0, -2:] = 0
            if c == 0:
                tokens[1] = 0
            out.append([_readings(rng, (b, 4, 3)), tokens])
        return out
    return make


def adapt_normalizations(keras: Any, fx: Any, model: Any, rng: Any) -> None:
    """prepare(): every Normalization adapts on data of its input's shape (its mean, variance
    and count become the data's), after the random weights."""
    for layer in model.layers:
        if type(layer).__name__ == "Normalization":
            shape = (64, *(d if d is not None else 6 for d in layer.input.shape[1:]))
            layer.adapt(_readings(rng, shape))


def g_normalization_adapt(keras: Any):
    L = keras.layers
    x = keras.Input((4, 3), name="readings")
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    per_feature = L.Normalization(axis=-1, name="feature-norm")(x)
    per_feature_tuple = L.Normalization(axis=(-1,), name="feature-norm-tuple")(x)
    per_step = L.Normalization(axis=(1, 2), name="step-feature-norm")(x)
    encoded = L.LSTM(3, return_sequences=True, name="encoder")(per_feature)
    restored = L.Normalization(axis=-1, invert=True, name="denorm")(encoded)
    summary = L.GRU(2, name="encoder-2")(per_step)
    # Keras 3's Normalization passes the Embedding's mask on; tf-keras's ends it (no masking support)
    embedded = L.Normalization(name="emb-norm")(L.Embedding(10, 3, mask_zero=True, name="tok-emb")(tokens))
    masked = L.LSTM(2, name="masked-rnn")(embedded)
    return [x, tokens], [per_feature_tuple, restored, summary, masked]


def normalization_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    rule = ("Keras 3: the Embedding mask passes Normalization, the LSTM is masked" if prefix == "k3" else
            "tf-keras: Normalization does not support masking, so the LSTM after it runs unmasked")
    return [
        Fx(f"{prefix}_normalization_adapt", [],
           "functional readings (4, 3), tokens (None,) int32; every Normalization adapt()-ed on 64 samples of "
           "N(0, 1) * [1, 5, 0.2] + [3, -2, 0.5] after the random weights: Normalization(axis=-1) 'feature-norm' "
           "-> LSTM(3, seq) 'encoder' -> Normalization(axis=-1, invert=True) 'denorm'; Normalization(axis=(-1,)) "
           "'feature-norm-tuple'; Normalization(axis=(1, 2)) 'step-feature-norm' (mean per step and feature) -> "
           "GRU(2) 'encoder-2'; tokens -> Embedding(10, 3, mask_zero=True) -> Normalization() 'emb-norm' -> LSTM(2) "
           "'masked-rnn' (case 0: a right-padded and a fully padded row); " + rule, fmt=fmt, api="functional",
           build=g_normalization_adapt, inputs=Inputs(normalization_inputs(), ("multi_input", "int_input", "mask")),
           prepare=adapt_normalizations, tags=("layer_family", "user_names", "adapt")),
    ]


# --------------------------------------------------------------------------
# Merges of a masked and an unmasked tensor (the mask rule differs by version)
# --------------------------------------------------------------------------


def merge_mask_inputs(cases: tuple = ((3, 5), (2, 7))) -> Callable:
    """tokens (batch, T) int32 in 0..4 right-padded (case 0: row 1 fully padded, row 2 left
    padding); features (batch, T, 3) normal."""
    def make(fx: Any, rng: Any) -> list:
        out = []
        for c, (b, t) in enumerate(cases):
            tokens = rng.randint(1, 5, size=(b, t)).astype("int32")
            tokens[0, -2:] = 0
            if c == 0:
                tokens[1] = 0
                tokens[2, :2] = 0
            out.append([tokens, rng.standard_normal((b, t, 3)).astype("float32")])
        return out
    return make


def g_merge_mask(k3: bool) -> Callable:
    def build(keras: Any):
        L = keras.layers
        tokens = keras.Input((None,), dtype="int32", name="tokens")
        features = keras.Input((None, 3), name="features")
        embedded = L.Embedding(5, 3, mask_zero=True, name="tok-emb")(tokens)
        mixed = L.Add(name="sum")([embedded, features])
        outs = [L.GRU(2, return_sequences=True, name="merged-rnn")(mixed)]
        averaged = L.Average(name="mean")([features, embedded])
        outs.append(L.LSTM(2, name="merged-rnn-2")(averaged))
        if not k3:  # tf-keras only (Keras 3 LogicalOr nodes were refused then; see k3_maskop_*)
            other = L.Embedding(5, 3, mask_zero=True, name="tok-emb-2")(tokens)
            outs.append(L.SimpleRNN(2, name="both-masked")(L.Multiply(name="product")([embedded, other])))
        return [tokens, features], outs
    return build


def merge_mask_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    k3 = prefix == "k3"
    rule = ("Keras 3: an elementwise merge with an unmasked input has no mask, so both recurrent layers run "
            "unmasked" if k3 else "tf-keras: the merge keeps the masked input's mask (unmasked inputs left out of "
            "the AND), so both recurrent layers are masked; Multiply of two masked Embeddings -> SimpleRNN(2): AND")
    return [
        Fx(f"{prefix}_merge_mask_mixed", [],
           "functional tokens (None,) int32 -> Embedding(5, 3, mask_zero=True) 'tok-emb'; features (None, 3): "
           "Add([emb, features]) -> GRU(2, seq) 'merged-rnn'; Average([features, emb]) -> LSTM(2) 'merged-rnn-2'; "
           + rule, fmt=fmt, api="functional", build=g_merge_mask(k3),
           inputs=Inputs(merge_mask_inputs(), ("multi_input", "int_input", "mask")), tags=("user_names",)),
    ]


def all_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    return [*softmax_sets(prefix, fmt, Fx, lay, Inputs), *td_model_sets(prefix, fmt, Fx, lay, Inputs),
            *td_embedding_sets(prefix, fmt, Fx, lay, Inputs), *attention_named_sets(prefix, fmt, Fx, lay, Inputs),
            *normalization_sets(prefix, fmt, Fx, lay, Inputs), *merge_mask_sets(prefix, fmt, Fx, lay, Inputs)]
