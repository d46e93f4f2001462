"""Fixture sets of TimeDistributed wrapping a recurrent layer: a hierarchical document
classifier (a per-sentence word encoder model with Embedding(mask_zero=True) and a
Bidirectional GRU, then an LSTM over sentences), TimeDistributed(LSTM(return_sequences=True))
over fixed and dynamic sizes, TimeDistributed(SimpleRNN(go_backwards=True)) and
TimeDistributed(Bidirectional(GRU(return_sequences=True))).

Imported by make_fixtures.py, which passes its ``Fx``, ``lay`` and ``Inputs`` in (this module
imports no Keras itself; every ``build`` receives the running Keras). Layers carry user-chosen
names with dashes, two layers of one class, a name reused across the nested model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from issue14_sets import fit_steps, word_char_ids

# --------------------------------------------------------------------------
# Hierarchical document classifier
# --------------------------------------------------------------------------

VOCAB, WORDS = 20, 6


def doc_ids(cases: tuple = ((4, 5), (3, 3))) -> Callable:
    """(batch, sentences, 6 words) int32 ids in 1..19, zero-padded: each sentence right-padded
    with zero words, trailing sentences of zeros (a document shorter than the batch's longest),
    and in case 0 a fully padded first sentence (row 2) and a hole (a zero word mid-sentence)."""
    def make(fx: Any, rng: Any) -> list:
        import numpy as np

        out = []
        for c, (b, s) in enumerate(cases):
            ids = rng.randint(1, VOCAB, size=(b, s, WORDS)).astype("int32")
            lengths = rng.randint(1, WORDS + 1, size=(b, s))
            ids[np.arange(WORDS)[None, None, :] >= lengths[..., None]] = 0
            sentences = rng.randint(1, s + 1, size=b)
            ids[np.arange(s)[None, :] >= sentences[:, None]] = 0
            if c == 0:
                ids[0, :2, :3] = rng.randint(1, VOCAB, size=(2, 3))  # row 0: two sentences at least
                ids[2, 0] = 0
                ids[1, 0, 1] = 0
            out.append([ids])
        return out
    return make


def _doc_train_inputs(rng: Any) -> list:
    return doc_ids(((8, 5),))(None, rng)[0]


def _class_targets(model: Any, xs: Any, rng: Any) -> list:
    import numpy as np

    outs = model(xs)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    shape = tuple(np.asarray(outs[0]).shape)
    labels = rng.randint(0, shape[-1], size=shape[0])
    return [np.eye(shape[-1], dtype="float32")[labels]]


def g_hierarchical(keras: Any):
    L = keras.layers
    words = keras.Input((WORDS,), dtype="int32", name="words")
    e = L.Embedding(VOCAB, 4, mask_zero=True, name="word-emb")(words)
    g = L.Bidirectional(L.GRU(3, name="word-gru"), name="word-bigru")(e)
    encoder = keras.Model(words, L.Dense(4, activation="tanh", name="proj")(g), name="word-encoder")
    doc = keras.Input((None, WORDS), dtype="int32", name="doc-words")
    sentences = L.TimeDistributed(encoder, name="sentence-encoder")(doc)
    h = L.LSTM(5, name="sentence-lstm")(sentences)
    label = L.Dense(3, activation="softmax", name="proj-2")(L.Dense(4, activation="relu", name="proj")(h))
    return [doc], [label, sentences]


# --------------------------------------------------------------------------
# TimeDistributed of a bare recurrent layer over float frames
# --------------------------------------------------------------------------


def frames(cases: tuple) -> Callable:
    """Standard-normal (batch, T, W, 2) frames, one shape per case."""
    def make(fx: Any, rng: Any) -> list:
        return [[rng.standard_normal(shape).astype("float32")] for shape in cases]
    return make


def g_lstm_seq(fixed: bool) -> Callable:
    def build(keras: Any):
        L = keras.layers
        x = keras.Input((3, 5, 2) if fixed else (None, None, 2), name="clips")
        y = L.TimeDistributed(L.LSTM(4, return_sequences=True, name="frame-lstm"), name="per-clip")(x)
        return [x], [y, L.Dense(2, name="frame-out")(y)]
    return build


def g_simple_backwards(keras: Any):
    L = keras.layers
    x = keras.Input((4, None, 2), name="bursts")
    y = L.TimeDistributed(L.SimpleRNN(5, go_backwards=True, name="rev-rnn"), name="per-burst")(x)
    return [x], [y, L.LSTM(3, name="burst-lstm")(y)]


def g_bigru_seq(keras: Any):
    L = keras.layers
    x = keras.Input((3, 5, 2), name="clips")
    seq = L.TimeDistributed(L.Bidirectional(L.GRU(3, return_sequences=True, name="gru"), merge_mode="sum",
                                            name="bi-gru"), name="per-clip-seq")(x)
    last = L.TimeDistributed(L.GRU(2, go_backwards=True, name="gru"), name="per-clip-last")(seq)
    return [x], [seq, last]


def g_char_words(keras: Any):
    L = keras.layers
    ids = keras.Input((None, 6), dtype="int32", name="word-chars")
    chars = L.TimeDistributed(L.Embedding(12, 3, mask_zero=True, name="char-emb"), name="chars")(ids)
    words = L.TimeDistributed(L.LSTM(4, name="char-lstm"), name="word-vectors")(chars)
    tagger = L.LSTM(3, return_sequences=True, name="tagger")(words)
    seq = L.TimeDistributed(L.Bidirectional(L.GRU(2, return_sequences=True, name="char-gru"), name="char-bigru"),
                            name="char-seq")(chars)
    ends = L.TimeDistributed(L.GRU(2, go_backwards=True, name="char-gru"), name="word-ends")(seq)
    return [ids], [words, tagger, ends, L.GRU(2, name="end-gru")(ends)]


def g_sequential_encoder(keras: Any):
    L = keras.layers
    encoder = keras.Sequential([keras.Input((5, 2)), L.Dense(3, activation="relu", name="frame-dense"),
                                L.BatchNormalization(name="frame-norm"), L.LSTM(4, name="frame-lstm")],
                               name="clip-encoder")
    x = keras.Input((None, 5, 2), name="clips")
    clips = L.TimeDistributed(encoder, name="per-clip")(x)
    return [x], [clips, L.GRU(2, name="clip-gru")(clips)]


def _clip_train_inputs(rng: Any) -> list:
    return [rng.standard_normal((8, 3, 5, 2)).astype("float32")]


def _random_targets(model: Any, xs: Any, rng: Any) -> list:
    import numpy as np

    outs = model(xs)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [rng.standard_normal(tuple(np.asarray(o).shape)).astype("float32") for o in outs]


def td_rnn_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    k3 = prefix == "k3"
    masks = ("Keras 3: TimeDistributed has no compute_mask, its output keeps its input's mask (none)" if k3 else
             "tf-keras: TimeDistributed.compute_mask asks the encoder, whose output has no mask")
    chars = ("tf-keras: TimeDistributed reshapes the Embedding's (batch, words, chars) mask to (batch * words, "
             "chars) for the wrapped LSTM and Bidirectional GRU (padded chars skipped); word-vectors' mask is its any "
             "over chars (the tagger skips fully padded words); char-seq hands the chars mask on to word-ends"
             if not k3 else "Keras 3: TimeDistributed(Embedding) hands no mask on, so every char and word is read")
    return [
        Fx(f"{prefix}_td_rnn_char_words", [],
           "Input((None, 6), int32) 'word-chars' -> TimeDistributed(Embedding(12, 3, mask_zero=True) 'char-emb') "
           "'chars' -> TimeDistributed(LSTM(4, 'char-lstm')) 'word-vectors' -> LSTM(3, return_sequences=True) "
           "'tagger'; chars -> TimeDistributed(Bidirectional(GRU(2, return_sequences=True, 'char-gru'))) 'char-seq' "
           "-> TimeDistributed(GRU(2, go_backwards=True, 'char-gru')) 'word-ends' -> GRU(2) 'end-gru'; outputs "
           f"[word-vectors, tagger, word-ends, end-gru]; zero-padded chars, a fully padded word. {chars}",
           fmt=fmt, api="functional", build=g_char_words, inputs=Inputs(word_char_ids(((3, 5), (2, 4))),
           ("int_input", "mask")), wscale=0.8, tags=("user_names", "time_distributed_rnn")),
        Fx(f"{prefix}_td_rnn_hierarchical", [],
           "hierarchical document classifier: Input((None, 6), int32) 'doc-words' -> TimeDistributed(word-encoder) "
           "'sentence-encoder' with word-encoder = Model(Input(6) int32 'words' -> Embedding(20, 4, mask_zero=True) "
           "'word-emb' -> Bidirectional(GRU(3, 'word-gru')) 'word-bigru' -> Dense(4, tanh, 'proj')) -> LSTM(5) "
           "'sentence-lstm' -> Dense(4, relu, 'proj': a name reused from the encoder) -> Dense(3, softmax, 'proj-2'); "
           "zero-padded words and "
           f"sentences; 3 Adam fit steps; outputs [proj-2, sentence-encoder]. The words mask the GRU; {masks}, so "
           "the sentence LSTM reads a padded sentence's encoding (Dense of the GRU's zero output)",
           fmt=fmt, api="functional", build=g_hierarchical, inputs=Inputs(doc_ids(), ("int_input", "mask")),
           prepare=fit_steps(_doc_train_inputs, _class_targets), wscale=0.8,
           tags=("nested_model", "user_names", "time_distributed_rnn")),
        Fx(f"{prefix}_td_rnn_sequential", [],
           "Input((None, 5, 2)) 'clips' -> TimeDistributed(Sequential 'clip-encoder'(Dense(3, relu, 'frame-dense') "
           "-> BatchNormalization('frame-norm') -> LSTM(4, 'frame-lstm'))) 'per-clip' -> GRU(2) 'clip-gru'; 3 Adam "
           "fit steps (moved BatchNormalization statistics: tf-keras stores the wrapped model's trainable weights "
           "first, the moving statistics last); outputs [per-clip, clip-gru]",
           fmt=fmt, api="functional", build=g_sequential_encoder,
           inputs=Inputs(frames(((2, 3, 5, 2), (3, 4, 5, 2)))), prepare=fit_steps(_clip_train_inputs, _random_targets),
           wscale=0.8, tags=("nested_model", "user_names", "time_distributed_rnn")),
        Fx(f"{prefix}_td_rnn_lstm_fixed", [],
           "Input((3, 5, 2)) 'clips' -> TimeDistributed(LSTM(4, return_sequences=True, 'frame-lstm')) 'per-clip' "
           "-> Dense(2) 'frame-out' on the 4-D sequences; outputs [per-clip, frame-out]",
           fmt=fmt, api="functional", build=g_lstm_seq(True), inputs=Inputs(frames(((3, 3, 5, 2), (1, 3, 5, 2)))),
           wscale=0.8, tags=("user_names", "time_distributed_rnn", "batch1")),
        Fx(f"{prefix}_td_rnn_lstm_dynamic", [],
           "Input((None, None, 2)) 'clips' -> TimeDistributed(LSTM(4, return_sequences=True, 'frame-lstm')) "
           "'per-clip' -> Dense(2) 'frame-out'; outer and inner lengths change per case; outputs [per-clip, "
           "frame-out]", fmt=fmt, api="functional", build=g_lstm_seq(False),
           inputs=Inputs(frames(((2, 3, 5, 2), (3, 2, 7, 2), (1, 3, 1, 2))), ("two_lengths",)),
           wscale=0.8, tags=("user_names", "time_distributed_rnn")),
        Fx(f"{prefix}_td_rnn_simple_backwards", [],
           "Input((4, None, 2)) 'bursts' -> TimeDistributed(SimpleRNN(5, go_backwards=True, 'rev-rnn')) 'per-burst' "
           "-> LSTM(3) 'burst-lstm' over the 4 bursts; outputs [per-burst, burst-lstm]",
           fmt=fmt, api="functional", build=g_simple_backwards, inputs=Inputs(frames(((2, 4, 6, 2), (3, 4, 3, 2)))),
           wscale=0.8, tags=("user_names", "time_distributed_rnn", "go_backwards")),
        Fx(f"{prefix}_td_rnn_bigru_seq", [],
           "Input((3, 5, 2)) 'clips' -> TimeDistributed(Bidirectional(GRU(3, return_sequences=True, 'gru'), "
           "merge_mode='sum') 'bi-gru') 'per-clip-seq' -> TimeDistributed(GRU(2, go_backwards=True, 'gru')) "
           "'per-clip-last' (two GRUs named 'gru'); outputs [per-clip-seq, per-clip-last]",
           fmt=fmt, api="functional", build=g_bigru_seq, inputs=Inputs(frames(((2, 3, 5, 2), (4, 3, 5, 2)))),
           wscale=0.8, tags=("user_names", "time_distributed_rnn", "bidirectional")),
    ]
