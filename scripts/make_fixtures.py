#!/usr/bin/env python3
"""Generate the ground-truth test fixtures for ``kerasrnn2onnx``.

Why this exists
---------------
``kerasrnn2onnx`` converts Keras recurrent layers (SimpleRNN, GRU, LSTM,
generic ``RNN`` with one or several cells) to ONNX *without importing Keras*.
Its tests therefore cannot ask Keras what a model should compute.  This script
is the only place where real Keras runs: it builds small models in real
Keras 3 and real Keras 2 (tf-keras), gives them deterministic random weights,
runs them on deterministic random inputs and writes, into ``tests/fixtures/``:

* the model file exactly as Keras saves it (``.keras``, ``.h5``, or a JSON
  config plus ``.npz`` / ``.weights.h5`` weights),
* ``<name>.io.npz`` with the inputs (``c{case}_in{i}``) and the outputs Keras
  produced for them (``c{case}_out{j}``, model outputs flattened depth-first),
* ``manifest.json`` describing every fixture (format, files, tags, ...),
* ``LAYOUT.txt``, a listing of the weight/attribute layout inside each file,
  meant for whoever writes the file readers.

It also copies three fixtures into ``samples/`` with friendly names.

How to run
----------
By hand, never in CI (it needs two heavy virtual environments)::

    python scripts/make_fixtures.py                 # everything
    python scripts/make_fixtures.py --only k3       # only Keras 3 fixtures
    python scripts/make_fixtures.py --venv-k3 /path/k3 --venv-k2 /path/k2
    python scripts/make_fixtures.py --only k2 --match 'k2_mask_*'   # rebuild a few
    python scripts/make_fixtures.py --match 'k?_bidi_*,k?_seq2seq'  # several globs

A venv that does not exist yet is created with pinned Keras packages
(``VENV_PACKAGES``; default location ``.fixture-venvs/``, ignored by git).

Any Python 3 can start it: the driver uses only the standard library and
re-invokes this file inside each environment (``--inside k3`` with
``KERAS_BACKEND=jax``; ``--inside k2`` with ``import tf_keras as keras``). A Keras 3 fixture
whose ``Fx.backend`` names another backend (``"tensorflow"``) is built by a second Keras 3 pass
in the k2 venv, which holds Keras 3 beside tf-keras and TensorFlow, with that ``KERAS_BACKEND``.
``--venv-*`` accepts a venv directory or its python executable.  Weights and
inputs come from ``numpy.random.RandomState`` seeded from the fixture name, so
rerunning gives identical numbers (the model files themselves may differ in
embedded save dates).

Fixture tables
--------------
``K3_FIXTURES`` and ``K2_FIXTURES`` are lists of small declarative ``Fx``
entries.  Layers are described with ``lay("LSTM", 4, return_state=True)``
(class name looked up in ``keras.layers`` of the running Keras; nested specs,
e.g. cells, are built recursively).  Most tags are derived from the built
layers' configs; ``Fx.tags`` only adds extra ones.

Besides recurrent layers a table entry can use: ``Masking`` / ``Embedding``
layers (``vocab=`` gives an int32 token input of shape (batch, T)), hand-made
input cases (``inputs=masked(value)`` / ``tokens(vocab)``: one row per mask
pattern, see ``MASK_ROWS``), functional models with further inputs
(``extra_inputs=(inp("memory", (4, 2)),)``) passed to a layer call through
``lay(..., call_kwargs={"constants": [ref("memory")]})``, and the custom cells
of the "Custom cells" section right below the imports (their exact code, for
the converter's documentation).  ``wscale`` / ``rscale`` / ``bias_shift`` shape
the random weights; ``max_abs`` refuses outputs that grew too large (non-finite
outputs are always refused).

Wrappers and non-recurrent layers are specs too (``lay("Bidirectional", lay("LSTM", 3),
merge_mode=None)``, ``lay("TimeDistributed", lay("Dense", 5))``, ``lay("Conv1D", 4, 3)``);
tags name them (``bidirectional``, ``merge:<mode>``, ``layer:<Class>``).  Graphs that are
not a chain (encoder-decoder, branches, several inputs) use ``build=fn(keras) -> (inputs,
outputs)`` with ``inputs=random_inputs(...)``.  Stateful fixtures set ``batch_size`` and
``reset_before``: their cases are consecutive calls on ONE model (tag ``sequential_calls``),
checked against a non-stateful twin.  ``save_model`` saves another model than the one run
(the CuDNN layers, which cannot run on a CPU) and ``verify`` adds checks after saving.
Shared layers (one layer called on several inputs) and models used as layers (a Sequential
or functional model inside a functional one) come from ``graph_set``; tags and the manifest's
``layers`` look inside nested models, and LAYOUT.txt lists their graph (every inbound node's
[layer, node_index, tensor_index] references, input_layers / output_layers).
BatchNormalization's ``moving_variance`` draws from [0.5, 2].  LAYOUT.txt shows the full
config entries of custom-cell RNNs, Bidirectional, TimeDistributed, CuDNN layers, stateful
layers' inputs and layers called with ``initial_state`` (a repeated layout is referred to).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import issue14_sets  # noqa: E402  (masked Softmax, TimeDistributed of models, named attention, adapt())
import layer_sets  # noqa: E402  (fixture sets of the feed-forward layer families)
import mask_op_sets  # noqa: E402  (masks computed by merge layers: Keras 3's recorded mask ops)
import td_rnn_sets  # noqa: E402  (TimeDistributed of recurrent layers and of models holding one)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLES = ROOT / "samples"
DEFAULT_VENVS = {"k3": ".fixture-venvs/k3", "k2": ".fixture-venvs/k2"}
# What each environment needs; created on first use when the venv folder is absent.
VENV_PACKAGES = {
    "k3": ["keras==3.15.1", "jax==0.10.2", "jaxlib==0.10.2", "h5py", "numpy"],
    "k2": ["tensorflow-cpu==2.21.0", "tf-keras==2.21.0", "h5py", "numpy"],
}


def ensure_venv(which: str, location: str) -> None:
    """Create the Keras virtual environment ``location`` if it does not exist yet."""
    path = Path(location)
    if path.is_file() or (path / "bin" / "python").exists():
        return
    print(f"[{which}] creating {path} with {' '.join(VENV_PACKAGES[which])}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", *VENV_PACKAGES[which]], check=True)


# ==========================================================================
# Custom cells: the exact code behind the ``custom_cell`` fixtures
# ==========================================================================
# Both are registered serializable under package "kerasrnn2onnx_samples", so a
# saved file names them "kerasrnn2onnx_samples>MinimalRNNCell" /
# "kerasrnn2onnx_samples>AttentionRNNCell".  Semantics, for the converter docs:
#
#   MinimalRNNCell(units)            (Keras docs' example; no bias, no activation)
#     weights  kernel (input_dim, units), recurrent_kernel (units, units)
#     state    one tensor h (batch, units), state_size = units; output = new state
#     step     h = x @ kernel + h_prev @ recurrent_kernel
#
#   AttentionRNNCell(units, memory_dim)  (tf-keras only: RNN(...)(x, constants=[memory]))
#     weights  kernel (input_dim, units), recurrent_kernel (units, units),
#              query_kernel (units, D), context_kernel (D, units)   [memory: (batch, M, D)]
#     step     q = h_prev @ query_kernel                              (batch, D)
#              scores = sum(memory * q[:, None, :], axis=-1)          (batch, M)
#              w = softmax(scores, axis=-1)
#              context = sum(w[:, :, None] * memory, axis=1)          (batch, D)
#              h = tanh(x @ kernel + h_prev @ recurrent_kernel + context @ context_kernel)
#
# Keras 3 has no ``constants``: Layer.__call__ binds its keyword arguments to
# RNN.call(sequences, initial_state=None, mask=None, training=False), so
# keras.layers.RNN(cell)(x, constants=[memory]) fails in Keras 3.15.1 (any cell) with
K3_CONSTANTS_ERROR = "TypeError: got an unexpected keyword argument 'constants'"
# Keras 3.15.1 RNN.reset_state() iterates over self.states, which for RNN([cell, cell, ...])
# is nested ([[h, c], [h]]), and fails (keras/src/layers/rnn/rnn.py, reset_state) with
K3_STACKED_RESET_ERROR = "AttributeError: 'list' object has no attribute 'assign'"
# so for such a layer the state variables are zeroed one by one (what reset_state means).
_CUSTOM = {}


def custom_classes(keras):
    """Define (once per process) and register the custom cells for the running Keras."""
    if _CUSTOM:
        return _CUSTOM
    if keras.__version__.startswith("3."):
        from keras import ops

        @keras.saving.register_keras_serializable(package="kerasrnn2onnx_samples",
                                                  name="MinimalRNNCell")
        class MinimalRNNCell(keras.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.state_size = units

            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                              initializer="uniform", name="kernel")
                self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                        initializer="uniform",
                                                        name="recurrent_kernel")

            def call(self, inputs, states):
                prev_output = states[0]
                h = ops.matmul(inputs, self.kernel)
                output = h + ops.matmul(prev_output, self.recurrent_kernel)
                return output, [output]

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        _CUSTOM.update(MinimalRNNCell=MinimalRNNCell)
        return _CUSTOM

    import tensorflow as tf

    @keras.utils.register_keras_serializable(package="kerasrnn2onnx_samples",
                                             name="MinimalRNNCell")
    class MinimalRNNCell(keras.layers.Layer):  # noqa: F811 (tf-keras twin of the above)
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    initializer="uniform",
                                                    name="recurrent_kernel")
            self.built = True

        def call(self, inputs, states):
            prev_output = states[0]
            h = tf.matmul(inputs, self.kernel)
            output = h + tf.matmul(prev_output, self.recurrent_kernel)
            return output, [output]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @keras.utils.register_keras_serializable(package="kerasrnn2onnx_samples",
                                             name="AttentionRNNCell")
    class AttentionRNNCell(keras.layers.Layer):
        # memory_dim is a constructor argument: tf-keras' RNN.build() builds the cell on
        # the step input shape only (never on the constants' shapes).
        def __init__(self, units, memory_dim, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.memory_dim = memory_dim
            self.state_size = units

        def build(self, input_shape):
            input_dim, memory_dim = input_shape[-1], self.memory_dim
            self.kernel = self.add_weight(shape=(input_dim, self.units),
                                          initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    initializer="uniform",
                                                    name="recurrent_kernel")
            self.query_kernel = self.add_weight(shape=(self.units, memory_dim),
                                                initializer="uniform", name="query_kernel")
            self.context_kernel = self.add_weight(shape=(memory_dim, self.units),
                                                  initializer="uniform", name="context_kernel")
            self.built = True

        def call(self, inputs, states, constants):
            h_prev = states[0]
            memory = constants[0]  # (batch, M, D)
            q = tf.matmul(h_prev, self.query_kernel)  # (batch, D)
            scores = tf.reduce_sum(memory * q[:, None, :], axis=-1)  # (batch, M)
            weights = tf.nn.softmax(scores, axis=-1)
            context = tf.reduce_sum(weights[:, :, None] * memory, axis=1)  # (batch, D)
            h = tf.tanh(tf.matmul(inputs, self.kernel)
                        + tf.matmul(h_prev, self.recurrent_kernel)
                        + tf.matmul(context, self.context_kernel))
            return h, [h]

        def get_config(self):
            return {**super().get_config(), "units": self.units, "memory_dim": self.memory_dim}

    _CUSTOM.update(MinimalRNNCell=MinimalRNNCell, AttentionRNNCell=AttentionRNNCell)
    return _CUSTOM


# Default case shapes (batch, timesteps): two lengths/batches when T is dynamic.
DYNAMIC_CASES = ((3, 6), (2, 9))


# --------------------------------------------------------------------------
# Declarative fixture description
# --------------------------------------------------------------------------
def lay(cls: str, *args, **kwargs):
    """A layer/cell spec: keras.layers.<cls>(*args, **kwargs), built lazily.

    ``cls`` may also name a custom class of ``custom_classes()`` (see "Custom
    cells" below).  ``call_kwargs={...}`` (functional models only) are passed
    when the layer is called; ``ref("name")`` in them stands for the model
    input of that name (``Fx.extra_inputs``), e.g. ``constants=[ref("memory")]``.
    """
    return ("__layer__", cls, args, kwargs)


def ref(name: str):
    """Inside ``call_kwargs``: the functional model input called ``name``."""
    return ("__ref__", name)


def inp(name: str, shape: tuple, dtype: str = "float32"):
    """An extra model input (functional models): keras.Input(shape, name=, dtype=)."""
    return (name, tuple(shape), dtype)


@dataclass(frozen=True)
class Inputs:
    """Hand-made input cases: ``make(fx, rng) -> [[array per model input] per case]``.

    ``tags`` are added to the fixture's tags (e.g. the mask patterns present).
    """
    make: Callable
    tags: tuple = ()


# Rows of the masked input case 0 (batch 5, T=7); True = masked time step.
MASK_ROWS = (
    ("right", [0, 0, 0, 0, 1, 1, 1]),            # row 0: last 3 steps masked
    ("left", [1, 1, 0, 0, 0, 0, 0]),             # row 1: first 2 steps masked
    ("holes", [0, 1, 1, 0, 0, 1, 0]),            # row 2: steps 1, 2 and 5 masked
    ("all_masked", [1, 1, 1, 1, 1, 1, 1]),       # row 3: every step masked
    ("partial_features", [0, 0, 0, 0, 0, 0, 0]),  # row 4: none masked; step 3 has only
)                                                # some features == mask value
MASK_CASE1 = ([0, 0, 1, 1], [0, 0, 0, 0])        # case 1 (batch 2, T=4): row 0 right-padded
PARTIAL_STEP, PARTIAL_FEATURES = 3, (0, 2)       # row 4: x[4, 3, [0, 2]] = mask value


def _mask_patterns(n_cases):
    import numpy as np

    pats = [np.array([r for _, r in MASK_ROWS], dtype=bool)]
    if n_cases > 1:
        pats.append(np.array(MASK_CASE1, dtype=bool))
    return pats


def masked(value: float = 0.0, n_cases: int = 2, features: int = 3) -> Inputs:
    """Float inputs (batch, T, features) following MASK_ROWS / MASK_CASE1.

    A masked step has all features equal to ``value``; row 4 of case 0 has one
    step where only some features equal ``value`` (so Masking must keep it).
    ``n_cases=1`` for a fixed T of 7.
    """
    def make(fx, rng):
        cases = []
        for c, pat in enumerate(_mask_patterns(n_cases)):
            x = rng.standard_normal(pat.shape + (features,)).astype("float32")
            x[pat] = value
            if c == 0:
                x[4, PARTIAL_STEP, list(PARTIAL_FEATURES)] = value
            cases.append([x])
        return cases

    tags = ("mask",) + tuple(f"mask:{n}" for n, _ in MASK_ROWS)
    if value != 0.0:
        tags += ("mask_value_nonzero",)
    return Inputs(make, tags)


def tokens(vocab: int, mask_tags: bool = True, n_cases: int = 2, skip: tuple = ()) -> Inputs:
    """int32 token ids (batch, T) following the MASK_ROWS / MASK_CASE1 patterns.

    A "masked" step is token 0; other steps draw from 1..vocab-1, so row 4
    (partial_features) simply has no 0 token.  With ``mask_tags=False`` (no
    mask_zero) the zeros are ordinary tokens.  ``skip`` drops MASK_ROWS rows by
    name from case 0 (e.g. "all_masked" where a masked average would be 0/0).
    """
    def make(fx, rng):
        cases = []
        for c, pat in enumerate(_mask_patterns(n_cases)):
            if c == 0 and skip:
                pat = pat[[i for i, (n, _) in enumerate(MASK_ROWS) if n not in skip]]
            t = rng.randint(1, vocab, size=pat.shape).astype("int32")
            t[pat] = 0
            cases.append([t])
        return cases

    tags = ("int_input",)
    if mask_tags:
        tags += ("mask",) + tuple(f"mask:{n}" for n, _ in MASK_ROWS[:4] if n not in skip)
    return Inputs(make, tags)


# Case shapes (batch, T) of the Bidirectional / initial_state / model fixtures.
NEW_CASES = ((3, 5), (2, 7))


def random_inputs(*kinds, cases=NEW_CASES) -> Inputs:
    """Random cases for a model with several inputs, one ``kinds`` entry per input.

    ``("f", features, dt)``: float32 (batch, T + dt, features) standard normal;
    ``("i", vocab, dt)``: int32 token ids (batch, T + dt) drawn from 0..vocab-1;
    ``("v", dim)``: float32 (batch, dim) standard normal (no time axis).
    ``cases`` gives (batch, T) per case.
    """
    def make(fx, rng):
        out = []
        for b, t in cases:
            xs = []
            for kind in kinds:
                if kind[0] == "f":
                    xs.append(rng.standard_normal((b, t + kind[2], kind[1])).astype("float32"))
                elif kind[0] == "i":
                    xs.append(rng.randint(0, kind[1], size=(b, t + kind[2])).astype("int32"))
                else:
                    xs.append(rng.standard_normal((b, kind[1])).astype("float32"))
            out.append(xs)
        return out

    return Inputs(make, ("int_input",) if any(k[0] == "i" for k in kinds) else ())


def chunks(sizes=(3, 2, 4), after_reset=(4,), batch=2, features=3) -> Inputs:
    """Stateful calls: one random sequence (batch, sum(sizes), features) cut into chunks
    of ``sizes`` time steps (one case each, in call order), then fresh random chunks
    ``after_reset`` (the calls that follow reset_states()).
    """
    def make(fx, rng):
        import numpy as np

        seq = rng.standard_normal((batch, sum(sizes), features)).astype("float32")
        cuts = np.cumsum(sizes)[:-1]
        cases = [[c] for c in np.split(seq, cuts, axis=1)]
        cases += [[rng.standard_normal((batch, t, features)).astype("float32")]
                  for t in after_reset]
        return cases

    return Inputs(make, ("sequential_calls",))


# Stateful + Masking(0.0): (T, [masked steps of row 0], [masked steps of row 1]) per call.
STATEFUL_MASK_CALLS = (
    (3, [], []),            # call 0: nothing masked; builds a non-zero state
    (3, [0, 1], []),        # call 1: row 0 starts with 2 masked steps (carried non-zero state)
    (4, [2], [0, 1, 2, 3]),  # call 2: row 0 has a hole, row 1 is fully masked
    (2, [], []),            # call 3: nothing masked (the state survived the masked call)
)


def stateful_masked(features=3) -> Inputs:
    def make(fx, rng):
        cases = []
        for t, rows0, rows1 in STATEFUL_MASK_CALLS:
            x = rng.standard_normal((2, t, features)).astype("float32")
            x[0, rows0] = 0.0
            x[1, rows1] = 0.0
            cases.append([x])
        return cases

    return Inputs(make, ("sequential_calls", "mask", "mask:left", "mask:holes",
                         "mask:all_masked", "mask:leading_with_state"))


@dataclass(frozen=True)
class Trained:
    """A weights file shipped inside a released package (never downloaded at run time by the
    package itself): ``pip download --no-deps dist==version`` and the ``member`` path in it."""

    dist: str
    version: str
    member: str  # path inside the sdist / wheel
    license: str
    note: str  # what the model is, in the package's own terms
    keep: tuple = ()  # only these layer groups (the model is too big to ship whole); () = all

    def cite(self):
        return f"{self.dist} {self.version} (PyPI), file {self.member}, license {self.license}: {self.note}"


def trained_weights(trained):
    """The weights file a fixture uses: the package's file, or a copy holding only the
    ``keep`` layer groups (each copied byte for byte, with the file's attributes)."""
    import h5py

    source = trained_file(trained)
    if not trained.keep:
        return source
    subset = source.with_name(source.stem + "-" + "-".join(trained.keep) + ".h5")
    if not subset.exists():
        with h5py.File(source, "r") as src, h5py.File(subset, "w") as dst:
            root = src["model_weights"] if "model_weights" in src else src
            for key, value in root.attrs.items():
                if key != "layer_names":
                    dst.attrs[key] = value
            for name in trained.keep:
                root.copy(root[name], dst, name=name)
            dst.attrs["layer_names"] = [n.encode("utf8") for n in trained.keep]
    return subset


def trained_file(trained):
    """The package's weights file, from a download cached under .fixture-venvs/downloads."""
    import tarfile
    import zipfile

    cache = ROOT / ".fixture-venvs" / "downloads"
    cache.mkdir(parents=True, exist_ok=True)
    prefix = trained.dist.replace("-", "_").lower()

    def downloaded():
        return [p for p in cache.iterdir()
                if p.name.replace("-", "_").lower().startswith(f"{prefix}_{trained.version}")]

    found = downloaded()
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        f"{trained.dist}=={trained.version}", "-d", str(cache)], check=True)
        found = downloaded()
    archive = found[0]
    out = cache / f"{prefix}-{trained.version}" / trained.member
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        if archive.name.endswith(".whl"):
            with zipfile.ZipFile(archive) as z:
                out.write_bytes(z.read(trained.member))
        else:
            with tarfile.open(archive) as t:
                member = next(m for m in t.getmembers() if m.name.split("/", 1)[-1] == trained.member)
                out.write_bytes(t.extractfile(member).read())
    return out


@dataclass
class Fx:
    name: str
    layers: list  # lay(...) specs applied in order
    desc: str
    features: int = 3
    timesteps: int | None = None  # None = dynamic time dimension
    api: str = "sequential"  # "sequential" | "functional"
    fmt: str = "keras"  # "keras" | "h5" | "json+npz" | "json+weights_h5" | "json+weights_v3" (tf-keras)
    json_of: str = "model"  # for json formats: "model" or "layer" (bare layer config)
    cases: tuple | None = None  # ((batch, T), ...); default from timesteps
    tags: tuple = ()  # extra tags on top of the derived ones
    wscale: float = 1.2  # weight magnitude (larger = more saturation)
    rscale: float = 1.0  # extra factor on recurrent kernels (< 1 keeps the recurrence stable)
    bias_shift: float = 0.0  # added to every bias (e.g. < 0 keeps exponential gates small)
    post: Callable | None = None  # post-process the saved file: post(path)
    reload_check: bool = True  # reload the saved file and compare outputs
    no_input_layer: bool = False  # Sequential([layer(input_shape=...)]) (k2 only)
    vocab: int | None = None  # integer token input (batch, T) int32 instead of floats
    inputs: Inputs | None = None  # hand-made input cases (overrides cases/features)
    extra_inputs: tuple = ()  # inp(...) further model inputs (functional; random normal)
    input_name: str | None = None  # name of the main keras.Input
    max_abs: float | None = None  # refuse outputs larger than this in magnitude
    # --- graphs that are not a chain of layers, stateful calls, substitute files ---
    build: Callable | None = None  # build(keras) -> (inputs, outputs): any functional graph
    batch_size: int | None = None  # fixed batch in the Input (stateful layers need one)
    reset_before: tuple | None = None  # not None: the cases are consecutive calls on ONE
    # stateful model (states carried from call to call), reset_states() before these case indices
    twin_must_match: bool = True  # stateful: the calls must equal one non-stateful pass
    save_model: Callable | None = None  # save_model(keras, fx, model) -> the model to save
    verify: Callable | None = None  # verify(keras, fx, path, inputs, results) after saving
    input_shape: tuple | None = None  # non-batch input shape of any rank (images, video)
    # --- trained weights shipped inside a package on the registry (see Trained) ---
    trained: Trained | None = None  # load these weights instead of random ones
    # --- Keras 3 on another backend than JAX: built in the k2 venv, which holds Keras 3 beside
    # tf-keras and TensorFlow, with KERAS_BACKEND set to it ---
    backend: str | None = None
    # --- after the random weights, before the cases: prepare(keras, fx, model, rng), e.g. a few
    # fit() steps (trained-looking weights) or Normalization.adapt() on data ---
    prepare: Callable | None = None

    def case_shapes(self):
        if self.cases is not None:
            return tuple(self.cases)
        if self.timesteps is None:
            return DYNAMIC_CASES
        return ((3, self.timesteps),)


def keras22_postprocess(path):
    """Turn a tf-keras 2.21 .h5 into what Keras 2.2.4 would have written.

    Keras 2.2 defaults were recurrent_activation="hard_sigmoid" and (GRU)
    reset_after=False; the file is built with those values explicitly, then
    the keys are removed so only the old defaults give them their meaning.
    """
    import h5py

    with h5py.File(path, "r+") as f:
        raw = f.attrs["model_config"]
        was_bytes = isinstance(raw, bytes)
        cfg = json.loads(raw.decode("utf8") if was_bytes else raw)
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] in ("LSTM", "GRU"):
                layer["config"].pop("recurrent_activation")
            if layer["class_name"] == "GRU":
                layer["config"].pop("reset_after")
        text = json.dumps(cfg)
        f.attrs["model_config"] = text.encode("utf8") if was_bytes else text
        for group in (f, f["model_weights"]):  # Keras 2.2.4 wrote it on both
            old = group.attrs["keras_version"]
            group.attrs["keras_version"] = b"2.2.4" if isinstance(old, bytes) else "2.2.4"


# Case shapes (batch, T) of the newer fixtures: T <= 8, batch <= 4.
SMALL_CASES = ((3, 5), (2, 8))

# Activation grid: every activation name of the running Keras, used everywhere
# at once (SimpleRNN activation, GRU/LSTM activation *and* recurrent_activation).
K3_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "hard_tanh", "relu", "relu6", "leaky_relu",
                  "elu", "selu", "celu", "softplus", "softsign", "silu", "hard_silu", "gelu",
                  "mish", "exponential", "linear", "log_sigmoid", "tanh_shrink", "soft_shrink",
                  "hard_shrink", "sparse_plus", "squareplus", "sparse_sigmoid", "softmax",
                  "log_softmax")
# Names Keras 3 knows but that cannot be used as an RNN activation (exact error):
K3_ACTIVATIONS_SKIPPED = {
    "threshold": "TypeError: threshold() missing 2 required positional arguments: "
                 "'threshold' and 'default_value' (raised by SimpleRNNCell.call())",
}
# tf-keras 2.21 keras.activations.get() accepts these (of the Keras 3 list it also accepts
# relu6, leaky_relu, silu (deserialized as swish) and log_softmax; it refuses hard_tanh,
# celu, hard_silu, log_sigmoid, tanh_shrink, soft_shrink, hard_shrink, sparse_plus,
# squareplus, sparse_sigmoid and threshold with "ValueError: Unknown activation function
# '<name>' cannot be deserialized.").
K2_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "elu", "selu", "softplus",
                  "softsign", "swish", "gelu", "mish", "exponential", "linear", "softmax")
# Random-weight shape per grid fixture: (wscale, rscale, bias_shift).  Picked by a
# small grid search (max |output| <= 15, outputs that vary, few exact zeros): with an
# unbounded or non-(0, 1) gate function the three stacked layers easily explode
# (exponential needs negative biases, log_softmax tiny kernels).  The shrink
# functions keep ~45% exact zeros at any stable setting (their dead zone).
ACT_WEIGHTS = {
    "k3": {"tanh": (1.2, 1.0, -1.0), "sigmoid": (2.5, 0.3, 1.0), "hard_sigmoid": (2.5, 0.3, 1.0),
           "hard_tanh": (0.5, 1.0, -1.0), "relu": (0.5, 0.6, 0.4), "relu6": (0.8, 0.3, 0.5),
           "leaky_relu": (0.8, 1.0, 0.5), "elu": (0.5, 0.3, 0.5), "selu": (0.5, 0.3, 0.5),
           "celu": (0.5, 1.0, 0.5), "softplus": (0.5, 1.0, 0.0), "softsign": (2.5, 1.0, -1.0),
           "silu": (0.8, 0.6, 0.5), "hard_silu": (1.8, 0.6, 0.5), "gelu": (1.2, 0.3, 0.5),
           "mish": (0.8, 1.0, 0.5), "exponential": (0.8, 1.0, -1.0), "linear": (1.2, 0.6, 0.0),
           "log_sigmoid": (1.8, 1.0, 1.0), "tanh_shrink": (1.2, 1.0, -1.0),
           "soft_shrink": (0.8, 0.05, -1.0), "hard_shrink": (1.2, 0.15, 0.5),
           "sparse_plus": (2.5, 1.0, 0.0), "squareplus": (1.8, 1.0, -1.0),
           "sparse_sigmoid": (2.5, 1.0, 1.0), "softmax": (2.5, 1.0, -1.0),
           "log_softmax": (0.05, 1.0, 0.0)},
    "k2": {"tanh": (1.8, 1.0, -1.0), "sigmoid": (2.5, 1.0, 1.0), "hard_sigmoid": (2.5, 0.3, 0.0),
           "relu": (0.5, 0.6, 0.5), "elu": (1.8, 1.0, -1.0), "selu": (0.8, 1.0, 0.0),
           "softplus": (0.5, 0.3, 0.0), "softsign": (2.5, 1.0, -1.0), "swish": (0.8, 0.6, 0.5),
           "gelu": (1.2, 0.3, 0.5), "mish": (1.2, 0.3, 0.5), "exponential": (1.2, 1.0, -1.0),
           "linear": (0.5, 0.3, 0.5), "softmax": (2.5, 1.0, -1.0)},
}
ACT_MAX_ABS = 50.0


def activation_grid(prefix, names, fmt):
    """``<prefix>_act_<A>``: SimpleRNN(3, A, seq) -> GRU(3, A, A, seq) -> LSTM(3, A, A)."""
    return [
        Fx(f"{prefix}_act_{a}",
           [lay("SimpleRNN", 3, activation=a, return_sequences=True),
            lay("GRU", 3, activation=a, recurrent_activation=a, return_sequences=True),
            lay("LSTM", 3, activation=a, recurrent_activation=a)],
           f"Sequential SimpleRNN(3, activation={a!r}, seq) -> GRU(3, activation={a!r}, "
           f"recurrent_activation={a!r}, seq) -> LSTM(3, activation={a!r}, "
           f"recurrent_activation={a!r})",
           fmt=fmt, cases=SMALL_CASES, wscale=ACT_WEIGHTS[prefix][a][0],
           rscale=ACT_WEIGHTS[prefix][a][1], bias_shift=ACT_WEIGHTS[prefix][a][2],
           max_abs=ACT_MAX_ABS,
           tags=(f"activation:{a}", f"recurrent_activation:{a}", "activations_grid"))
        for a in names
    ]


def mask_set(prefix, fmt):
    """Masking / Embedding(mask_zero) fixtures, identical for Keras 3 and Keras 2.

    Inputs: see ``masked()`` / ``tokens()`` (case 0: batch 5, T=7 with one row per
    mask pattern; case 1: batch 2, T=4, row 0 right-padded).
    """
    m0 = lay("Masking", mask_value=0.0)
    return [
        Fx(f"{prefix}_mask_lstm_seq", [m0, lay("LSTM", 3, return_sequences=True)],
           "Masking(0.0) -> LSTM(3, return_sequences=True)", fmt=fmt, inputs=masked(0.0)),
        Fx(f"{prefix}_mask_lstm_last", [m0, lay("LSTM", 3)],
           "Masking(0.0) -> LSTM(3), last output", fmt=fmt, inputs=masked(0.0)),
        Fx(f"{prefix}_mask_gru_back_seq",
           [m0, lay("GRU", 3, go_backwards=True, return_sequences=True)],
           "Masking(0.0) -> GRU(3, go_backwards=True, return_sequences=True) (reversed time "
           "order)", fmt=fmt, inputs=masked(0.0)),
        Fx(f"{prefix}_mask_gru_back_state",
           [m0, lay("GRU", 3, go_backwards=True, return_state=True)],
           "functional Masking(0.0) -> GRU(3, go_backwards=True, return_state=True); "
           "outputs [y, h]", fmt=fmt, api="functional", inputs=masked(0.0)),
        Fx(f"{prefix}_mask_simple_state",
           [lay("Masking", mask_value=-1.0),
            lay("SimpleRNN", 3, return_sequences=True, return_state=True)],
           "functional Masking(-1.0) -> SimpleRNN(3, return_sequences=True, return_state=True); "
           "outputs [y_seq, h]; masked steps are all -1.0", fmt=fmt, api="functional",
           inputs=masked(-1.0)),
        Fx(f"{prefix}_mask_stacked_layers",
           [m0, lay("LSTM", 3, return_sequences=True),
            lay("GRU", 2, return_sequences=True, go_backwards=True), lay("SimpleRNN", 2)],
           "Masking(0.0) -> LSTM(3, seq) -> GRU(2, seq, go_backwards) -> SimpleRNN(2): the mask "
           "propagates through every layer (the GRU output is reversed in time, its mask is not)",
           fmt=fmt, inputs=masked(0.0)),
        Fx(f"{prefix}_mask_stacked_cells",
           [m0, lay("RNN", [lay("LSTMCell", 3), lay("GRUCell", 2)], return_sequences=True,
                    return_state=True)],
           "functional Masking(0.0) -> RNN([LSTMCell(3), GRUCell(2)], return_sequences=True, "
           "return_state=True); outputs [y_seq, lstm_h, lstm_c, gru_h]", fmt=fmt,
           api="functional", inputs=masked(0.0)),
        Fx(f"{prefix}_mask_zero_output",
           [m0, lay("LSTM", 3, return_sequences=True, zero_output_for_mask=True)],
           "Masking(0.0) -> LSTM(3, return_sequences=True, zero_output_for_mask=True): masked "
           "steps output zeros instead of repeating the previous output", fmt=fmt,
           inputs=masked(0.0)),
        Fx(f"{prefix}_mask_unroll",
           [m0, lay("LSTM", 3, unroll=True, return_sequences=True, return_state=True)],
           "functional Input(shape=(7, 3)) -> Masking(0.0) -> LSTM(3, unroll=True, "
           "return_sequences=True, return_state=True); outputs [y_seq, h, c]; one case",
           fmt=fmt, api="functional", timesteps=7, inputs=masked(0.0, n_cases=1)),
        Fx(f"{prefix}_embed_mask_zero",
           [lay("Embedding", 12, 3, mask_zero=True), lay("GRU", 3, return_sequences=True)],
           "Input(shape=(None,), dtype='int32') -> Embedding(12, 3, mask_zero=True) -> "
           "GRU(3, return_sequences=True); token 0 is masked; inputs stored as int32",
           fmt=fmt, vocab=12, inputs=tokens(12)),
        Fx(f"{prefix}_embed_no_mask", [lay("Embedding", 12, 3), lay("LSTM", 3)],
           "Input(shape=(None,), dtype='int32') -> Embedding(12, 3) -> LSTM(3); no mask: "
           "token 0 is an ordinary token; inputs stored as int32", fmt=fmt, vocab=12,
           inputs=tokens(12, mask_tags=False)),
    ]


def bidi_set(prefix, fmt):
    """Bidirectional wrappers: merge modes, return_state, masks, custom backward_layer."""
    m0 = lay("Masking", mask_value=0.0)
    out = []
    for mode in ("concat", "sum", "mul", "ave", None):
        if mode is None:
            desc = ("functional Bidirectional(LSTM(3, return_sequences=True), merge_mode=None); "
                    "outputs [y_forward, y_backward] (y_backward reversed back to input time "
                    "order)")
        else:
            desc = (f"Sequential Bidirectional(LSTM(3, return_sequences=True), "
                    f"merge_mode={mode!r})")
        out.append(Fx(f"{prefix}_bidi_{mode or 'none'}",
                      [lay("Bidirectional", lay("LSTM", 3, return_sequences=True),
                           merge_mode=mode)],
                      desc, fmt=fmt, api="sequential" if mode else "functional", cases=NEW_CASES))
    out += [
        Fx(f"{prefix}_bidi_gru_state", [lay("Bidirectional", lay("GRU", 3, return_state=True))],
           "functional Bidirectional(GRU(3, return_state=True)) (merge concat); Keras returns "
           "[y, h_forward, h_backward] (flat, forward states first), y = concat(h_forward, "
           "h_backward)", fmt=fmt, api="functional", cases=NEW_CASES),
        Fx(f"{prefix}_bidi_lstm_state_none",
           [lay("Bidirectional", lay("LSTM", 2, return_state=True, return_sequences=True),
                merge_mode=None)],
           "functional Bidirectional(LSTM(2, return_state=True, return_sequences=True), "
           "merge_mode=None); Keras returns [y_forward, y_backward, h_forward, c_forward, "
           "h_backward, c_backward] (flat; y_backward in input time order, so "
           "y_backward[:, 0] == h_backward)", fmt=fmt, api="functional", features=2,
           cases=NEW_CASES),
        Fx(f"{prefix}_bidi_mask_seq",
           [m0, lay("Bidirectional", lay("LSTM", 3, return_sequences=True))],
           "Masking(0.0) -> Bidirectional(LSTM(3, return_sequences=True)) (concat)", fmt=fmt,
           inputs=masked(0.0)),
        Fx(f"{prefix}_bidi_mask_last", [m0, lay("Bidirectional", lay("GRU", 3))],
           "Masking(0.0) -> Bidirectional(GRU(3)) (concat), last output: the backward GRU "
           "starts at the last unmasked step", fmt=fmt, inputs=masked(0.0)),
        Fx(f"{prefix}_bidi_backward_layer",
           [lay("Bidirectional", lay("LSTM", 3, return_sequences=True),
                backward_layer=lay("GRU", 2, return_sequences=True, go_backwards=True))],
           "Sequential Bidirectional(LSTM(3, return_sequences=True), backward_layer=GRU(2, "
           "return_sequences=True, go_backwards=True)) merge concat: output (batch, T, 3 + 2)",
           fmt=fmt, cases=NEW_CASES),
        Fx(f"{prefix}_bidi_simple_rnn_cell",
           [lay("Bidirectional", lay("RNN", lay("SimpleRNNCell", 3), return_sequences=True),
                merge_mode="sum")],
           "Sequential Bidirectional(RNN(SimpleRNNCell(3), return_sequences=True), "
           "merge_mode='sum')", fmt=fmt, cases=NEW_CASES),
    ]
    return out


STATEFUL_DESC = ("; batch fixed at 2 (Input batch_size=2); the cases are NOT independent: they "
                 "are consecutive calls on one model in case order, states carried between calls")


def stateful_set(prefix, fmt):
    """stateful=True layers called on consecutive chunks (cases = calls in order)."""
    reset = ("reset_states() on every stateful layer (Keras 3 Model has none)" if prefix == "k3"
             else "model.reset_states()")
    kinds = [("lstm", "LSTM(3", lay("LSTM", 3, stateful=True, return_sequences=True)),
             ("gru", "GRU(3", lay("GRU", 3, stateful=True, return_sequences=True)),
             ("simple_rnn", "SimpleRNN(3",
              lay("SimpleRNN", 3, stateful=True, return_sequences=True)),
             ("stacked_cells", "RNN([LSTMCell(3), GRUCell(2)]",
              lay("RNN", [lay("LSTMCell", 3), lay("GRUCell", 2)], stateful=True,
                  return_sequences=True))]
    out = [
        Fx(f"{prefix}_stateful_{kind}", [spec],
           f"{what}, stateful=True, return_sequences=True){STATEFUL_DESC}: c0, c1, c2 are "
           f"chunks T=3, 2, 4 of one sequence (together equal to one pass over the 9 steps), "
           f"then {reset}, then c3 (T=4) starts from zero states"
           + (f" (Keras 3.15.1 RNN.reset_states() fails on stacked cells with "
              f"{K3_STACKED_RESET_ERROR!r}: the state variables were zeroed directly)"
              if prefix == "k3" and kind == "stacked_cells" else ""),
           fmt=fmt, batch_size=2, inputs=chunks(), reset_before=(3,), tags=("stateful",))
        for kind, what, spec in kinds
    ]
    out.append(Fx(
        f"{prefix}_stateful_mask_lstm",
        [lay("Masking", mask_value=0.0), lay("LSTM", 3, stateful=True, return_sequences=True)],
        f"Masking(0.0) -> LSTM(3, stateful=True, return_sequences=True){STATEFUL_DESC}, no "
        f"reset: c0 (T=3) unmasked; c1 (T=3) row 0 starts with 2 masked steps while its "
        f"carried state is non-zero; c2 (T=4) row 0 has step 2 masked, row 1 is fully masked; "
        f"c3 (T=2) unmasked (the state survived the masked call).  Masked steps never change "
        f"the carried state; what they OUTPUT before the first unmasked step of a call, with a "
        f"carried non-zero state, is version-specific: "
        + ("Keras 3 (non-unrolled) outputs the carried h (c1 row 0 steps 0-1, all of c2 row 1), "
           "so the calls equal one pass over their concatenation (checked)" if prefix == "k3" else
           "tf-keras outputs zeros (c1 row 0 steps 0-1, all of c2 row 1), where one pass over "
           "the concatenated calls would repeat the previous output (checked; elsewhere equal)"),
        fmt=fmt, batch_size=2, inputs=stateful_masked(), reset_before=(), twin_must_match=False,
        tags=("stateful",)))
    return out


def g_seq2seq(keras):
    """Encoder LSTM states -> decoder LSTM initial_state -> TimeDistributed(Dense softmax)."""
    L = keras.layers
    enc_in = keras.Input((None, 3), name="enc_in")
    _, h, c = L.LSTM(4, return_state=True)(enc_in)
    dec_in = keras.Input((None, 2), name="dec_in")
    dec = L.LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c])
    return [enc_in, dec_in], L.TimeDistributed(L.Dense(5, activation="softmax"))(dec)


def g_two_input(keras):
    L = keras.layers
    text = keras.Input((None,), dtype="int32", name="text")
    numeric = keras.Input((2,), name="numeric")
    a = L.LSTM(3)(L.Embedding(20, 4)(text))
    b = L.Dense(3, activation="relu")(numeric)
    return [text, numeric], L.Dense(1, activation="sigmoid")(L.Concatenate()([a, b]))


def g_merges(keras):
    L = keras.layers
    x = keras.Input((None, 3))
    a = L.GRU(3, return_sequences=True)(x)
    b = L.LSTM(3, return_sequences=True)(x)
    merged = [cls()([a, b]) for cls in (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum,
                                         L.Minimum)]
    return [x], merged


def init_state_set(prefix, fmt):
    init = "initial_state"
    return [
        Fx(f"{prefix}_init_state_inputs",
           [lay("LSTM", 3, return_sequences=True,
                call_kwargs={"initial_state": [ref("h0"), ref("c0")]})],
           "functional inputs x (None, 3), h0 (3,), c0 (3,): LSTM(3, return_sequences=True)"
           "(x, initial_state=[h0, c0]); c{k}_in0 = x, c{k}_in1 = h0, c{k}_in2 = c0",
           fmt=fmt, api="functional", input_name="x",
           extra_inputs=(inp("h0", (3,)), inp("c0", (3,))), cases=NEW_CASES,
           tags=(init, "multi_input")),
        Fx(f"{prefix}_seq2seq", [],
           "functional encoder-decoder: enc_in (None, 3) -> LSTM(4, return_state=True) -> "
           "[_, h, c]; dec_in (None, 2) -> LSTM(4, return_sequences=True)(dec_in, "
           "initial_state=[h, c]) -> TimeDistributed(Dense(5, softmax)); c{k}_in0 = enc_in, "
           "c{k}_in1 = dec_in (one step shorter)", fmt=fmt, api="functional", build=g_seq2seq,
           inputs=random_inputs(("f", 3, 0), ("f", 2, -1)),
           tags=(init, "multi_input", "encoder_decoder", "model")),
        Fx(f"{prefix}_init_state_gru_masked",
           [lay("Masking", mask_value=0.0),
            lay("GRU", 3, return_sequences=True, call_kwargs={"initial_state": ref("h0")})],
           "functional inputs x (None, 3), h0 (3,): GRU(3, return_sequences=True)"
           "(Masking(0.0)(x), initial_state=h0); c{k}_in1 = h0; rows follow the mask "
           "patterns.  " + (
               "Keras 3.15.1 DROPS the mask here: Layer.__call__ fills `mask` from the input "
               "only when the call has a single tensor argument (with initial_state there are "
               "two, and it then only fills `<argument>_mask` parameters, which RNN.call lacks), "
               "so the outputs equal the same GRU without Masking (checked).  "
               "k3_init_state_gru_mask_arg passes the mask explicitly" if prefix == "k3" else
               "tf-keras keeps the mask: the leading masked steps (row 1) and the all-masked "
               "row 3 output zeros, not h0 (the carried state is still h0)"),
           fmt=fmt, api="functional", input_name="x", extra_inputs=(inp("h0", (3,)),),
           inputs=masked(0.0), verify=check_initial_state_mask,
           tags=(init, "multi_input") + (("mask_ignored_by_keras",) if prefix == "k3" else ())),
    ]


def check_initial_state_mask(keras, fx, path, inputs, results):
    """What GRU(x, initial_state=h0) outputs at the leading masked steps of row 1 and on the
    all-masked row 3 (case 0): h0, zeros, or (mask dropped) the same as without any mask."""
    import dataclasses

    import numpy as np

    (_x, h0), (y,) = inputs[0], results[0]
    lead = np.concatenate([y[1, :2], y[3]])
    h0s = np.concatenate([np.stack([h0[1]] * 2), np.stack([h0[3]] * y.shape[1])])
    if np.allclose(lead, h0s, atol=1e-6):
        seen = "h0"
    elif not lead.any():
        seen = "zeros"
    else:
        saved = keras.models.load_model(path, compile=False)
        unmasked, _ = build_model(keras, dataclasses.replace(
            fx, layers=[entry for entry in fx.layers if entry[1] != "Masking"]))
        unmasked.set_weights(saved.get_weights())
        same = all(np.allclose(run_model(unmasked, xs)[0], outs[0], atol=1e-6)
                   for xs, outs in zip(inputs, results, strict=True))
        seen = "the outputs of the same GRU without Masking (mask dropped)" if same else "?"
    print(f"  {fx.name}: leading masked steps / all-masked row output {seen}", flush=True)
    expected = {"k3_init_state_gru_masked": "the outputs", "k2_init_state_gru_masked": "zeros",
                "k3_init_state_gru_mask_arg": "h0", "k3_init_state_gru_mask_arg_unroll": "zeros"}
    assert seen.startswith(expected[fx.name]), (fx.name, seen)


def g_init_state_mask_arg(timesteps):
    """GRU(3, seq[, unroll])(x, initial_state=h0, mask=any(x != 0, -1)): Keras 3 only
    (keras.ops on symbolic tensors are recorded as NotEqual / Any operations)."""
    def build(keras):
        from keras import ops

        L = keras.layers
        x = keras.Input((timesteps, 3), name="x")
        h0 = keras.Input((3,), name="h0")
        mask = ops.any(ops.not_equal(x, 0.0), axis=-1)
        gru = L.GRU(3, return_sequences=True, unroll=timesteps is not None)
        return [x, h0], gru(x, initial_state=h0, mask=mask)

    return build


def k3_mask_arg_set():
    desc = ("functional inputs x ({t}, 3), h0 (3,): mask = keras.ops.any(keras.ops.not_equal(x, "
            "0.0), axis=-1) (recorded as operations), GRU(3, return_sequences=True{u})(x, "
            "initial_state=h0, mask=mask); c{{k}}_in1 = h0; rows follow the mask patterns.  "
            "With a non-zero initial state the leading masked steps (row 1) and the all-masked "
            "row 3 output {what}")
    return [
        Fx("k3_init_state_gru_mask_arg", [], desc.format(
               t="None", u="", what="h0 (Keras 3 non-unrolled: the masked step repeats the "
                                    "previous output, which starts as the initial state)"),
           api="functional", build=g_init_state_mask_arg(None), inputs=masked(0.0),
           extra_inputs=(inp("h0", (3,)),), verify=check_initial_state_mask,
           tags=("initial_state", "multi_input", "mask_arg")),
        Fx("k3_init_state_gru_mask_arg_unroll", [], desc.format(
               t="7", u=", unroll=True", what="zeros (Keras 3 unrolled: the previous output "
                                                "starts as zeros); one case"),
           api="functional", build=g_init_state_mask_arg(7), timesteps=7,
           inputs=masked(0.0, n_cases=1), extra_inputs=(inp("h0", (3,)),),
           verify=check_initial_state_mask, tags=("initial_state", "multi_input", "mask_arg")),
    ]


def model_set(prefix, fmt):
    """Small real-world models around recurrent layers (Dense, Conv1D, pooling, norms, ...)."""
    emb = lay("Embedding", 20, 4, mask_zero=True)
    tag = ("model",)
    return [
        Fx(f"{prefix}_sentiment",
           [emb, lay("Bidirectional", lay("LSTM", 3)), lay("Dense", 1, activation="sigmoid")],
           "Input((None,), int32) -> Embedding(20, 4, mask_zero=True) -> Bidirectional(LSTM(3)) "
           "-> Dense(1, sigmoid); token 0 masked (mask patterns, row 3 all padding)", fmt=fmt,
           vocab=20, inputs=tokens(20), tags=tag),
        Fx(f"{prefix}_tagger",
           [emb, lay("Bidirectional", lay("GRU", 3, return_sequences=True)),
            lay("TimeDistributed", lay("Dense", 5, activation="softmax"))],
           "Input((None,), int32) -> Embedding(20, 4, mask_zero=True) -> Bidirectional(GRU(3, "
           "return_sequences=True)) -> TimeDistributed(Dense(5, softmax)); token 0 masked",
           fmt=fmt, vocab=20, inputs=tokens(20), tags=tag),
        Fx(f"{prefix}_cnn_lstm",
           [lay("Conv1D", 4, 3, padding="causal", dilation_rate=1), lay("MaxPooling1D", 2),
            lay("LSTM", 3), lay("Dense", 2)],
           "Input((8, 3)) -> Conv1D(4, 3, padding='causal') -> MaxPooling1D(2) -> LSTM(3) -> "
           "Dense(2)", fmt=fmt, timesteps=8, cases=((3, 8), (2, 8)), tags=tag),
        Fx(f"{prefix}_conv_variants",
           [lay("Conv1D", 4, 3, strides=2, padding="valid"),
            lay("Conv1D", 3, 2, padding="same", dilation_rate=2),
            lay("AveragePooling1D", 2, padding="same"), lay("GRU", 2)],
           "Input((9, 3)) -> Conv1D(4, 3, strides=2, padding='valid') (T 9 -> 4) -> Conv1D(3, 2, "
           "padding='same', dilation_rate=2) -> AveragePooling1D(2, padding='same') (T 4 -> 2) "
           "-> GRU(2)", fmt=fmt, timesteps=9, cases=((3, 9), (2, 9)), tags=tag),
        Fx(f"{prefix}_stacked_regressor",
           [lay("LSTM", 4, return_sequences=True), lay("Dropout", 0.3), lay("LSTM", 3),
            lay("Dropout", 0.2), lay("Dense", 1)],
           "Input((None, 3)) -> LSTM(4, seq) -> Dropout(0.3) -> LSTM(3) -> Dropout(0.2) -> "
           "Dense(1) (Dropout is the identity at inference)", fmt=fmt, cases=NEW_CASES, tags=tag),
        Fx(f"{prefix}_two_input", [],
           "functional text (None,) int32 -> Embedding(20, 4) -> LSTM(3); numeric (2,) -> "
           "Dense(3, relu); Concatenate()([lstm, dense]) -> Dense(1, sigmoid); c{k}_in0 = text, "
           "c{k}_in1 = numeric", fmt=fmt, api="functional", build=g_two_input,
           inputs=random_inputs(("i", 20, 0), ("v", 2)), tags=tag + ("multi_input",)),
        Fx(f"{prefix}_pooling_mask",
           [emb, lay("GRU", 3, return_sequences=True), lay("GlobalAveragePooling1D"),
            lay("Dense", 2)],
           "Input((None,), int32) -> Embedding(20, 4, mask_zero=True) -> GRU(3, seq) -> "
           "GlobalAveragePooling1D() (masked average: sum over unmasked steps / their count) -> "
           "Dense(2); case 0 has no all-padding row (0/0 = NaN in Keras)", fmt=fmt, vocab=20,
           inputs=tokens(20, skip=("all_masked",)), tags=tag),
        Fx(f"{prefix}_pooling_mask_max",
           [emb, lay("GRU", 3, return_sequences=True), lay("GlobalMaxPooling1D"),
            lay("Dense", 2)],
           "Input((None,), int32) -> Embedding(20, 4, mask_zero=True) -> GRU(3, seq) -> "
           "GlobalMaxPooling1D() -> Dense(2); GlobalMaxPooling1D IGNORES the mask in both Keras "
           "versions (Keras 3 warns that it destroys it): the max runs over every step, the GRU "
           "repeating its previous output at masked steps", fmt=fmt, vocab=20,
           inputs=tokens(20, skip=("all_masked",)), tags=tag),
        Fx(f"{prefix}_norm_layers",
           [lay("LSTM", 4, return_sequences=True), lay("LayerNormalization"),
            lay("BatchNormalization"), lay("SimpleRNN", 3), lay("Activation", "tanh")],
           "Input((None, 3)) -> LSTM(4, seq) -> LayerNormalization() -> BatchNormalization() "
           "(random gamma/beta/moving_mean, moving_variance in [0.5, 2]: inference form) -> "
           "SimpleRNN(3) -> Activation('tanh')", fmt=fmt, cases=NEW_CASES, tags=tag),
        Fx(f"{prefix}_merges", [],
           "functional x (None, 3) -> a = GRU(3, seq)(x), b = LSTM(3, seq)(x); six outputs "
           "Add, Subtract, Multiply, Average, Maximum, Minimum of [a, b] in that order",
           fmt=fmt, api="functional", build=g_merges, cases=NEW_CASES,
           tags=tag + ("parallel_layers",)),
        Fx(f"{prefix}_repeat_vector",
           [lay("LSTM", 3), lay("RepeatVector", 4), lay("GRU", 2, return_sequences=True)],
           "Input((None, 3)) -> LSTM(3) -> RepeatVector(4) -> GRU(2, return_sequences=True) "
           "(output T is always 4)", fmt=fmt, cases=NEW_CASES, tags=tag),
    ]


def g_shared_lstm(keras):
    """One LSTM(3) layer called on two inputs (two inbound nodes of the same layer)."""
    L = keras.layers
    a = keras.Input((None, 3), name="a")
    b = keras.Input((None, 3), name="b")
    lstm = L.LSTM(3)
    ya, yb = lstm(a), lstm(b)
    return [a, b], [ya, yb, L.Subtract()([ya, yb])]


def g_shared_encoder_bidi(keras):
    """One Bidirectional(GRU(2, seq)) on two inputs; the sequences joined along time."""
    L = keras.layers
    a = keras.Input((None, 3), name="a")
    b = keras.Input((None, 3), name="b")
    enc = L.Bidirectional(L.GRU(2, return_sequences=True))
    return [a, b], L.LSTM(2)(L.Concatenate(axis=1)([enc(a), enc(b)]))


def g_nested_model(keras):
    """A Sequential model used as a layer inside a functional model."""
    L = keras.layers
    inner = keras.Sequential([keras.Input((None, 3)), L.LSTM(3, return_sequences=True),
                              L.Dense(2)], name="inner")
    x = keras.Input((None, 3))
    return [x], L.GRU(2)(inner(x))


def g_nested_functional(keras):
    """A functional model with three outputs used as a layer; two of them used outside."""
    L = keras.layers
    i = keras.Input((None, 3))
    inner = keras.Model(i, L.LSTM(2, return_state=True)(i), name="inner")
    x = keras.Input((None, 3))
    y, h, _c = inner(x)
    return [x], [L.Dense(1)(y), h]


# Case shapes (batch, T) of the shared-layer / nested-model fixtures (T <= 6).
GRAPH_CASES = ((3, 5), (2, 6))


def graph_set(prefix, fmt):
    """Graphs whose converter needs more than a chain: shared layers (one layer, several
    inbound nodes), models nested as layers, Reshape / Permute around recurrent layers."""
    tag = ("model",)
    return [
        Fx(f"{prefix}_shared_lstm", [],
           "functional a (None, 3), b (None, 3): ONE LSTM(3) layer called twice, ya = lstm(a), "
           "yb = lstm(b) (same weights; two inbound nodes); outputs [ya, yb, Subtract()([ya, "
           "yb])]; c{k}_in0 = a, c{k}_in1 = b (b one step shorter)", fmt=fmt, api="functional",
           build=g_shared_lstm, inputs=random_inputs(("f", 3, 0), ("f", 3, -1),
                                                     cases=GRAPH_CASES),
           tags=tag + ("shared_layer", "multi_input")),
        Fx(f"{prefix}_shared_encoder_bidi", [],
           "functional a (None, 3), b (None, 3): ONE Bidirectional(GRU(2, return_sequences=True)) "
           "(concat) called on a and on b; Concatenate(axis=1) of the two (batch, T, 4) "
           "sequences (time axis: T_a + T_b steps) -> LSTM(2); c{k}_in0 = a, c{k}_in1 = b "
           "(b one step shorter)", fmt=fmt, api="functional", build=g_shared_encoder_bidi,
           inputs=random_inputs(("f", 3, 0), ("f", 3, -1), cases=GRAPH_CASES),
           tags=tag + ("shared_layer", "bidirectional", "multi_input")),
        Fx(f"{prefix}_nested_model", [],
           "functional x (None, 3) -> inner(x) -> GRU(2), inner = Sequential([Input((None, 3)), "
           "LSTM(3, return_sequences=True), Dense(2)], name='inner') (a model used as a layer)",
           fmt=fmt, api="functional", build=g_nested_model, cases=GRAPH_CASES,
           tags=tag + ("nested_model",)),
        Fx(f"{prefix}_nested_functional", [],
           "functional x (None, 3) -> inner(x) = [y, h, c], inner = Model(i, LSTM(2, "
           "return_state=True)(i), name='inner') (functional model, three outputs, used as a "
           "layer); outputs [Dense(1)(y), h] (c unused)", fmt=fmt, api="functional",
           build=g_nested_functional, cases=GRAPH_CASES, tags=tag + ("nested_model",)),
        Fx(f"{prefix}_reshape_permute",
           [lay("Reshape", (3, 8)), lay("LSTM", 3, return_sequences=True),
            lay("Permute", (2, 1)), lay("GRU", 2)],
           "Sequential Input((6, 4)) -> Reshape((3, 8)) -> LSTM(3, return_sequences=True) "
           "(batch, 3, 3) -> Permute((2, 1)) (swaps time and features) -> GRU(2) (runs over the "
           "3 LSTM units as time steps, features = the 3 LSTM steps)", fmt=fmt, features=4,
           timesteps=6, cases=((3, 6), (2, 6)), tags=tag + ("reshape", "permute")),
        Fx(f"{prefix}_reshape_go_backwards",
           [lay("Reshape", (-1, 3), name="split-frames"),
            lay("GRU", 3, go_backwards=True, return_sequences=True, name="rev-gru"),
            lay("LSTM", 2, go_backwards=True, name="rev-lstm")],
           "Sequential Input((None, 6)) -> Reshape((-1, 3)) (each step split in two: a time axis "
           "made by a Reshape) -> GRU(3, go_backwards, seq) -> LSTM(2, go_backwards); the tract "
           "target's flip of the reshaped time failed tract's declutter (reproducer "
           "flip_of_split_axis)", fmt=fmt, features=6, cases=((2, 4), (3, 2)), tags=tag + ("reshape",)),
    ]


def g_siamese_dot(keras):
    """One functional embedding model called on two inputs (a Siamese encoder)."""
    L = keras.layers
    i = keras.Input((None, 3), name="tokens-in")
    h = L.LSTM(4, return_sequences=True, name="encoder")(i)
    h = L.LSTM(3, name="encoder-2")(h)
    embed = keras.Model(i, L.Dense(3, activation="tanh", name="dense")(h), name="embed-net")
    left = keras.Input((None, 3), name="left")
    right = keras.Input((None, 3), name="right")
    a, b = embed(left), embed(right)
    diff = L.Subtract(name="diff")([a, b])
    cosine = L.Dot(axes=-1, normalize=True, name="cosine")([a, b])
    score = L.Dense(1, activation="sigmoid", name="dense")(L.Concatenate(name="join")([diff, cosine]))
    return [left, right], [score, L.Dot(axes=1, name="raw-dot")([a, b])]


def g_siamese_sequential(keras):
    """A Sequential tower called on two inputs; Dot over a tuple of axes (1, -1)."""
    L = keras.layers
    tower = keras.Sequential([keras.Input((None, 3)), L.GRU(3, return_sequences=True, name="gru-a"),
                              L.GRU(2, name="gru-b"), L.Dense(2, name="proj")], name="tower-net")
    left = keras.Input((None, 3), name="left-seq")
    right = keras.Input((None, 3), name="right-seq")
    a, b = tower(left), tower(right)
    return [left, right], [L.Dot(axes=(1, -1), name="match")([a, b]), L.Add(name="sum")([a, b])]


def g_dot_attention(keras):
    """Dot-product attention between two fixed-length LSTM sequences (3-D Dot axes)."""
    L = keras.layers
    enc = keras.Input((5, 3), name="enc-in")
    dec = keras.Input((4, 3), name="dec-in")
    k = L.LSTM(4, return_sequences=True, name="key-lstm")(enc)
    q = L.LSTM(4, return_sequences=True, name="query-lstm")(dec)
    scores = L.Dot(axes=(2, 2), name="scores")([q, k])  # (batch, 4, 5)
    attn = L.Activation("softmax", name="attn")(scores)
    context = L.Dot(axes=(-1, 1), name="context")([attn, k])  # (batch, 4, 4)
    out = L.GRU(2, name="gru-out")(context)
    gram = L.Dot(axes=(-2, -2), normalize=True, name="gram")([q, q])  # (batch, 4, 4)
    pooled = L.Dot(axes=(2, 1), name="pool")([q, L.Dense(4, name="dense")(L.Flatten()(enc))])  # (batch, 4)
    return [enc, dec], [out, gram, pooled]


def g_no_rnn_dense(keras):
    L = keras.layers
    x = keras.Input((5,), name="features-in")
    h = L.Dense(8, activation="relu", name="hidden-1")(x)
    return [x], L.Dense(2, name="hidden-2")(h)


def g_tf_time_major(keras):
    """tf.transpose to time-major -> LSTM(time_major=True) -> tf.transpose back (Keras 2)."""
    import tensorflow as tf

    L = keras.layers
    x = keras.Input((None, 3), name="frames")
    t = tf.transpose(x, [1, 0, 2])
    y = L.LSTM(4, time_major=True, return_sequences=True, name="tm-lstm")(t)
    g = L.GRU(3, time_major=True, name="tm-gru")(y)  # last output: (batch, 3)
    z = L.SimpleRNN(2, time_major=True, return_sequences=True, return_state=True, name="tm-rnn")(y)
    back = tf.transpose(z[0], perm=[1, 0, 2])
    return [x], [L.Dense(2, name="head")(back), g, z[1]]


def g_tf_ops(keras):
    """Every whitelisted TensorFlow function, as tf-keras records them (TFOpLambda)."""
    import tensorflow as tf

    L = keras.layers
    x = keras.Input((5, 3), name="x-in")
    y = L.LSTM(4, return_sequences=True, name="lstm")(x)
    last = tf.expand_dims(y[:, -1, :], axis=1)  # (b, 1, 4)
    c = tf.concat([y, last], axis=1)  # (b, 6, 4)
    m = tf.math.multiply(c, 2.0)
    a = m + y[:, :1]  # broadcast over time
    r = tf.reduce_mean(a, axis=1)  # (b, 4)
    s = tf.squeeze(last, axis=1)
    st = tf.stack([r, s], axis=1)  # (b, 2, 4)
    flat = tf.reshape(st, [-1, 8]) / 3.0
    rev = y[:, ::-1, 1:3]  # (b, 5, 2)
    p = tf.transpose(y, [0, 2, 1])  # (b, 4, 5)
    q = tf.reduce_max(p, 2, True) - tf.reduce_sum(p, axis=-1, keepdims=True)  # (b, 4, 1)
    k = 0.5 * tf.math.subtract(x, tf.reshape(tf.transpose(x, [0, 2, 1]), (-1, 5, 3)))
    e = x[..., 0]  # (b, 5)
    g = L.GRU(2, name="lstm-2")(tf.concat([rev, k[:, :, 1:]], axis=-1))
    return [x], [flat, q, tf.math.add(g, 1.0), e, L.Dense(2, name="dense")(p[:, 2])]


def g_tf_unknown(keras):
    """A TFOpLambda naming a function off the whitelist (tf.math.cumsum)."""
    import tensorflow as tf

    L = keras.layers
    x = keras.Input((None, 3), name="x-in")
    return [x], L.LSTM(2, name="lstm")(tf.math.cumsum(x, axis=1))


def float_ids(vocab: int, cases=((3, 6), (2, 8))) -> Inputs:
    """Float32 token ids (batch, T) for an Embedding behind Input(dtype="float32"): whole
    numbers, fractions (Keras truncates them) and, in row 0, 0.0 and 0.4 (both look up row 0;
    only 0.0 is masked by mask_zero, which compares the float ids with 0)."""
    def make(fx, rng):
        import numpy as np

        out = []
        for b, t in cases:
            ids = rng.uniform(0, vocab, size=(b, t))
            ids[:, ::2] = np.floor(ids[:, ::2])
            ids[0, :2] = (0.0, 0.4)
            out.append([ids.astype("float32")])
        return out

    return Inputs(make, ("float_ids",))


def g_float_ids(mask_zero):
    def build(keras):
        L = keras.layers
        ids = keras.Input((None,), dtype="float32", name="token-ids")
        e = L.Embedding(12, 4, mask_zero=mask_zero, name="embed")(ids)
        y = L.LSTM(3, return_sequences=True, name="lstm-a")(e)
        return [ids], L.LSTM(2, name="lstm-b")(y)
    return build


def issue11_embedding_set(prefix, fmt):
    """Issue 11 item 6: an Embedding fed float32 ids (Keras casts them to int32)."""
    tag = ("model", "user_names", "embedding")
    return [
        Fx(f"{prefix}_embedding_float_ids{suffix}", [],
           f"token-ids Input((None,), dtype='float32') -> Embedding(12, 4, mask_zero={mask_zero}, "
           "name='embed') -> LSTM(3, seq, name='lstm-a') -> LSTM(2, name='lstm-b'); the float ids are "
           "truncated to integers by Keras (0.4 -> row 0, 5.7 -> row 5)"
           + ("; the mask compares the float ids with 0, so 0.4 is NOT masked" if mask_zero else ""),
           fmt=fmt, api="functional", build=g_float_ids(mask_zero), inputs=float_ids(12), tags=tag)
        for suffix, mask_zero in (("", False), ("_mask", True))
    ]


def g_bidi_enc_dec_states(keras):
    """Bidirectional GRU encoder states (forward, backward) -> Bidirectional GRU decoder."""
    L = keras.layers
    src = keras.Input((None, 3), name="src-seq")
    tgt = keras.Input((None, 2), name="tgt-seq")
    _, h_fwd, h_bwd = L.Bidirectional(L.GRU(3, return_state=True, name="gru"), name="bi-enc")(src)
    y = L.Bidirectional(L.GRU(3, return_sequences=True, name="gru"), name="bi-dec")(
        tgt, initial_state=[h_fwd, h_bwd])
    return [src, tgt], L.Dense(2, name="dense")(y)


def g_bidi_simple_init(keras):
    """Initial states computed from a side input; SimpleRNN halves merged by sum."""
    L = keras.layers
    x = keras.Input((None, 3), name="x-seq")
    side = keras.Input((4,), name="side-info")
    h_fwd = L.Dense(2, activation="tanh", name="init-fwd")(side)
    h_bwd = L.Dense(2, activation="tanh", name="init-bwd")(side)
    y = L.Bidirectional(L.SimpleRNN(2, return_sequences=True, name="rnn"), merge_mode="sum",
                        name="bi-rnn")(x, initial_state=[h_fwd, h_bwd])
    return [x, side], y


def issue11_bidi_set(prefix, fmt):
    """Issue 11 item 4: Bidirectional with initial_state (forward states, then backward) and
    stateful=True inside Bidirectional."""
    tag = ("model", "user_names", "initial_state", "bidirectional")
    return [
        Fx(f"{prefix}_bidi_init_state_lstm",
           [lay("Bidirectional", lay("LSTM", 3, return_sequences=True, name="lstm"), name="bi-enc",
                call_kwargs={"initial_state": [ref("h-fwd"), ref("c-fwd"), ref("h-bwd"), ref("c-bwd")]})],
           "x (None, 3), h-fwd, c-fwd, h-bwd, c-bwd (3,): Bidirectional(LSTM(3, seq), name='bi-enc')"
           "(x, initial_state=[h-fwd, c-fwd, h-bwd, c-bwd]) (forward states then backward); "
           "c{k}_in1..4 = the states", fmt=fmt, api="functional", input_name="x",
           extra_inputs=(inp("h-fwd", (3,)), inp("c-fwd", (3,)), inp("h-bwd", (3,)), inp("c-bwd", (3,))),
           cases=NEW_CASES, tags=tag + ("multi_input",)),
        Fx(f"{prefix}_bidi_init_state_enc_dec", [],
           "src-seq (None, 3) -> Bidirectional(GRU(3, return_state=True), name='bi-enc') -> [_, h_fwd, "
           "h_bwd]; tgt-seq (None, 2) -> Bidirectional(GRU(3, seq), name='bi-dec')(tgt, initial_state="
           "[h_fwd, h_bwd]) -> Dense(2); inner layers all named 'gru'; c{k}_in1 = tgt (one step shorter)",
           fmt=fmt, api="functional", build=g_bidi_enc_dec_states,
           inputs=random_inputs(("f", 3, 0), ("f", 2, -1)), tags=tag + ("encoder_decoder", "multi_input")),
        Fx(f"{prefix}_bidi_init_state_simple_sum", [],
           "x-seq (None, 3), side-info (4,): Bidirectional(SimpleRNN(2, seq), merge_mode='sum', "
           "name='bi-rnn')(x, initial_state=[Dense(2, tanh, name='init-fwd')(side), Dense(2, tanh, "
           "name='init-bwd')(side)])", fmt=fmt, api="functional", build=g_bidi_simple_init,
           inputs=random_inputs(("f", 3, 0), ("v", 4)), tags=tag + ("multi_input", "merge:sum")),
        *[Fx(f"{prefix}_bidi_stateful_{kind}",
             [lay("Bidirectional", lay(cls, 3, stateful=True, return_sequences=True, name=f"{kind}-inner"),
                  name="bi-state")],
             f"Bidirectional({cls}(3, stateful=True, return_sequences=True), name='bi-state'){STATEFUL_DESC}"
             "; both halves carry their own states (the backward half walks each chunk backwards from "
             "the state it ended the previous chunk with, so the chunks do not equal one pass); c0, c1, c2 "
             "chunks T=3, 2, 4, then reset_states, then c3", fmt=fmt, batch_size=2, inputs=chunks(),
             reset_before=(3,), twin_must_match=False, tags=("stateful", "bidirectional", "user_names"))
           for kind, cls in (("lstm", "LSTM"), ("gru", "GRU"), ("simple", "SimpleRNN"))],
    ]


def issue11_tf_set():
    """Issue 11 (Keras 2 only): time_major=True and TensorFlow functions called in a model."""
    tag = ("model", "user_names", "tf_op")
    return [
        Fx("k2_tf_time_major", [],
           "frames (None, 3) -> tf.transpose([1, 0, 2]) -> LSTM(4, time_major=True, seq, name='tm-lstm') "
           "-> [GRU(3, time_major=True, name='tm-gru') (last), SimpleRNN(2, time_major=True, seq, "
           "return_state=True, name='tm-rnn')]; outputs [Dense(2)(tf.transpose(rnn_seq, [1, 0, 2])), "
           "gru_last, rnn_h]", fmt="h5", api="functional", build=g_tf_time_major,
           cases=((3, 5), (2, 7)), tags=tag + ("time_major",)),
        Fx("k2_tf_ops", [],
           "x-in (5, 3) -> LSTM(4, seq, name='lstm') y; tf.expand_dims(y[:, -1, :], 1), tf.concat "
           "(axis 1 and -1), tf.math.multiply by 2.0, + y[:, :1], tf.reduce_mean/_max/_sum (axis, "
           "keepdims), tf.squeeze, tf.stack, tf.reshape, / 3.0, y[:, ::-1, 1:3], tf.transpose([0, 2, 1]), "
           "2.0-first constant (0.5 * ...), tf.math.subtract, x[..., 0], p[:, 2], GRU(2, name='lstm-2') "
           "over a concat; outputs [flat, q, tf.math.add(gru, 1.0), x[..., 0], Dense(2)(p[:, 2])]",
           fmt="h5", api="functional", build=g_tf_ops, cases=((3, 5), (2, 5)), tags=tag),
    ]


def issue11_graph_set(prefix, fmt):
    """Issue 11: nested models called twice with Dot, models without a recurrent layer, fixed
    dimensions propagated through Flatten / RepeatVector / Permute / Conv1D / pooling."""
    tag = ("model", "user_names")
    pair = random_inputs(("f", 3, 0), ("f", 3, -1), cases=GRAPH_CASES)
    return [
        Fx(f"{prefix}_siamese_dot", [],
           "Siamese: embed-net = Model(tokens-in (None, 3) -> LSTM(4, seq, name='encoder') -> "
           "LSTM(3, name='encoder-2') -> Dense(3, tanh, name='dense')) called on left and right "
           "(one copy of the weights); outputs [Dense(1, sigmoid, name='dense')(Concatenate("
           "[Subtract(a, b), Dot(axes=-1, normalize=True)(a, b)])), Dot(axes=1)(a, b)]; "
           "c{k}_in0 = left, c{k}_in1 = right (one step shorter)", fmt=fmt, api="functional",
           build=g_siamese_dot, inputs=pair, tags=tag + ("nested_model", "shared_model", "layer:Dot")),
        Fx(f"{prefix}_siamese_sequential", [],
           "tower-net = Sequential([GRU(3, seq, name='gru-a'), GRU(2, name='gru-b'), "
           "Dense(2, name='proj')]) called on left-seq and right-seq; outputs [Dot(axes=(1, -1))"
           "(a, b), Add(a, b)]", fmt=fmt, api="functional", build=g_siamese_sequential,
           inputs=pair, tags=tag + ("nested_model", "shared_model", "layer:Dot")),
        Fx(f"{prefix}_dot_attention", [],
           "enc-in (5, 3), dec-in (4, 3): k = LSTM(4, seq, name='key-lstm')(enc), q = LSTM(4, "
           "seq, name='query-lstm')(dec); outputs [GRU(2)(Dot(axes=(-1, 1))([softmax(Dot(axes="
           "(2, 2))([q, k])), k])), Dot(axes=(-2, -2), normalize=True)([q, q]), Dot(axes=(2, 1))"
           "([q, Dense(4)(Flatten(enc))])]", fmt=fmt, api="functional", build=g_dot_attention,
           inputs=random_inputs(("f", 3, 0), ("f", 3, -1), cases=((3, 5), (2, 5))),
           tags=tag + ("layer:Dot", "multi_input")),
        Fx(f"{prefix}_no_rnn_time_distributed",
           [lay("TimeDistributed", lay("Dense", 4, activation="relu"), name="td-proj"),
            lay("TimeDistributed", lay("Dense", 2), name="td-out")],
           "no recurrent layer: Input((None, 3)) -> TimeDistributed(Dense(4, relu), name='td-proj') "
           "-> TimeDistributed(Dense(2), name='td-out')", fmt=fmt, cases=NEW_CASES,
           tags=tag + ("no_recurrent",)),
        Fx(f"{prefix}_no_rnn_dense", [],
           "no recurrent layer: features-in (5,) -> Dense(8, relu, name='hidden-1') -> "
           "Dense(2, name='hidden-2')", fmt=fmt, api="functional", build=g_no_rnn_dense,
           inputs=random_inputs(("v", 5), cases=NEW_CASES), tags=tag + ("no_recurrent",)),
        Fx(f"{prefix}_fixed_time_permute",
           [lay("Dense", 5, name="proj-in"), lay("Flatten", name="flat"),
            lay("RepeatVector", 3, name="repeat-3"), lay("Permute", (2, 1), name="swap-axes"),
            lay("GRU", 2, name="gru-out")],
           "Input((4, 3)) -> Dense(5) -> Flatten (20) -> RepeatVector(3) -> Permute((2, 1)) "
           "(batch, 20, 3) -> GRU(2): the fixed time of RepeatVector reaches Permute",
           fmt=fmt, timesteps=4, cases=((3, 4), (2, 4)), tags=tag + ("permute", "fixed_dims")),
        Fx(f"{prefix}_fixed_time_conv_permute",
           [lay("Conv1D", 4, 3, name="conv-a"), lay("MaxPooling1D", 2, name="pool-a"),
            lay("Permute", (2, 1), name="swap-axes"), lay("SimpleRNN", 3, name="rnn-out")],
           "Input((8, 3)) -> Conv1D(4, 3) (6 steps) -> MaxPooling1D(2) (3 steps) -> Permute((2, 1)) "
           "(batch, 4, 3) -> SimpleRNN(3)", fmt=fmt, timesteps=8, cases=((3, 8), (2, 8)),
           tags=tag + ("permute", "fixed_dims")),
    ]
# --------------------------------------------------------------------------
# Attention layers (Attention, AdditiveAttention, MultiHeadAttention)
# --------------------------------------------------------------------------
# Token rows of case 0 (batch 4): True = token 0 (masked by Embedding(mask_zero=True)).
ATTN_QUERY_ROWS = ([0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0])  # right, none, all, left
# value rows: right, all, holes, none
ATTN_VALUE_ROWS = ([0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1], [0, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0])


def attn_inputs(*kinds):
    """Cases for attention models, one ``kinds`` entry per model input.

    ``("q", vocab)`` / ``("v", vocab)``: int32 token ids following ATTN_QUERY_ROWS /
    ATTN_VALUE_ROWS in case 0 (batch 4, Tq 5, Tv 6; query row 2 and value row 1 fully
    padded), random ids with some zeros in case 1 (batch 2, Tq 3, Tv 4);
    ``("f", features, "q"|"v")``: float32 normal of the query's or the value's length;
    ``("m", "q", "v")``: a float 0/1 (batch, Tq, Tv) attention mask (query row 1 of case 0
    fully blocked).
    """
    def make(fx, rng):
        import numpy as np

        cases = []
        for c, (b, tq, tv) in enumerate(((4, 5, 6), (2, 3, 4))):
            xs = []
            for kind in kinds:
                length = tq if kind[-1] == "q" or kind[0] == "q" else tv
                if kind[0] in ("q", "v"):
                    t = rng.randint(1, kind[1], size=(b, length)).astype("int32")
                    if c == 0:
                        t[np.array(ATTN_QUERY_ROWS if kind[0] == "q" else ATTN_VALUE_ROWS, dtype=bool)] = 0
                    else:
                        t[0, -1] = 0
                    xs.append(t)
                elif kind[0] == "f":
                    xs.append(rng.standard_normal((b, length, kind[1])).astype("float32"))
                else:
                    m = (rng.uniform(size=(b, tq, tv)) > 0.3).astype("float32")
                    if c == 0:
                        m[0, 1] = 0.0
                    xs.append(m)
            cases.append(xs)
        return cases

    tags = ("attention",) + (("int_input", "mask") if any(k[0] in ("q", "v") for k in kinds) else ())
    return Inputs(make, tags)


def _named(prefix, name):
    """User-chosen layer names in Keras 2 files; Keras 3 .keras archives store weights by class path,
    which this converter does not map back to user names yet (issue 11): default names there."""
    return {"name": name} if prefix == "k2" else {}


def g_attn_dot(prefix):
    def build(keras):
        L = keras.layers
        tq = keras.Input((None,), dtype="int32", name="query_tokens")
        tv = keras.Input((None,), dtype="int32", name="value_tokens")
        q = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "query-emb"))(tq)
        v = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "value-emb"))(tv)
        out, scores = L.Attention(use_scale=True, **_named(prefix, "luong-attn"))([q, v], return_attention_scores=True)
        plain = L.Attention(**_named(prefix, "plain-attn"))([q, v])
        return [tq, tv], [out, scores, plain]
    return build


def g_attn_concat_causal(prefix):
    def build(keras):
        L = keras.layers
        q = keras.Input((None, 3), name="query")
        v = keras.Input((None, 2), name="value")
        k = keras.Input((None, 3), name="key")
        concat = L.Attention(score_mode="concat", use_scale=True, **_named(prefix, "concat-attn"))
        a = concat([q, v, k], use_causal_mask=True)
        b = L.Attention(score_mode="concat", **_named(prefix, "concat-noscale"))([q, q])
        c = L.Attention(**_named(prefix, "dot-causal"))([q, k], use_causal_mask=True)
        return [q, v, k], [a, b, c]
    return build


def g_additive(prefix):
    def build(keras):
        L = keras.layers
        tq = keras.Input((None,), dtype="int32", name="query_tokens")
        tv = keras.Input((None,), dtype="int32", name="value_tokens")
        q = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "query-emb"))(tq)
        v = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "value-emb"))(tv)
        out, scores = L.AdditiveAttention(**_named(prefix, "bahdanau"))([q, v], return_attention_scores=True)
        plain = L.AdditiveAttention(use_scale=False, **_named(prefix, "bahdanau-noscale"))([q, v, v],
                                                                                           use_causal_mask=True)
        return [tq, tv], [out, scores, plain]
    return build


def g_mha_masks(prefix):
    def build(keras):
        L = keras.layers
        tq = keras.Input((None,), dtype="int32", name="query_tokens")
        tv = keras.Input((None,), dtype="int32", name="value_tokens")
        q = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "query-emb"))(tq)
        v = L.Embedding(12, 3, mask_zero=True, **_named(prefix, "value-emb"))(tv)
        # each MultiHeadAttention gets Embedding outputs of its own: Keras 3's clears its inputs' masks
        q2 = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "query-emb-2"))(tq)
        v2 = L.Embedding(12, 3, mask_zero=True, **_named(prefix, "value-emb-2"))(tv)
        # value_dim != key_dim only where scores are returned: Keras 3.15 on JAX fails to reshape
        # dot_product_attention's output otherwise (a Keras bug, not a feature to convert)
        a = L.MultiHeadAttention(2, 3, **_named(prefix, "cross-mha"))(q, v)
        scored = L.MultiHeadAttention(1, 2, value_dim=3, output_shape=5, use_bias=False, **_named(prefix, "scored-mha"))
        b, scores = scored(
            q2, v2, return_attention_scores=True)
        return [tq, tv], [a, b, scores]
    return build


def g_mha_attention_mask(prefix):
    def build(keras):
        L = keras.layers
        x = keras.Input((5, 4), name="x")
        m = keras.Input((5, 5), name="attention_mask")
        y = L.MultiHeadAttention(2, 2, **_named(prefix, "self-mha"))(x, x, attention_mask=m, use_causal_mask=True)
        k = keras.Input((5, 3), name="key")
        z = L.MultiHeadAttention(2, 3, **_named(prefix, "keyed-mha"))(x, x, key=k)
        return [x, m, k], [y, z]
    return build


def g_seq2seq_attention(prefix, cls):
    """Encoder-decoder with attention over the encoder's sequence (Luong: dot Attention;
    Bahdanau: AdditiveAttention), the context concatenated to the decoder's outputs."""
    def build(keras):
        L = keras.layers
        src = keras.Input((None,), dtype="int32", name="source_tokens")
        tgt = keras.Input((None,), dtype="int32", name="target_tokens")
        enc = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "src-emb"))(src)
        enc_seq, h, c = L.LSTM(4, return_sequences=True, return_state=True, **_named(prefix, "encoder"))(enc)
        dec = L.Embedding(12, 4, mask_zero=True, **_named(prefix, "tgt-emb"))(tgt)
        dec_seq = L.LSTM(4, return_sequences=True, **_named(prefix, "decoder"))(dec, initial_state=[h, c])
        context = getattr(L, cls)(**_named(prefix, "attention"))([dec_seq, enc_seq])
        joined = L.Concatenate(**_named(prefix, "join"))([context, dec_seq])
        return [src, tgt], L.Dense(6, activation="softmax", **_named(prefix, "vocab"))(joined)
    return build


def attention_set(prefix, fmt):
    tag = ("attention",)
    mha_rule = ("Keras 3 MultiHeadAttention: without scores it calls dot_product_attention (a fully "
                "masked query row averages every value), with return_attention_scores its Softmax "
                "zeroes masked weights (the row outputs the output bias)" if prefix == "k3" else
                "tf-keras MultiHeadAttention adds -1e9 to masked scores (a fully masked query row "
                "is uniform)")
    return [
        Fx(f"{prefix}_attn_dot_masks", [],
           "functional query_tokens, value_tokens (None,) int32 -> Embedding(12, 4, mask_zero=True) each -> "
           "Attention(use_scale=True)([q, v], return_attention_scores=True) -> [out, scores] and "
           "Attention()([q, v]); masks from both Embeddings (value row 1 and query row 2 of case 0 fully "
           "padded: uniform weights / zero rows)", fmt=fmt, api="functional", build=g_attn_dot(prefix),
           inputs=attn_inputs(("q", 12), ("v", 12)), tags=tag + ("multi_input",)),
        Fx(f"{prefix}_attn_concat_causal", [],
           "functional query (None, 3), value (None, 2), key (None, 3): Attention(score_mode='concat', "
           "use_scale=True)([q, v, k], use_causal_mask=True); Attention(score_mode='concat')([q, q]); "
           "Attention()([q, k], use_causal_mask=True)", fmt=fmt, api="functional",
           build=g_attn_concat_causal(prefix), inputs=attn_inputs(("f", 3, "q"), ("f", 2, "v"), ("f", 3, "v")),
           tags=tag + ("multi_input", "causal")),
        Fx(f"{prefix}_additive_attention", [],
           "functional token inputs -> Embedding(mask_zero=True) each -> AdditiveAttention()([q, v], "
           "return_attention_scores=True) (scale vector) and AdditiveAttention(use_scale=False)([q, v, v], "
           "use_causal_mask=True)", fmt=fmt, api="functional", build=g_additive(prefix),
           inputs=attn_inputs(("q", 12), ("v", 12)), tags=tag + ("multi_input", "causal")),
        Fx(f"{prefix}_mha_masks", [],
           "functional token inputs -> Embedding(12, 4 / 3, mask_zero=True) (two pairs: one per layer, as "
           "Keras 3's MultiHeadAttention clears its inputs' masks) -> MultiHeadAttention(2, 3)(q, v) and "
           "MultiHeadAttention(1, 2, value_dim=3, output_shape=5, use_bias=False)(q, v, "
           "return_attention_scores=True) -> [a, b, scores (batch, heads, Tq, Tv)]; " + mha_rule, fmt=fmt,
           api="functional", build=g_mha_masks(prefix), inputs=attn_inputs(("q", 12), ("v", 12)),
           tags=tag + ("multi_input",)),
        Fx(f"{prefix}_mha_attention_mask", [],
           "functional x (5, 4), attention_mask (5, 5) float 0/1, key (5, 3): MultiHeadAttention(2, 2)(x, x, "
           "attention_mask=m, use_causal_mask=True); MultiHeadAttention(2, 3)(x, x, key=k); "
           "case 0 row 0 query step 1 fully blocked", fmt=fmt, api="functional",
           build=g_mha_attention_mask(prefix), timesteps=5,
           inputs=Inputs(lambda fx, rng: _fixed_mha_inputs(rng), ("attention", "attention_mask")),
           tags=tag + ("multi_input", "causal")),
        Fx(f"{prefix}_seq2seq_luong", [],
           "functional encoder-decoder with Luong attention: source tokens -> Embedding(mask_zero) -> "
           "LSTM(4, seq, state) -> [enc_seq, h, c]; target tokens -> Embedding(mask_zero) -> LSTM(4, seq)"
           "(initial_state=[h, c]) -> Attention()([dec_seq, enc_seq]) -> Concatenate([context, dec_seq]) -> "
           "Dense(6, softmax)", fmt=fmt, api="functional", build=g_seq2seq_attention(prefix, "Attention"),
           inputs=attn_inputs(("v", 12), ("q", 12)), tags=tag + ("multi_input", "encoder_decoder", "model")),
        Fx(f"{prefix}_seq2seq_bahdanau", [],
           "as *_seq2seq_luong with AdditiveAttention (Bahdanau) over the encoder's sequence", fmt=fmt,
           api="functional", build=g_seq2seq_attention(prefix, "AdditiveAttention"),
           inputs=attn_inputs(("v", 12), ("q", 12)), tags=tag + ("multi_input", "encoder_decoder", "model")),
    ]


def _fixed_mha_inputs(rng):
    cases = []
    for c, b in enumerate((3, 2)):
        x = rng.standard_normal((b, 5, 4)).astype("float32")
        m = (rng.uniform(size=(b, 5, 5)) > 0.3).astype("float32")
        if c == 0:
            m[0, 1] = 0.0
        k = rng.standard_normal((b, 5, 3)).astype("float32")
        cases.append([x, m, k])
    return cases


# --------------------------------------------------------------------------
# ConvLSTM1D / ConvLSTM2D / ConvLSTM3D
# --------------------------------------------------------------------------
def frames(*shapes, cases=((2, 4), (1, 3))):
    """Random float32 video cases: one (batch, T, *frame) array per model input and case;
    ``shapes`` are the frame shapes (spatial dims and channels)."""
    def make(fx, rng):
        return [[rng.standard_normal((b, t, *shape)).astype("float32") for shape in shapes] for b, t in cases]

    return Inputs(make, ("conv_lstm",))


def g_convlstm_seq(prefix):
    def build(keras):
        L = keras.layers
        x = keras.Input((None, 5, 6, 2), name="video")
        y = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, **_named(prefix, "conv-lstm-a"))(x)
        z = L.ConvLSTM2D(2, (2, 3), strides=(2, 1), recurrent_activation="hard_sigmoid", go_backwards=True,
                         **_named(prefix, "conv-lstm-b"))(y)
        return [x], [y, z]
    return build


def g_convlstm1d_state(prefix):
    def build(keras):
        L = keras.layers
        x = keras.Input((None, 7, 2), name="signal")
        y, h, c = L.ConvLSTM1D(3, 3, dilation_rate=2, padding="same", use_bias=False, activation="relu",
                               return_state=True, **_named(prefix, "conv1d-lstm"))(x)
        return [x], [y, h, c]
    return build


def g_convlstm3d(prefix):
    def build(keras):
        L = keras.layers
        x = keras.Input((None, 3, 4, 4, 1), name="volume")
        y = L.ConvLSTM3D(2, (2, 2, 2), return_sequences=True, **_named(prefix, "conv3d-lstm"))(x)
        return [x], [y]
    return build


def g_convlstm_channels_first(keras):
    L = keras.layers
    x = keras.Input((None, 2, 5, 4), name="video")
    y = L.ConvLSTM2D(3, (3, 2), padding="same", data_format="channels_first", return_sequences=True,
                     recurrent_activation="hard_sigmoid")(x)
    return [x], [y]


def g_next_frame(prefix):
    """The Keras next-frame prediction example, small: ConvLSTM2D -> BatchNormalization ->
    ConvLSTM2D -> BatchNormalization (frames in, frames out)."""
    def build(keras):
        L = keras.layers
        x = keras.Input((None, 6, 6, 1), name="frames")
        y = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, activation="relu",
                         **_named(prefix, "encoder-convlstm"))(x)
        y = L.BatchNormalization(**_named(prefix, "bn-1"))(y)
        y = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, **_named(prefix, "decoder-convlstm"))(y)
        return [x], [L.BatchNormalization(**_named(prefix, "bn-2"))(y)]
    return build


def g_next_frame_conv3d(prefix):
    """The whole next-frame predictor: ConvLSTM2D -> BatchNormalization -> ConvLSTM2D ->
    Conv3D(1, (3, 3, 3), sigmoid) over (time, height, width)."""
    def build(keras):
        L = keras.layers
        x = keras.Input((None, 6, 6, 1), name="frames")
        y = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, **_named(prefix, "encoder-convlstm"))(x)
        y = L.BatchNormalization(**_named(prefix, "bn-1"))(y)
        y = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, **_named(prefix, "decoder-convlstm"))(y)
        return [x], [L.Conv3D(1, (3, 3, 3), padding="same", activation="sigmoid", **_named(prefix, "to-frame"))(y)]
    return build


def conv_lstm_set(prefix, fmt):
    tag = ("conv_lstm",)
    out = [
        Fx(f"{prefix}_convlstm2d_seq", [],
           "functional video (None, 5, 6, 2) -> ConvLSTM2D(3, 3, padding='same', return_sequences=True) -> "
           "ConvLSTM2D(2, (2, 3), strides=(2, 1), recurrent_activation='hard_sigmoid' (the version's formula), "
           "go_backwards=True) (last output (3, 4, 2)); outputs [y_seq, z]", fmt=fmt, api="functional",
           build=g_convlstm_seq(prefix), inputs=frames((5, 6, 2)), wscale=0.8, tags=tag),
        Fx(f"{prefix}_convlstm1d_state", [],
           "functional signal (None, 7, 2) -> ConvLSTM1D(3, 3, dilation_rate=2, padding='same', use_bias=False, "
           "activation='relu', return_state=True) -> [y, h, c]", fmt=fmt, api="functional",
           build=g_convlstm1d_state(prefix), inputs=frames((7, 2)), wscale=0.8, tags=tag + ("return_state",)),
        Fx(f"{prefix}_convlstm3d", [],
           "functional volume (None, 3, 4, 4, 1) -> ConvLSTM3D(2, (2, 2, 2), return_sequences=True)", fmt=fmt,
           api="functional", build=g_convlstm3d(prefix), inputs=frames((3, 4, 4, 1)), wscale=0.8, tags=tag),
        Fx(f"{prefix}_next_frame", [],
           "next-frame predictor: frames (None, 6, 6, 1) -> ConvLSTM2D(3, 3, same, seq, relu) -> "
           "BatchNormalization -> ConvLSTM2D(2, 3, same, seq) -> BatchNormalization", fmt=fmt, api="functional",
           build=g_next_frame(prefix), inputs=frames((6, 6, 1)), wscale=0.8, tags=tag + ("model",)),
        Fx(f"{prefix}_next_frame_conv3d", [],
           "next-frame predictor: frames (None, 6, 6, 1) -> ConvLSTM2D(3, 3, same, seq) -> BatchNormalization -> "
           "ConvLSTM2D(2, 3, same, seq) -> Conv3D(1, (3, 3, 3), padding='same', sigmoid)", fmt=fmt,
           api="functional", build=g_next_frame_conv3d(prefix), inputs=frames((6, 6, 1)), wscale=0.8,
           tags=tag + ("model",)),
    ]
    if prefix == "k3":  # tf-keras's CPU convolution has no channels_first kernel
        out.append(Fx("k3_convlstm2d_channels_first", [],
                      "functional video (None, 2, 5, 4) channels_first -> ConvLSTM2D(3, (3, 2), padding='same', "
                      "data_format='channels_first', return_sequences=True, recurrent_activation='hard_sigmoid')",
                      api="functional", build=g_convlstm_channels_first, inputs=frames((2, 5, 4)), wscale=0.8,
                      tags=tag + ("channels_first",)))
    return out


# ConvLSTM audit grid, initial_state=, stateful calls and masks (issue 14's ConvLSTM bullet)
GRID_T = 4  # a fixed time axis, so every grid fixture also converts with --strategy unroll


def state_frames(video, *states, cases=((2, GRID_T), (1, GRID_T))):
    """Cases for a model fed a video (batch, T, *video) and state tensors (batch, *state)
    (initial_state= from model inputs): one array per input, in that order."""
    def make(fx, rng):
        return [[rng.standard_normal((b, t, *video)).astype("float32")]
                + [(0.7 * rng.standard_normal((b, *s))).astype("float32") for s in states]
                for b, t in cases]

    return Inputs(make, ("conv_lstm", "multi_input"))


def frame_chunks(frame, sizes=(3, 2, 4), after_reset=(3,), batch=2):
    """Stateful calls on video: one random (batch, sum(sizes), *frame) sequence cut into
    chunks (one case each, in call order), then fresh chunks after reset_states()."""
    def make(fx, rng):
        import numpy as np

        seq = rng.standard_normal((batch, sum(sizes), *frame)).astype("float32")
        cases = [[c] for c in np.split(seq, np.cumsum(sizes)[:-1], axis=1)]
        return cases + [[rng.standard_normal((batch, t, *frame)).astype("float32")] for t in after_reset]

    return Inputs(make, ("conv_lstm", "sequential_calls"))


# (batch 1, T=5) mask patterns, one case each; True = the step is masked
CONV_MASK_CASES = (("none", [0, 0, 0, 0, 0]), ("right", [0, 0, 0, 1, 1]), ("left", [1, 1, 0, 0, 0]),
                   ("holes", [0, 1, 0, 1, 0]), ("all_masked", [1, 1, 1, 1, 1]))


def conv_masked_frames(frame, batch=1):
    """Video cases (batch, 5, *frame) and a validity input (batch, 5, 1): 0 marks a masked step
    (the model derives its mask from it); one case per CONV_MASK_CASES pattern."""
    def make(fx, rng):
        import numpy as np

        cases = []
        for _, pattern in CONV_MASK_CASES:
            x = rng.standard_normal((batch, len(pattern), *frame)).astype("float32")
            valid = np.ones((batch, len(pattern), 1), "float32")
            valid[:, np.array(pattern, bool)] = 0.0
            cases.append([x, valid])
        return cases

    return Inputs(make, ("conv_lstm", "multi_input", "mask") + tuple(f"mask:{n}" for n, _ in CONV_MASK_CASES))


def g_convlstm_grid(prefix, rank, channels_first=False):
    """Two layers of one class side by side on one input, covering between them padding
    valid/same, strides > 1, dilation > 1, use_bias=False, go_backwards, return_state,
    return_sequences, unit_forget_bias=False, the version's default recurrent_activation
    (Keras 2 hard_sigmoid, Keras 3 sigmoid) and an explicit one."""
    shapes = {1: (8, 2), 2: (5, 6, 2), 3: (4, 5, 3, 1)}
    settings = {
        1: (dict(filters=2, kernel_size=3, strides=2, padding="same", go_backwards=True, return_sequences=True,
                 unit_forget_bias=False),
            dict(filters=2, kernel_size=2, padding="valid", dilation_rate=2, return_state=True,
                 activation="relu")),
        2: (dict(filters=3, kernel_size=(3, 2), strides=(1, 2), padding="valid", use_bias=False,
                 return_state=True, go_backwards=True),
            dict(filters=2, kernel_size=3, padding="same", dilation_rate=(2, 1), return_sequences=True,
                 recurrent_activation="hard_sigmoid", unit_forget_bias=False)),
        3: (dict(filters=2, kernel_size=2, strides=(2, 1, 2), padding="same", return_sequences=True,
                 go_backwards=True, use_bias=False),
            dict(filters=2, kernel_size=(3, 2, 2), dilation_rate=(1, 2, 1), padding="valid", return_state=True,
                 recurrent_activation="hard_sigmoid")),
    }
    cls = f"ConvLSTM{rank}D"
    frame = shapes[rank]
    if channels_first:
        frame = (frame[-1], *frame[:-1])

    def build(keras, twin=False):
        """``twin``: the channels_last layers between Permutes, for a channels_first frame
        (tf-keras's CPU convolution has no channels_first kernel; the kernels' layout is
        the same in both data formats, so the twin's weights are the saved layers')."""
        L = keras.layers
        x = keras.Input((GRID_T, *frame), name="frames")
        extra = {"data_format": "channels_first"} if channels_first and not twin else {}
        h = L.Permute((1, *range(3, rank + 3), 2))(x) if twin else x
        first, second = settings[rank]
        outs = [getattr(L, cls)(**first, **extra, **_named(prefix, f"grid-{rank}d-a"))(h),
                getattr(L, cls)(**second, **extra, **_named(prefix, f"grid-{rank}d-b"))(h)]
        if twin:  # every output back to channels_first: sequences (T, *s, f), states (*s, f)
            def back(t):
                if len(t.shape) == rank + 3:
                    return L.Permute((1, rank + 2, *range(2, rank + 2)))(t)
                return L.Permute((rank + 1, *range(1, rank + 1)))(t)
            outs = [[back(t) for t in o] if isinstance(o, (list, tuple)) else back(o) for o in outs]
        return [x], outs
    return build, frame


def channels_first_save(prefix, rank):
    """save_model hook: the real channels_first model, given the channels_last twin's weights."""
    def save_model(keras, fx, model):
        weights = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
        keras.backend.clear_session()
        build, _ = g_convlstm_grid(prefix, rank, channels_first=True)
        ins, outs = build(keras)
        saved = keras.Model(ins[0], flatten(outs))
        for layer in saved.layers:
            if layer.weights:
                layer.set_weights(weights[layer.name])
        return saved
    return save_model


def g_convlstm_init_state(prefix):
    """Encoder ConvLSTM2D's (h, c) -> decoder ConvLSTM2D(initial_state=[h, c]) (a video
    seq2seq), and a ConvLSTM1D whose initial state comes straight from two model inputs."""
    def build(keras):
        L = keras.layers
        context = keras.Input((None, 5, 4, 2), name="context")
        video = keras.Input((None, 5, 4, 1), name="video")
        _, h, c = L.ConvLSTM2D(3, 3, padding="same", return_state=True, **_named(prefix, "encoder"))(context)
        y = L.ConvLSTM2D(3, (3, 2), padding="same", return_sequences=True, **_named(prefix, "decoder"))(
            video, initial_state=[h, c])
        return [context, video], [y]
    return build


def g_convlstm1d_init_state(prefix):
    def build(keras):
        L = keras.layers
        signal = keras.Input((None, 7, 2), name="signal")
        h0 = keras.Input((5, 3), name="h0")
        c0 = keras.Input((5, 3), name="c0")
        y, h, c = L.ConvLSTM1D(3, 3, padding="valid", return_state=True, go_backwards=True,
                               **_named(prefix, "conv1d-from-states"))(signal, initial_state=[h0, c0])
        return [signal, h0, c0], [y, h, c]
    return build


def g_convlstm_mask_arg(prefix):
    """Keras 3: mask = any(valid != 0, -1) (recorded as operations), given to ConvLSTM2D as
    mask=; the sequence carries the mask on to a second ConvLSTM2D (go_backwards,
    zero_output_for_mask) and a third that returns its last output and states."""
    def build(keras):
        from keras import ops

        L = keras.layers
        video = keras.Input((None, 4, 4, 2), name="video")
        valid = keras.Input((None, 1), name="valid")
        mask = ops.any(ops.not_equal(valid, 0.0), axis=-1)
        y = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True)(video, mask=mask)
        z = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, go_backwards=True,
                         zero_output_for_mask=True)(y)
        w = L.ConvLSTM2D(2, 3, padding="valid", return_state=True)(y)
        return [video, valid], [y, z, *w]
    return build


def g_convlstm_td_mask(keras):
    L = keras.layers
    x = keras.Input((None, 32), name="flat-frames")
    frames_ = L.TimeDistributed(L.Reshape((4, 4, 2)))(L.Masking(0.0)(x))
    y = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True)(frames_)
    return [x], [L.ConvLSTM2D(2, 3, padding="valid")(y)]


def conv_td_masked():
    """(5, 5, 32) rows following CONV_MASK_CASES (a masked step is all zeros), then a batch-2 case."""
    def make(fx, rng):
        import numpy as np

        pats = np.array([p for _, p in CONV_MASK_CASES], bool)
        cases = []
        for rows in (pats, pats[[3, 2]]):
            x = rng.standard_normal((len(rows), rows.shape[1], 32)).astype("float32")
            x[rows] = 0.0
            cases.append([x])
        return cases

    return Inputs(make, ("conv_lstm",) + tuple(f"mask:{n}" for n, _ in CONV_MASK_CASES))


def convlstm_extra_set(prefix, fmt):
    tag = ("conv_lstm",)
    out = []
    for rank in (1, 2, 3):
        build, frame = g_convlstm_grid(prefix, rank)
        out.append(Fx(f"{prefix}_convlstm_grid_{rank}d", [],
                      f"functional frames ({GRID_T}, {', '.join(map(str, frame))}) -> two ConvLSTM{rank}D side by "
                      f"side (see g_convlstm_grid: valid/same, strides, dilation, use_bias=False, go_backwards, "
                      f"return_state, unit_forget_bias=False, default and hard_sigmoid recurrent_activation); "
                      f"outputs [a..., b...]", fmt=fmt, api="functional", build=build,
                      inputs=frames(frame, cases=((2, GRID_T), (1, GRID_T))), wscale=0.8, tags=tag + ("grid",)))
    for rank in (1, 3) if prefix == "k3" else (1, 2, 3):
        build, frame = g_convlstm_grid(prefix, rank, channels_first=True)
        k2 = prefix == "k2"
        out.append(Fx(f"{prefix}_convlstm_grid_{rank}d_channels_first", [],
                      f"as {prefix}_convlstm_grid_{rank}d with data_format='channels_first', frames ({GRID_T}, "
                      f"{', '.join(map(str, frame))})"
                      + ("; tf-keras's CPU convolution has no channels_first kernel, so the outputs are those "
                         "of the channels_last twin (the same layers and weights between Permutes to and from "
                         "channels_last) and the saved file is the channels_first model given the twin's "
                         "weights (the kernel layout is the same in both formats; not reloaded and run)"
                         if k2 else ""),
                      fmt=fmt, api="functional", build=(lambda keras, b=build: b(keras, twin=True)) if k2 else build,
                      save_model=channels_first_save(prefix, rank) if k2 else None, reload_check=not k2,
                      inputs=frames(frame, cases=((2, GRID_T), (1, GRID_T))), wscale=0.8,
                      tags=tag + ("grid", "channels_first")))
    out += [
        Fx(f"{prefix}_convlstm_init_state", [],
           "functional context (None, 5, 4, 2) -> ConvLSTM2D(3, 3, same, return_state) -> [_, h, c]; video "
           "(None, 5, 4, 1) -> ConvLSTM2D(3, (3, 2), same, return_sequences)(video, initial_state=[h, c]); "
           "c{k}_in0 = context, c{k}_in1 = video", fmt=fmt, api="functional", build=g_convlstm_init_state(prefix),
           inputs=frames((5, 4, 2), (5, 4, 1)), wscale=0.8, tags=tag + ("initial_state", "multi_input")),
        Fx(f"{prefix}_convlstm1d_init_state", [],
           "functional signal (None, 7, 2), h0 (5, 3), c0 (5, 3) -> ConvLSTM1D(3, 3, valid, return_state, "
           "go_backwards)(signal, initial_state=[h0, c0]) -> [y, h, c]", fmt=fmt, api="functional",
           build=g_convlstm1d_init_state(prefix), inputs=state_frames((7, 2), (5, 3), (5, 3)), wscale=0.8,
           tags=tag + ("initial_state", "return_state")),
        Fx(f"{prefix}_convlstm_stateful",
           [lay("ConvLSTM2D", 2, 3, padding="same", stateful=True, return_sequences=True,
                **_named(prefix, "stateful-a")),
            lay("ConvLSTM2D", 2, (2, 2), stateful=True, return_sequences=True, recurrent_activation="tanh",
                **_named(prefix, "stateful-b"))],
           "Sequential frames (None, 4, 4, 1) -> ConvLSTM2D(2, 3, same, stateful, seq) -> ConvLSTM2D(2, (2, 2), "
           f"valid, stateful, seq, recurrent_activation='tanh'){STATEFUL_DESC}: c0, c1, c2 are chunks T=3, 2, 4 "
           "of one sequence (together equal to one non-stateful pass over the 9 steps, checked), then "
           "reset_states(), then c3 (T=3) from zero states",
           fmt=fmt, input_shape=(None, 4, 4, 1), batch_size=2, inputs=frame_chunks((4, 4, 1)), reset_before=(3,),
           wscale=0.8, tags=tag + ("stateful",)),
    ]
    if prefix == "k3":
        out.append(Fx(
            "k3_convlstm_mask_arg", [],
            "functional video (None, 4, 4, 2), valid (None, 1): mask = keras.ops.any(keras.ops.not_equal(valid, "
            "0.0), axis=-1); ConvLSTM2D(3, 3, same, seq)(video, mask=mask) -> y; ConvLSTM2D(2, 3, same, seq, "
            "go_backwards, zero_output_for_mask)(y) -> z; ConvLSTM2D(2, 3, valid, return_state)(y) -> [w, h, c]; "
            "batch 1 only: Keras 3.15.1's JAX backend cannot mask a ConvLSTM at batch > 1 (its (batch, 1) step "
            "mask does not broadcast against the (batch, *spatial, filters) state: 'Incompatible shapes for "
            "broadcasting'); one case per mask pattern (none, right, left, holes, all masked)",
            api="functional", build=g_convlstm_mask_arg("k3"), inputs=conv_masked_frames((4, 4, 2)), wscale=0.8,
            tags=tag + ("mask_arg",)))
        out.append(convlstm_mask_input_fx("k3", fmt, backend="tensorflow"))
        out.append(Fx(
            "k3_convlstm_td_mask_tf", [],
            "functional flat frames (None, 32) -> Masking(0.0) -> TimeDistributed(Reshape((4, 4, 2))) (Keras 3 "
            "passes the (batch, time) mask through: Reshape computes none) -> ConvLSTM2D(3, 3, same, seq) -> "
            "ConvLSTM2D(2, 3, valid); made by Keras 3.15.1 on its TensorFlow backend (JAX cannot mask a "
            "ConvLSTM at batch > 1); rows: no mask, right, left, holes, all masked (a masked step is all zeros)",
            fmt=fmt, api="functional", build=g_convlstm_td_mask, inputs=conv_td_masked(), wscale=0.8,
            tags=tag + ("mask", "backend:tensorflow"), backend="tensorflow"))
    out.append(convlstm_mask_input_fx(prefix, fmt))
    return out


def conv_mask_input_frames(frame, batch_one=False):
    """Video cases (batch, 5, *frame) and a boolean mask input (batch, 5) (True = keep), rows
    following CONV_MASK_CASES: one case of all five rows (one row per case with
    ``batch_one``: Keras 3's JAX backend masks a ConvLSTM only at batch 1), then a batch-2 case."""
    def make(fx, rng):
        import numpy as np

        keep = ~np.array([p for _, p in CONV_MASK_CASES], bool)
        groups = [keep[k:k + 1] for k in range(len(keep))] if batch_one else [keep, keep[[3, 1]]]
        return [[rng.standard_normal((len(g), g.shape[1], *frame)).astype("float32"), g] for g in groups]

    return Inputs(make, ("conv_lstm", "multi_input", "mask") + tuple(f"mask:{n}" for n, _ in CONV_MASK_CASES))


def g_convlstm_mask_input(prefix):
    """ConvLSTM2D(video, mask=keep) with ``keep`` a boolean model input (batch, time); the
    sequence carries the mask on to a backwards ConvLSTM2D and to one returning its states."""
    def build(keras):
        L = keras.layers
        video = keras.Input((None, 4, 4, 2), name="video")
        keep = keras.Input((None,), dtype="bool", name="keep")
        y = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, zero_output_for_mask=True,
                         **_named(prefix, "masked-convlstm"))(video, mask=keep)
        z = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, go_backwards=True,
                         **_named(prefix, "backwards-convlstm"))(y)
        w = L.ConvLSTM2D(2, 3, padding="valid", return_state=True, **_named(prefix, "last-convlstm"))(y)
        if prefix == "k3":  # a mask with initial_state=: Keras 3's backends disagree (refused)
            return [video, keep], [y, z, *w]
        _, h, c = L.ConvLSTM2D(3, 3, padding="same", return_state=True, **_named(prefix, "state-encoder"))(video)
        v = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, **_named(prefix, "masked-from-state"))(
            video, mask=keep, initial_state=[h, c])
        return [video, keep], [y, z, *w, v]
    return build


def convlstm_mask_input_fx(prefix, fmt, backend=None):
    k3 = prefix == "k3" and backend is None  # Keras 3 on JAX: batch 1
    return Fx(
        f"{prefix}_convlstm_mask_input" + ({"tensorflow": "_tf"}.get(backend, f"_{backend}") if backend else ""), [],
        "functional video (None, 4, 4, 2), keep (None,) bool -> ConvLSTM2D(3, 3, same, seq, "
        "zero_output_for_mask=True)(video, mask=keep) -> y; ConvLSTM2D(2, 3, same, seq, go_backwards)(y) -> z "
        "(the mask propagated); ConvLSTM2D(2, 3, valid, return_state)(y) -> [w, h, c]; rows: no mask, right, "
        "left, holes, all masked; "
        + ("zero_output_for_mask zeroes y's masked steps (Keras 3's RNN.call passes it on); batch 1 per case: "
           "Keras 3.15.1's JAX backend cannot mask a ConvLSTM at batch > 1" if k3 else
           "made by Keras 3.15.1 on its TensorFlow backend (which tiles the mask over the state, so any batch "
           "works): zero_output_for_mask zeroes y's masked steps" if backend else
           "zero_output_for_mask has no effect: tf-keras's ConvRNN.call runs backend.rnn without it, so masked "
           "steps repeat the previous output (checked: y's masked steps equal the step before); "
           "and ConvLSTM2D(3, 3, same, seq)(video, mask=keep, initial_state=[h, c]) -> v with (h, c) from an "
           "unmasked ConvLSTM2D(return_state) of the video: before a row's first unmasked step v is zeros "
           "(tf-keras's loop starts the previous output at zeros, not at the initial state; checked)"),
        fmt=fmt, api="functional", build=g_convlstm_mask_input(prefix),
        inputs=conv_mask_input_frames((4, 4, 2), batch_one=k3), wscale=0.8,
        tags=("conv_lstm", "mask_arg") + ((f"backend:{backend}",) if backend else ()),
        verify=check_k2_conv_mask_carries if prefix == "k2" else None, backend=backend)


def check_k2_conv_mask_carries(keras, fx, path, inputs, results):
    """tf-keras ignores zero_output_for_mask on ConvLSTM: the 'holes' row (3) of case 0
    repeats step 0 at step 1 and step 2 at step 3."""
    import numpy as np

    y = results[0][0]
    assert np.array_equal(y[3, 1], y[3, 0]) and np.array_equal(y[3, 3], y[3, 2]), fx.name
    assert np.abs(y[3, 1]).max() > 0, fx.name
    v = results[0][-1]
    assert not np.any(v[2, :2]) and not np.any(v[4]) and np.abs(v[2, 2]).max() > 0, fx.name


def cudnn_save(cls_name):
    """save_model hook: the real tf-keras CuDNNLSTM / CuDNNGRU twin of the plain model.

    The classes exist in tf-keras 2.21 (tf_keras.src.layers.rnn.cudnn_lstm / cudnn_gru,
    exported only in the v1 API tf_keras.api._v1.keras.layers); they build and save on a
    CPU, only calling them needs a GPU (CudnnRNNV3 has GPU kernels only).  Weights come
    from the plain layer through tf-keras' own converter (the one load_weights uses),
    hdf5_format._convert_rnn_weights: per gate, the input kernel k (in, units) becomes
    k.T.reshape(k.shape, order="F") (cuDNN reads the kernel memory as (units, in)) and the
    recurrent kernel is transposed.  Bias: LSTM (8u) = [b - r, r] for a random r (input and
    recurrent halves, their sum is the plain bias b); GRU (6u) = the plain (2, 3u) bias
    [input; recurrent] flattened.
    """
    def save_model(keras, fx, model):
        import numpy as np
        from tf_keras.api._v1.keras import layers as v1
        from tf_keras.src.saving.legacy.hdf5_format import _convert_rnn_weights

        kernel, recurrent, bias = model.layers[-1].get_weights()
        keras.backend.clear_session()
        units = recurrent.shape[0]
        twin = keras.Sequential([keras.Input(shape=(fx.timesteps, fx.features)),
                                 getattr(v1, cls_name)(units)])
        layer = twin.layers[-1]
        kc, rc, _ = _convert_rnn_weights(layer, [kernel, recurrent, bias])
        if cls_name == "CuDNNLSTM":
            r = np.random.RandomState(seed_of(fx.name) + 3).uniform(-0.5, 0.5, bias.shape)
            bc = np.concatenate([bias - r, r]).astype("float32")
        else:
            bc = bias.reshape(-1)
        layer.set_weights([kc, rc, bc])
        return twin

    return save_model


def cudnn_verify(keras, fx, path, inputs, results):
    """The plain twin loads the CuDNN file's weights (tf-keras converts them) and matches."""
    import numpy as np

    plain, _ = build_model(keras, fx)
    plain.load_weights(path)
    for xs, outs in zip(inputs, results, strict=True):
        for a, b in zip(run_model(plain, xs), outs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=fx.name)
    # Independently of tf-keras: decode the stored weights as documented, run NumPy.
    import h5py

    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["model_config"])
        name = cfg["config"]["layers"][-1]["config"]["name"]
        group = f[f"model_weights/{name}/{name}"]
        k, r, b = (group[w][()].astype("float64") for w in ("kernel:0", "recurrent_kernel:0",
                                                             "bias:0"))
    gates = 4 if "lstm" in fx.name else 3
    units = r.shape[0]
    kernel = np.hstack([g.reshape(units, k.shape[0]).T for g in np.hsplit(k, gates)])
    recurrent = np.hstack([g.T for g in np.hsplit(r, gates)])
    b_in, b_rec = np.split(b, 2)
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    for xs, outs in zip(inputs, results, strict=True):
        x = xs[0].astype("float64")
        h = np.zeros((x.shape[0], units))
        c = np.zeros_like(h)
        for t in range(x.shape[1]):
            xi, hr = x[:, t] @ kernel + b_in, h @ recurrent + b_rec
            if gates == 4:
                i, fg, g, o = np.split(xi + hr, 4, axis=1)
                c = sig(fg) * c + sig(i) * np.tanh(g)
                h = sig(o) * np.tanh(c)
            else:
                z = sig(xi[:, :units] + hr[:, :units])
                rr = sig(xi[:, units:2 * units] + hr[:, units:2 * units])
                h = z * h + (1 - z) * np.tanh(xi[:, 2 * units:] + rr * hr[:, 2 * units:])
        np.testing.assert_allclose(h, outs[0], rtol=1e-5, atol=1e-6, err_msg=fx.name)
    print(f"  {fx.name}: plain {type(plain.layers[-1]).__name__} loading the CuDNN weights and "
          f"a NumPy recurrence on the decoded weights both reproduce the outputs", flush=True)


CUDNN_DESC = (" built with the real tf-keras 2.21 class (tf_keras.api._v1.keras.layers; it builds "
              "and saves on a CPU but cannot run without a GPU) and saved as it writes it; the "
              "outputs are those of the equivalent {plain} model, whose weights went through "
              "tf-keras' own converter (hdf5_format._convert_rnn_weights): per gate the input "
              "kernel is stored as k.T.reshape(k.shape, order='F') and the recurrent kernel "
              "transposed; {bias}.  Input features 2 != units 3, so the per-gate input-kernel "
              "reshape is not a plain transpose.  To read it: plain gate kernel = "
              "stored_gate_kernel.reshape(units, input_dim).T, plain recurrent gate kernel = "
              "stored_gate_recurrent.T.  Checks: the plain model load_weights() of this file "
              "reproduces the outputs (tf-keras converts on load), and so does a NumPy "
              "recurrence with the weights decoded as above.  keras_version attrs stay 2.21.0 "
              "(not rewritten by hand: the real classes exist)")


# --------------------------------------------------------------------------
# Real files as people save them (issue 11): user-chosen names everywhere
# --------------------------------------------------------------------------
# Keras 3's weights file stores a layer at a class-based object path, never under its
# name (layers/lstm, layers/lstm_1, ..., in model.layers order). These graphs give the
# layers names that collide with those paths the wrong way round, so any lookup by name
# reads the wrong layer's weights.
def g_named_chain(keras):
    """Embedding 'word-emb' -> LSTM 'lstm_1' -> Bidirectional(GRU 'encoder') 'bi' -> LSTM
    'lstm' -> Dense 'head-out'. The first LSTM is stored at layers/lstm, the second at
    layers/lstm_1: the reverse of their names."""
    L = keras.layers
    x = keras.Input((None,), dtype="int32", name="token-ids")
    y = L.Embedding(7, 4, name="word-emb")(x)
    y = L.LSTM(5, return_sequences=True, name="lstm_1")(y)
    y = L.Bidirectional(L.GRU(3, return_sequences=True, name="encoder"), name="bi")(y)
    y = L.LSTM(4, name="lstm")(y)
    return [x], L.Dense(2, name="head-out")(y)


def g_named_nested(keras):
    """Two nested models that reuse inner names ('rnn', 'proj'), and an outer 'rnn' too:
    enc = Sequential([LSTM 'rnn', Dense 'proj']), dec = Model(GRU 'rnn' -> Dense 'proj'),
    then SimpleRNN 'rnn'."""
    L = keras.layers
    enc = keras.Sequential([keras.Input((None, 3)), L.LSTM(4, return_sequences=True, name="rnn"),
                            L.Dense(3, name="proj")], name="enc")
    i = keras.Input((None, 3))
    dec = keras.Model(i, L.Dense(2, name="proj")(L.GRU(3, return_sequences=True, name="rnn")(i)),
                      name="dec")
    x = keras.Input((None, 3), name="x")
    return [x], L.SimpleRNN(2, name="rnn")(dec(enc(x)))


def g_named_wrappers(keras):
    """TimeDistributed(Dense 'td-inner') 'per-step' -> RNN([LSTMCell 'cell-a', GRUCell
    'cell-b', LSTMCell 'cell-c']) 'stack' (paths cells/lstm_cell, cells/gru_cell,
    cells/lstm_cell_1) -> RNN(MinimalRNNCell 'mini') 'custom-rnn'."""
    L = keras.layers
    cell = custom_classes(keras)["MinimalRNNCell"]
    x = keras.Input((None, 3), name="frames")
    y = L.TimeDistributed(L.Dense(4, name="td-inner"), name="per-step")(x)
    y = L.RNN([L.LSTMCell(3, name="cell-a"), L.GRUCell(2, name="cell-b"), L.LSTMCell(3, name="cell-c")],
              return_sequences=True, name="stack")(y)
    return [x], L.RNN(cell(2, name="mini"), return_sequences=True, name="custom-rnn")(y)


def g_named_shared(keras):
    """GRU 'gru_1' called on two inputs (stored once), then a GRU named 'gru' over the
    joined sequences: the shared one is layers/gru, the one named 'gru' is layers/gru_1."""
    L = keras.layers
    a = keras.Input((None, 3), name="left")
    b = keras.Input((None, 3), name="right")
    shared = L.GRU(3, return_sequences=True, name="gru_1")
    joined = L.Concatenate(axis=1, name="join")([shared(a), shared(b)])
    return [a, b], L.GRU(2, name="gru")(joined)


NAMED_DESC = (" (user-chosen names; Keras 3 stores weights by class-based object path, "
              "so names and paths disagree on purpose)")


def named_set(prefix, fmt, weights_fmt=None, legacy_fmt=None):
    """The user-named graphs in ``fmt``; the chain also as JSON + weights file and as the
    legacy .h5 when those formats are given."""
    tag = ("named_layers",)
    chain = dict(api="functional", build=g_named_chain,
                 inputs=random_inputs(("i", 7, 0), cases=GRAPH_CASES))
    out = [
        Fx(f"{prefix}_named_chain", [], "functional token-ids (None,) int32 -> Embedding(7, 4) "
           "'word-emb' -> LSTM(5, seq) 'lstm_1' -> Bidirectional(GRU(3, seq) 'encoder') 'bi' -> "
           "LSTM(4) 'lstm' -> Dense(2) 'head-out'" + NAMED_DESC, fmt=fmt, tags=tag, **chain),
        Fx(f"{prefix}_named_nested", [], "functional x (None, 3) -> enc = Sequential([LSTM(4, seq) "
           "'rnn', Dense(3) 'proj'], name='enc') -> dec = Model(GRU(3, seq) 'rnn' -> Dense(2) "
           "'proj', name='dec') -> SimpleRNN(2) 'rnn' (inner names reused)" + NAMED_DESC,
           fmt=fmt, api="functional", build=g_named_nested, cases=GRAPH_CASES,
           tags=tag + ("nested_model",)),
        Fx(f"{prefix}_named_wrappers", [], "functional frames (None, 3) -> TimeDistributed(Dense(4) "
           "'td-inner') 'per-step' -> RNN([LSTMCell(3) 'cell-a', GRUCell(2) 'cell-b', LSTMCell(3) "
           "'cell-c'], seq) 'stack' -> RNN(MinimalRNNCell(2) 'mini', seq) 'custom-rnn'" + NAMED_DESC,
           fmt=fmt, api="functional", build=g_named_wrappers, cases=GRAPH_CASES, wscale=0.8,
           tags=tag + ("time_distributed", "custom_cell", "stacked_cells")),
        Fx(f"{prefix}_named_shared", [], "functional left, right (None, 3): GRU(3, seq) 'gru_1' "
           "called on both -> Concatenate(axis=1) 'join' -> GRU(2) 'gru'; c{k}_in0 = left, "
           "c{k}_in1 = right (one step shorter)" + NAMED_DESC, fmt=fmt, api="functional",
           build=g_named_shared, inputs=random_inputs(("f", 3, 0), ("f", 3, -1), cases=GRAPH_CASES),
           tags=tag + ("shared_layer", "multi_input")),
    ]
    if weights_fmt is not None:
        out.append(Fx(f"{prefix}_named_chain_weights", [], "the named chain (see *_named_chain) as "
                      "model.to_json() + model.save_weights('*.weights.h5') (object-path layout)",
                      fmt=weights_fmt, tags=tag, **chain))
    if legacy_fmt is not None:
        out.append(Fx(f"{prefix}_named_chain_h5", [], "the named chain (see *_named_chain) saved "
                      "with model.save('*.h5'): the legacy HDF5 layout (layer_names / weight_names "
                      "without ':0')", fmt=legacy_fmt, tags=tag, **chain))
    return out


# --------------------------------------------------------------------------
# Weights files matched by order (issue 11): names in the file differ from the config
# --------------------------------------------------------------------------
# tf-keras' model.load_weights(h5) pairs the model's layers that have weights with the
# file's non-empty layer groups BY ORDER (hdf5_format.load_weights_from_hdf5_group); only
# by_name=True matches names. Files published from Keras 2.0-2.2 carry that era's auto
# names (input_1, lstm_1, lstm_2) while a config rebuilt today says lstm, lstm_1: matching
# by name would put the first layer's weights on the second.
def _h5_text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _drop_empty_groups(group):
    """Delete the empty sub-groups (at any depth) that moving datasets left behind."""
    import h5py

    for key in list(group.keys()):
        child = group[key]
        if isinstance(child, h5py.Group):
            _drop_empty_groups(child)
            if not len(child):
                del group[key]


def old_keras_weights(renames, version="2.1.6", backend="theano"):
    """post hook for a JSON + legacy weights fixture: rewrite the weights file (and the JSON's
    version keys) the way an older Keras session would have written them.

    Weights file: layer groups renamed per ``renames`` (``{today's name: old auto name}``,
    group, sub-group and weight names alike), ':0' dropped from every weight name (Theano and
    CNTK variables had none), ``keras_version`` / ``backend`` attributes set. JSON:
    ``keras_version`` / ``backend`` set, ``implementation`` 0 on recurrent layers (Keras 2.0's
    value), and the keys Keras 2.0-2.2 did not write (``reset_after``, ``time_major``,
    ``zero_output_for_mask``) removed; the layers are built with the old defaults
    (hard_sigmoid, reset_after=False) explicitly, so only those defaults give them back."""
    def post(json_path):
        import h5py

        doc = json.loads(Path(json_path).read_text())
        doc["keras_version"], doc["backend"] = version, backend
        for entry in doc["config"]["layers"]:
            cfg = entry["config"]
            if entry["class_name"] in ("LSTM", "GRU", "SimpleRNN"):
                cfg["implementation"] = 0
                for key in ("reset_after", "time_major", "zero_output_for_mask"):
                    cfg.pop(key, None)
        Path(json_path).write_text(json.dumps(doc, indent=1) + "\n")
        weights = str(json_path)[: -len(".json")] + ".weights.h5"
        with h5py.File(weights, "r+") as f:
            names = [_h5_text(n) for n in f.attrs["layer_names"]]
            for name in names:  # two passes: the new names may be old names of others
                f.move(name, f"__tmp__{name}")
            new_names = []
            for name in names:
                new = renames.get(name, name)
                f.move(f"__tmp__{name}", new)
                group = f[new]
                weight_names = []
                for wname in (_h5_text(w) for w in group.attrs["weight_names"]):
                    parts = wname.split("/")
                    parts[0] = renames.get(parts[0], parts[0])
                    # Keras 2.0-2.2 created a recurrent layer's variables in the layer's own
                    # scope (lstm_1/kernel:0), not its cell's (lstm/lstm_cell/kernel:0)
                    parts = [p for p in parts if not p.endswith("_cell")]
                    fixed = "/".join(parts)
                    if fixed.endswith(":0"):
                        fixed = fixed[:-2]
                    if fixed != wname:
                        group.move(wname, fixed)
                    weight_names.append(fixed.encode("utf8"))
                _drop_empty_groups(group)
                group.attrs["weight_names"] = weight_names
                new_names.append(new.encode("utf8"))
            f.attrs["layer_names"] = new_names
            if "top_level_model_weights" in f:  # written since tf-keras 2.5 only
                del f["top_level_model_weights"]
            f.attrs["keras_version"] = version.encode("utf8")
            f.attrs["backend"] = backend.encode("utf8")
    return post


def g_order_chain(keras):
    """Input -> LSTM(4, seq) -> GRU(3, reset_after=False) -> Dense(2), old defaults spelled out."""
    L = keras.layers
    x = keras.Input((None, 3), name="input_1")
    y = L.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid", name="lstm")(x)
    y = L.GRU(3, reset_after=False, recurrent_activation="hard_sigmoid", name="gru")(y)
    return [x], L.Dense(2, name="dense")(y)


def g_order_two_lstms(keras):
    """Input -> LSTM(5, seq) 'lstm' -> LSTM(3) 'lstm_1': their old names were lstm_1, lstm_2."""
    L = keras.layers
    x = keras.Input((None, 2), name="input")
    y = L.LSTM(5, return_sequences=True, recurrent_activation="hard_sigmoid", name="lstm")(x)
    return [x], L.LSTM(3, recurrent_activation="hard_sigmoid", name="lstm_1")(y)


def one_hot_words(vocab, cases=GRAPH_CASES):
    """chars2vec-style inputs: each row a word of one-hot characters, left-padded with zero
    vectors (keras.preprocessing.sequence.pad_sequences' default), lengths 2..T."""
    def make(fx, rng):
        out = []
        for b, t in cases:
            x = np.zeros((b, t, vocab), "float32")
            for row in range(b):
                length = rng.randint(2, t + 1)
                x[row, np.arange(t - length, t), rng.randint(0, vocab, size=length)] = 1.0
            out.append([x])
        return out

    import numpy as np

    return Inputs(make, ("one_hot",))


# Trained recurrent weights shipped inside released packages (the file as published).
CHARS2VEC_ENG50 = Trained(
    "chars2vec", "0.1.7", "chars2vec/trained_models/eng_50/weights.h5", "Apache-2.0",
    "chars2vec's eng_50 word-embedding model, trained by its authors on English word pairs; "
    "chars2vec/model.py builds it as Input((None, 59)) -> LSTM(50, return_sequences=True) -> "
    "LSTM(50) (Keras 2.2 defaults: recurrent_activation hard_sigmoid) and stores "
    "embedding_model.save_weights(): keras_version 2.2.0, layer groups input_1, lstm_1, lstm_2")


def g_chars2vec(keras):
    """chars2vec's embedding model as its model.py builds it, with Keras 2.2's gate default."""
    L = keras.layers
    x = keras.Input((None, 59), name="chars")
    y = L.LSTM(50, return_sequences=True, recurrent_activation="hard_sigmoid", name="lstm")(x)
    return [x], L.LSTM(50, recurrent_activation="hard_sigmoid", name="lstm_1")(y)


TEXTGENRNN_RNN1 = Trained(
    "textgenrnn", "2.0.0", "textgenrnn/textgenrnn_weights.hdf5", "MIT",
    "textgenrnn's pretrained character model (Keras 2.1.5; trained with CuDNNLSTM, so each LSTM's "
    "bias holds separate input and recurrent halves: (1024,) for 128 units, which Keras's loader "
    "converts for a plain LSTM); only its first recurrent layer rnn_1, LSTM(128, return_sequences="
    "True) over the 100-dim character embeddings, is kept: the rnn_1 group byte for byte",
    keep=("rnn_1",))


def textgenrnn_embedded(cases=((2, 6), (1, 9))):
    """Inputs of rnn_1 as the model feeds it: rows of textgenrnn's own trained character
    embedding matrix (embedding/embeddings, 465 x 100) for random character ids."""
    def make(fx, rng):
        import h5py
        import numpy as np

        with h5py.File(trained_file(TEXTGENRNN_RNN1), "r") as f:
            table = np.asarray(f["embedding/embedding/embeddings:0"], dtype="float32")
        return [[table[rng.randint(0, table.shape[0], size=(b, t))]] for b, t in cases]

    return Inputs(make, ("trained_embeddings",))


def g_textgenrnn_rnn1(keras):
    """textgenrnn's rnn_1 as its model.py builds it (sigmoid gates, for parity with CuDNNLSTM)."""
    L = keras.layers
    x = keras.Input((None, 100), name="embedded")
    return [x], L.LSTM(128, return_sequences=True, recurrent_activation="sigmoid", name="rnn_1")(x)


def trained_set():
    return [
        Fx("k2_trained_chars2vec_eng50", [], "model.to_json() (tf-keras) of chars2vec's embedding model "
           "(Input 'chars' (None, 59) -> LSTM(50, seq) 'lstm' -> LSTM(50) 'lstm_1', hard_sigmoid gates) + "
           "the package's own trained weights file, byte for byte (its groups are named lstm_1, lstm_2: "
           "by name they would land on the wrong layers; Keras matches by order); inputs one-hot words "
           "left-padded with zero vectors", fmt="json+weights_h5", api="functional", build=g_chars2vec,
           inputs=one_hot_words(59), trained=CHARS2VEC_ENG50,
           tags=("trained", "weights_by_order", "keras22_defaults")),
        Fx("k2_trained_textgenrnn_rnn1", [], "model.to_json() (tf-keras) of Input 'embedded' (None, 100) -> "
           "LSTM(128, return_sequences=True, sigmoid gates) 'rnn_1' + textgenrnn's trained rnn_1 weights "
           "in their CuDNNLSTM layout (kernel (100, 512), recurrent (128, 512), bias (1024,) = input and "
           "recurrent halves), converted on load as Keras's loader does; inputs are rows of the package's "
           "trained character embeddings", fmt="json+weights_h5", api="functional", build=g_textgenrnn_rnn1,
           inputs=textgenrnn_embedded(), trained=TEXTGENRNN_RNN1, tags=("trained", "cudnn_weights")),
    ]


def order_set():
    tag = ("weights_by_order", "keras22_defaults")
    return [
        Fx("k2_order_auto_names", [], "model.to_json() of Input 'input' -> LSTM(5, seq) 'lstm' -> LSTM(3) "
           "'lstm_1' (recurrent_activation hard_sigmoid, spelled out then removed) + legacy "
           "save_weights post-processed to a Keras 2.1.6 / Theano file: layer groups renamed input_1, "
           "lstm_1, lstm_2 (the file's lstm_1 is the config's lstm), weight names lstm_1/kernel "
           "(no ':0', no cell scope), "
           "implementation 0, no reset_after / time_major keys; load_weights matches by order",
           fmt="json+weights_h5", api="functional", build=g_order_two_lstms, cases=GRAPH_CASES,
           features=2, wscale=3.0, post=old_keras_weights({"input": "input_1", "lstm": "lstm_1",
                                                           "lstm_1": "lstm_2"}),
           tags=tag),
        Fx("k2_order_cntk_chain", [], "model.to_json() of Input 'input_1' -> LSTM(4, seq) 'lstm' -> "
           "GRU(3, reset_after=False) 'gru' -> Dense(2) 'dense' (hard_sigmoid gates) + legacy "
           "save_weights post-processed to a Keras 2.0.8 / CNTK file: groups renamed lstm_3, gru_7, "
           "dense_12 (auto names of a long session), weight names without ':0' or cell scope",
           fmt="json+weights_h5", api="functional", build=g_order_chain, cases=GRAPH_CASES, wscale=3.0,
           post=old_keras_weights({"lstm": "lstm_3", "gru": "gru_7", "dense": "dense_12"},
                                  version="2.0.8", backend="cntk"),
           tags=tag),
    ]


def cudnn_set():
    return [
        Fx("k2_cudnn_lstm", [lay("LSTM", 3)],
           "CuDNNLSTM(3)" + CUDNN_DESC.format(
               plain="LSTM(3) (sigmoid gates, tanh)",
               bias="bias (8u) = [input bias (4u), recurrent bias (4u)], set to [b - r, r] "
                    "for a random r so that both halves matter (their sum is the LSTM bias b)"),
           fmt="h5", features=2, cases=NEW_CASES, save_model=cudnn_save("CuDNNLSTM"),
           verify=cudnn_verify, reload_check=False),
        Fx("k2_cudnn_gru", [lay("GRU", 3, reset_after=True, recurrent_activation="sigmoid")],
           "CuDNNGRU(3)" + CUDNN_DESC.format(
               plain="GRU(3, reset_after=True, recurrent_activation='sigmoid')",
               bias="bias (6u) = [input bias (3u), recurrent bias (3u)] = the GRU (2, 3u) "
                    "bias flattened (gate order z, r, h as in GRU)"),
           fmt="h5", features=2, cases=NEW_CASES, save_model=cudnn_save("CuDNNGRU"),
           verify=cudnn_verify, reload_check=False),
    ]


# --------------------------------------------------------------------------
# Keras 3 fixtures (keras 3.x, JAX backend)
# --------------------------------------------------------------------------
K3_FIXTURES = [
    # SimpleRNN
    Fx("k3_simple_rnn", [lay("SimpleRNN", 5)], "SimpleRNN(5) default tanh, last output"),
    Fx("k3_simple_rnn_relu_seq", [lay("SimpleRNN", 4, activation="relu", return_sequences=True)],
       "SimpleRNN(4) relu, full sequence", features=2),
    *[
        Fx(f"k3_simple_rnn_act_{a}", [lay("SimpleRNN", 3, activation=act)],
           f"SimpleRNN(3) activation={act!r}", features=4,
           wscale=3.0 if a == "hard_sigmoid" else 1.2,
           tags=(("activation:linear",) if act is None else ()))
        for a, act in [("sigmoid", "sigmoid"), ("linear", None), ("elu", "elu"),
                       ("softsign", "softsign"), ("softplus", "softplus"),
                       ("hard_sigmoid", "hard_sigmoid")]
    ],
    Fx("k3_simple_rnn_act_tanh_seq", [lay("SimpleRNN", 3, activation="tanh", return_sequences=True)],
       "SimpleRNN(3) explicit tanh, full sequence", features=4, tags=("activation:tanh",)),
    # GRU
    Fx("k3_gru", [lay("GRU", 4)], "GRU(4) defaults (reset_after=True)"),
    Fx("k3_gru_reset_before_seq", [lay("GRU", 4, reset_after=False, return_sequences=True)],
       "GRU(4) reset_after=False, full sequence"),
    Fx("k3_gru_hs_relu", [lay("GRU", 3, recurrent_activation="hard_sigmoid", activation="relu",
                              return_sequences=True)],
       "GRU(3) hard_sigmoid gates (Keras 3 formula relu6(x+3)/6), relu candidate", wscale=3.0),
    Fx("k3_gru_no_bias", [lay("GRU", 3, use_bias=False)], "GRU(3) use_bias=False", features=2),
    Fx("k3_gru_reset_before_no_bias", [lay("GRU", 3, reset_after=False, use_bias=False)],
       "GRU(3) reset_after=False, use_bias=False", features=2),
    # LSTM
    Fx("k3_lstm", [lay("LSTM", 5)], "LSTM(5) defaults, last output"),
    Fx("k3_lstm_state", [lay("LSTM", 4, return_state=True)],
       "LSTM(4) return_state; outputs [y, h, c]", api="functional"),
    Fx("k3_lstm_back_seq", [lay("LSTM", 4, go_backwards=True, return_sequences=True)],
       "LSTM(4) go_backwards, full sequence (Keras keeps it in reversed time order)"),
    Fx("k3_lstm_back_state", [lay("LSTM", 3, go_backwards=True, return_state=True,
                                  return_sequences=True)],
       "LSTM(3) go_backwards, return_sequences + return_state; outputs [y_seq, h, c]",
       api="functional", features=2),
    Fx("k3_lstm_no_bias", [lay("LSTM", 3, use_bias=False)], "LSTM(3) use_bias=False", features=4),
    Fx("k3_lstm_hs_softsign", [lay("LSTM", 4, recurrent_activation="hard_sigmoid",
                                   activation="softsign", return_sequences=True)],
       "LSTM(4) hard_sigmoid gates (Keras 3 formula), softsign cell/output activation",
       wscale=3.0),
    Fx("k3_lstm_acts", [lay("LSTM", 3, recurrent_activation="sigmoid", activation="elu")],
       "LSTM(3) sigmoid gates, elu activation", tags=("recurrent_activation:sigmoid",)),
    Fx("k3_lstm_relu_softplus", [lay("LSTM", 3, activation="relu", recurrent_activation="softplus")],
       "LSTM(3) relu activation, softplus as gate activation", features=2),
    Fx("k3_lstm_linear", [lay("LSTM", 3, activation=None, recurrent_activation="linear")],
       "LSTM(3) activation=None (linear) and linear gates (small weights: the all-linear "
       "recurrence is polynomial in the inputs and overflows otherwise)", features=2,
       wscale=0.6, tags=("activation:linear",)),
    # Generic RNN with one cell
    Fx("k3_rnn_simple_cell", [lay("RNN", lay("SimpleRNNCell", 4))], "RNN(SimpleRNNCell(4))"),
    Fx("k3_rnn_gru_cell", [lay("RNN", lay("GRUCell", 3, reset_after=False), return_sequences=True)],
       "RNN(GRUCell(3, reset_after=False)), full sequence"),
    Fx("k3_rnn_lstm_cell_state", [lay("RNN", lay("LSTMCell", 3), return_state=True)],
       "RNN(LSTMCell(3)) return_state; outputs [y, h, c]", api="functional"),
    # Stacked cells
    Fx("k3_rnn_stacked_state",
       [lay("RNN", [lay("LSTMCell", 4), lay("GRUCell", 3), lay("SimpleRNNCell", 2)],
            return_state=True, return_sequences=True)],
       "RNN([LSTMCell(4), GRUCell(3), SimpleRNNCell(2)]) return_sequences + return_state; "
       "outputs [y_seq, lstm_h, lstm_c, gru_h, simple_h]",
       api="functional"),
    Fx("k3_rnn_stacked_back",
       [lay("RNN", [lay("GRUCell", 3), lay("LSTMCell", 2)], go_backwards=True,
            return_sequences=True)],
       "RNN([GRUCell(3), LSTMCell(2)]) go_backwards, full sequence", features=2),
    # Stacked layers
    Fx("k3_stacked_layers",
       [lay("LSTM", 4, return_sequences=True),
        lay("GRU", 3, return_sequences=True, go_backwards=True),
        lay("SimpleRNN", 2)],
       "Sequential LSTM(4, seq) -> GRU(3, seq, go_backwards) -> SimpleRNN(2)"),
    # Edge cases
    Fx("k3_edge_t1_b1_u1", [lay("LSTM", 1)], "LSTM(1), fixed T=1, batch 1",
       features=2, timesteps=1, cases=((1, 1),)),
    Fx("k3_edge_gru_u1", [lay("GRU", 1, return_sequences=True)],
       "GRU(1) full sequence; case 1 has T=1 and batch 1", features=2,
       cases=((3, 6), (1, 1))),
    # Training-only arguments
    Fx("k3_lstm_dropout",
       [lay("LSTM", 4, dropout=0.3, recurrent_dropout=0.2, unit_forget_bias=False,
            kernel_initializer="he_normal")],
       "LSTM(4) dropout/recurrent_dropout/unit_forget_bias=False/he_normal: "
       "inference is deterministic, these only matter in training"),
    Fx("k3_gru_unroll", [lay("GRU", 3, unroll=True)], "GRU(3) unroll=True, fixed T=5",
       timesteps=5),
    # Config + weights
    Fx("k3_json_layer_npz", [lay("LSTM", 3, return_sequences=True)],
       "bare LSTM(3, seq) layer config {class_name, config} + np.savez(*layer.get_weights())",
       fmt="json+npz", json_of="layer"),
    Fx("k3_json_model_weights", [lay("GRU", 3)],
       "functional GRU(3) model.to_json() + model.save_weights(.weights.h5)",
       fmt="json+weights_h5", api="functional"),
    # Every activation at once (SimpleRNN -> GRU -> LSTM)
    *activation_grid("k3", K3_ACTIVATIONS, "keras"),
    # Masking and Embedding(mask_zero=True)
    *mask_set("k3", "keras"),
    # unroll=True for each cell type (fixed T=5)
    Fx("k3_unroll_simple_back",
       [lay("SimpleRNN", 3, unroll=True, go_backwards=True, return_sequences=True)],
       "Input(shape=(5, 3)) -> SimpleRNN(3, unroll=True, go_backwards=True, "
       "return_sequences=True)", timesteps=5),
    Fx("k3_unroll_lstm_state", [lay("LSTM", 3, unroll=True, return_state=True)],
       "functional Input(shape=(5, 3)) -> LSTM(3, unroll=True, return_state=True); "
       "outputs [y, h, c]", api="functional", timesteps=5),
    Fx("k3_unroll_stacked",
       [lay("RNN", [lay("GRUCell", 3, reset_after=False), lay("LSTMCell", 2)], unroll=True,
            return_sequences=True)],
       "Input(shape=(5, 3)) -> RNN([GRUCell(3, reset_after=False), LSTMCell(2)], unroll=True, "
       "return_sequences=True)", timesteps=5),
    # Custom cell (registered as kerasrnn2onnx_samples>MinimalRNNCell)
    Fx("k3_custom_minimal_rnn", [lay("RNN", lay("MinimalRNNCell", 4), return_sequences=True)],
       "RNN(MinimalRNNCell(4), return_sequences=True): the Keras docs' custom cell, "
       "h = x @ kernel + h_prev @ recurrent_kernel (no activation, no bias); registered "
       "serializable as 'kerasrnn2onnx_samples>MinimalRNNCell' (code in make_fixtures.py)",
       cases=SMALL_CASES, wscale=0.8, tags=("custom_cell",)),
    # Bidirectional, stateful calls, initial_state, models around recurrent layers
    *bidi_set("k3", "keras"),
    *stateful_set("k3", "keras"),
    *init_state_set("k3", "keras"),
    *k3_mask_arg_set(),
    *model_set("k3", "keras"),
    *layer_sets.conv_sets("k3", "keras", Fx, lay),
    *layer_sets.activation_sets("k3", "keras", Fx, lay),
    *layer_sets.model_sets("k3", "keras", Fx, lay),
    *layer_sets.nested_sets("k3", "keras", Fx, lay),
    *graph_set("k3", "keras"),
    *issue11_graph_set("k3", "keras"),
    *issue11_embedding_set("k3", "keras"),
    *issue11_bidi_set("k3", "keras"),
    *named_set("k3", "keras", weights_fmt="json+weights_h5", legacy_fmt="h5"),
    *attention_set("k3", "keras"),
    *conv_lstm_set("k3", "keras"),
    *convlstm_extra_set("k3", "keras"),
    *issue14_sets.all_sets("k3", "keras", Fx, lay, Inputs),
    *mask_op_sets.mask_op_sets("k3", "keras", Fx, lay, Inputs),
    *td_rnn_sets.td_rnn_sets("k3", "keras", Fx, lay, Inputs),
]

# --------------------------------------------------------------------------
# Keras 2 fixtures (tf-keras 2.x, saved as legacy HDF5)
# --------------------------------------------------------------------------
K2_FIXTURES = [
    Fx("k2_lstm", [lay("LSTM", 4)], "LSTM(4) tf-keras defaults", fmt="h5"),
    Fx("k2_lstm_hard_sigmoid",
       [lay("LSTM", 4, recurrent_activation="hard_sigmoid", return_sequences=True)],
       "LSTM(4) hard_sigmoid gates (Keras 2 formula clip(0.2x+0.5)), full sequence",
       fmt="h5", wscale=3.0),
    Fx("k2_gru_reset_after", [lay("GRU", 3)], "GRU(3) tf-keras defaults (reset_after=True)",
       fmt="h5"),
    Fx("k2_gru_reset_before_hs",
       [lay("GRU", 3, reset_after=False, recurrent_activation="hard_sigmoid",
            return_sequences=True)],
       "GRU(3) reset_after=False, hard_sigmoid gates (Keras 2 formula), full sequence",
       fmt="h5", wscale=3.0),
    Fx("k2_simple_rnn_relu_seq", [lay("SimpleRNN", 4, activation="relu", return_sequences=True)],
       "SimpleRNN(4) relu, full sequence", fmt="h5", features=2),
    Fx("k2_simple_rnn_hs", [lay("SimpleRNN", 3, activation="hard_sigmoid")],
       "SimpleRNN(3) hard_sigmoid activation (Keras 2 formula)", fmt="h5", wscale=3.0),
    Fx("k2_lstm_back_state", [lay("LSTM", 3, go_backwards=True, return_state=True)],
       "LSTM(3) go_backwards + return_state; outputs [y, h, c]", fmt="h5", api="functional"),
    Fx("k2_rnn_stacked_state",
       [lay("RNN", [lay("LSTMCell", 3), lay("GRUCell", 2), lay("SimpleRNNCell", 2)],
            return_state=True)],
       "RNN([LSTMCell(3), GRUCell(2), SimpleRNNCell(2)]) return_state; "
       "outputs [y, lstm_h, lstm_c, gru_h, simple_h]",
       fmt="h5", api="functional"),
    Fx("k2_stacked_layers",
       [lay("GRU", 3, return_sequences=True), lay("LSTM", 2, go_backwards=True)],
       "Sequential GRU(3, seq) -> LSTM(2, go_backwards)", fmt="h5"),
    Fx("k2_no_bias", [lay("LSTM", 3, use_bias=False)], "LSTM(3) use_bias=False", fmt="h5"),
    Fx("k2_sequential_batch_input_shape", [lay("LSTM", 3, input_shape=(None, 2))],
       "Sequential([LSTM(3, input_shape=(None, 2))]) without explicit Input: "
       "batch_input_shape is on the LSTM config (tf-keras also adds an InputLayer entry)",
       fmt="h5", features=2, no_input_layer=True),
    Fx("k2_keras22_defaults",
       [lay("LSTM", 3, recurrent_activation="hard_sigmoid", return_sequences=True),
        lay("GRU", 2, reset_after=False, recurrent_activation="hard_sigmoid")],
       "Keras 2.2.4-style file: post-processed from a tf-keras 2.21 .h5 (Keras 2.2 cannot be "
       "installed here): LSTM(3, seq) -> GRU(2); keras_version attrs (root and model_weights) "
       "set to 2.2.4, recurrent_activation and reset_after keys removed from model_config, so "
       "the old defaults (hard_sigmoid, reset_after=False) must apply",
       fmt="h5", features=2, wscale=3.0, post=keras22_postprocess, reload_check=False,
       tags=("keras22_defaults",)),
    Fx("k2_json_npz", [lay("LSTM", 3, return_sequences=True), lay("SimpleRNN", 2)],
       "Sequential LSTM(3, seq) -> SimpleRNN(2): model.to_json() + np.savez(*model.get_weights())",
       fmt="json+npz"),
    Fx("k2_json_layer_fixed_time",
       [lay("GRU", 3, unroll=True, return_sequences=True, reset_after=False, input_shape=(5, 2), name="gru-enc")],
       "bare GRU(3, unroll=True, seq, reset_after=False, input_shape=(5, 2)) layer config: tf-keras "
       "writes batch_input_shape [None, 5, 2] into get_config(), the only place the fixed time is given",
       fmt="json+npz", json_of="layer", features=2, timesteps=5, no_input_layer=True, wscale=1.5),
    Fx("k2_json_weights_h5", [lay("GRU", 3, return_sequences=True)],
       "Sequential GRU(3, seq): model.to_json() + legacy-HDF5 model.save_weights(save_format='h5') "
       "(layer_names/weight_names attrs; saved under a .h5 name and renamed to .weights.h5, since "
       "tf-keras writes the Keras 3 layout for any *.weights.h5 name)",
       fmt="json+weights_h5"),
    # Every activation tf-keras accepts (SimpleRNN -> GRU -> LSTM)
    *activation_grid("k2", K2_ACTIVATIONS, "h5"),
    # Masking and Embedding(mask_zero=True)
    *mask_set("k2", "h5"),
    Fx("k2_unroll_gru", [lay("GRU", 3, unroll=True, return_sequences=True)],
       "GRU(3, unroll=True, return_sequences=True), fixed T=5", fmt="h5", timesteps=5),
    # Custom cells (registered as kerasrnn2onnx_samples>...)
    Fx("k2_custom_minimal_rnn", [lay("RNN", lay("MinimalRNNCell", 4), return_sequences=True)],
       "RNN(MinimalRNNCell(4), return_sequences=True): the Keras docs' custom cell, "
       "h = x @ kernel + h_prev @ recurrent_kernel (no activation, no bias); registered "
       "serializable as 'kerasrnn2onnx_samples>MinimalRNNCell' (code in make_fixtures.py)",
       fmt="h5", cases=SMALL_CASES, wscale=0.8, tags=("custom_cell",)),
    Fx("k2_custom_attention_constants",
       [lay("RNN", lay("AttentionRNNCell", 3, memory_dim=2), return_sequences=True,
            call_kwargs={"constants": [ref("memory")]})],
       "functional inputs x (None, 3) and memory (4, 2): RNN(AttentionRNNCell(3, "
       "memory_dim=2), return_sequences=True)(x, constants=[memory]); dot-product attention "
       "of h_prev over memory each step (code in make_fixtures.py); c{k}_in0 = x, "
       "c{k}_in1 = memory",
       fmt="h5", api="functional", input_name="x", extra_inputs=(inp("memory", (4, 2)),),
       cases=SMALL_CASES, tags=("custom_cell", "constants", "two_inputs")),
    # Bidirectional, stateful calls, initial_state, models around recurrent layers
    *bidi_set("k2", "h5"),
    *stateful_set("k2", "h5"),
    *init_state_set("k2", "h5"),
    *model_set("k2", "h5"),
    *layer_sets.conv_sets("k2", "h5", Fx, lay),
    *layer_sets.activation_sets("k2", "h5", Fx, lay),
    *layer_sets.model_sets("k2", "h5", Fx, lay),
    *layer_sets.nested_sets("k2", "h5", Fx, lay),
    *graph_set("k2", "h5"),
    *issue11_graph_set("k2", "h5"),
    *issue11_embedding_set("k2", "h5"),
    *issue11_bidi_set("k2", "h5"),
    *issue11_tf_set(),
    *named_set("k2", "h5"),
    *order_set(),
    *trained_set(),
    *named_set("k2_v3", "keras", weights_fmt="json+weights_v3"),
    *attention_set("k2", "h5"),
    *conv_lstm_set("k2", "h5"),
    *convlstm_extra_set("k2", "h5"),
    *issue14_sets.all_sets("k2", "h5", Fx, lay, Inputs),
    *mask_op_sets.mask_op_sets("k2", "h5", Fx, lay, Inputs),
    *td_rnn_sets.td_rnn_sets("k2", "h5", Fx, lay, Inputs),
    # Legacy CuDNNLSTM / CuDNNGRU (Keras 2 only)
    *cudnn_set(),
]

TABLES = {"k3": K3_FIXTURES, "k2": K2_FIXTURES}


# --------------------------------------------------------------------------
# Inside a venv: build, weight, run, save
# --------------------------------------------------------------------------
def import_keras(which):
    if which == "k3":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import warnings

        import tensorflow as tf
        import tf_keras as keras

        tf.get_logger().setLevel("ERROR")
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy.*")
    return keras


def build_spec(keras, spec):
    if isinstance(spec, tuple) and spec and spec[0] == "__layer__":
        _, cls, args, kwargs = spec
        args = [build_spec(keras, a) for a in args]
        kwargs = {k: build_spec(keras, v) for k, v in kwargs.items() if k != "call_kwargs"}
        klass = getattr(keras.layers, cls, None) or custom_classes(keras)[cls]
        return klass(*args, **kwargs)
    if isinstance(spec, list):
        return [build_spec(keras, s) for s in spec]
    return spec


def resolve_refs(value, named):
    """Replace ref("name") markers in call kwargs by the named model inputs."""
    if isinstance(value, tuple) and value and value[0] == "__ref__":
        return named[value[1]]
    if isinstance(value, list):
        return [resolve_refs(v, named) for v in value]
    if isinstance(value, dict):
        return {k: resolve_refs(v, named) for k, v in value.items()}
    return value


def flatten(x):
    """Depth-first flatten of nested lists/tuples."""
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in flatten(item)]
    return [x]


def structure(x):
    """Human-readable nesting of a layer's raw output, e.g. (y, [s, s], s)."""
    if isinstance(x, tuple):
        return "(" + ", ".join(structure(i) for i in x) + ")"
    if isinstance(x, list):
        return "[" + ", ".join(structure(i) for i in x) + "]"
    return "t"


def build_model(keras, fx):
    if fx.build is not None:  # any functional graph
        ins, outs = fx.build(keras)
        nested = isinstance(outs, (list, tuple)) and any(isinstance(i, (list, tuple)) for i in outs)
        model = keras.Model(ins[0] if len(ins) == 1 else ins, flatten(outs))
        return model, (structure(outs) if nested else None)
    layers = [build_spec(keras, s) for s in fx.layers]
    call_kwargs = [s[3].get("call_kwargs", {}) for s in fx.layers]
    if fx.input_shape is not None:
        shape, extra = fx.input_shape, ({"dtype": "int32"} if fx.vocab is not None else {})
    elif fx.vocab is not None:  # integer token ids (batch, T)
        shape, extra = (fx.timesteps,), {"dtype": "int32"}
    else:
        shape, extra = (fx.timesteps, fx.features), {}
    if fx.input_name is not None:
        extra["name"] = fx.input_name
    if fx.batch_size is not None:
        extra["batch_size"] = fx.batch_size
    if fx.api == "sequential":
        assert not fx.extra_inputs and not any(call_kwargs), f"{fx.name}: needs api='functional'"
        if fx.no_input_layer:
            return keras.Sequential(layers), None
        return keras.Sequential([keras.Input(shape=shape, **extra)] + layers), None
    inp = keras.Input(shape=shape, **extra)
    named = {n: keras.Input(shape=s, name=n, dtype=d) for n, s, d in fx.extra_inputs}
    x = inp
    for i, (layer, kw) in enumerate(zip(layers, call_kwargs, strict=True)):
        x = layer(x if i == 0 else flatten(x)[0], **resolve_refs(kw, named))
    nested = isinstance(x, (list, tuple)) and any(isinstance(i, (list, tuple)) for i in x)
    inputs = [inp, *named.values()] if named else inp
    return keras.Model(inputs, flatten(x)), (structure(x) if nested else None)


def seed_of(name):
    return zlib.crc32(name.encode("utf8"))


def set_random_weights(model, fx):
    import numpy as np

    rng = np.random.RandomState(seed_of(fx.name))
    new = []
    for var in model.weights:
        shape = tuple(var.shape)
        vname = getattr(var, "path", None) or var.name
        if not shape:  # a scalar (Attention's scale, concat_score_weight)
            w = rng.uniform(0.5, 1.5, shape)
        elif "bias" in vname.split("/")[-1]:
            w = rng.uniform(-0.5, 0.5, shape) * fx.wscale / 1.2 + fx.bias_shift
        elif "variance" in vname.split("/")[-1]:  # BatchNormalization, Normalization: must be > 0
            w = rng.uniform(0.5, 2.0, shape)
        elif not shape:  # a scalar (Normalization's count)
            w = rng.uniform(1.0, 10.0, shape)
        else:
            w = rng.uniform(-1.0, 1.0, shape) * fx.wscale / np.sqrt(max(shape[0], 1))
            if "recurrent_kernel" in vname.split("/")[-1]:
                w = w * fx.rscale
        new.append(w.astype("float32"))
    model.set_weights(new)


def make_inputs(fx):
    """[[array per model input] per case]."""
    import numpy as np

    rng = np.random.RandomState(seed_of(fx.name) + 1)
    if fx.inputs is not None:
        cases = fx.inputs.make(fx, rng)
    elif fx.input_shape is not None:  # None dims of the shape take the case's T
        cases = []
        for b, t in fx.case_shapes():
            shape = (b, *(t if d is None else d for d in fx.input_shape))
            if fx.vocab is not None:
                cases.append([rng.randint(0, fx.vocab, size=shape).astype("int32")])
            else:
                cases.append([rng.standard_normal(shape).astype("float32")])
    elif fx.vocab is not None:
        cases = [[rng.randint(0, fx.vocab, size=(b, t)).astype("int32")]
                 for b, t in fx.case_shapes()]
    else:
        cases = [[rng.standard_normal((b, t, fx.features)).astype("float32")]
                 for b, t in fx.case_shapes()]
    rng_extra = np.random.RandomState(seed_of(fx.name) + 2)
    for case in cases:
        batch = case[0].shape[0]
        for _, shape, dtype in fx.extra_inputs:
            case.append(rng_extra.standard_normal((batch,) + shape).astype(dtype))
    return cases


def run_model(model, xs):
    import numpy as np

    return [np.asarray(o, dtype="float32") for o in flatten(model(xs[0] if len(xs) == 1 else xs))]


def reset_states(model):
    """tf-keras: Model.reset_states(); Keras 3 (no Model.reset_states): every stateful layer."""
    if hasattr(model, "reset_states"):
        model.reset_states()
        return
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            try:
                layer.reset_states()
            except AttributeError as e:  # K3_STACKED_RESET_ERROR: nested states of stacked cells
                assert str(e) == K3_STACKED_RESET_ERROR.split(": ", 1)[1], e
                import keras

                for v in keras.tree.flatten(layer.states):
                    v.assign(keras.ops.zeros_like(v.value))



def run_cases(keras, model, fx, inputs):
    """Outputs per case; with ``fx.reset_before`` the cases are consecutive calls.

    Stateful models are called eagerly (``model(x)``: in Keras 3 ``predict()`` does not
    write the states back), reset before the first call, before the listed cases and
    after the last one.
    """
    if fx.reset_before is None:
        return [run_model(model, xs) for xs in inputs]
    reset_states(model)
    out = []
    for c, xs in enumerate(inputs):
        if c in fx.reset_before:
            reset_states(model)
        out.append(run_model(model, xs))
    reset_states(model)
    return out


def _stateless(spec):
    """The layer specs with every stateful=True turned off (the twin of a stateful model)."""
    if isinstance(spec, tuple) and spec and spec[0] == "__layer__":
        _, cls, args, kwargs = spec
        kwargs = {k: _stateless(v) for k, v in kwargs.items()}
        if kwargs.get("stateful"):
            kwargs["stateful"] = False
        return ("__layer__", cls, tuple(_stateless(a) for a in args), kwargs)
    if isinstance(spec, list):
        return [_stateless(s) for s in spec]
    return spec


def check_stateful(keras, fx, model, inputs, results):
    """Compare the stateful calls with one non-stateful pass per run of calls between resets.

    Prints the max difference and, where they differ, (call, row, steps) and whether the
    stateful call output zeros there.  Must match unless ``fx.twin_must_match`` is False.
    """
    import dataclasses

    import numpy as np

    twin, _ = build_model(keras, dataclasses.replace(fx, layers=_stateless(fx.layers),
                                                     batch_size=None))
    twin.set_weights(model.get_weights())
    bounds = sorted({0, len(inputs), *fx.reset_before})
    worst, notes = 0.0, []
    for lo, hi in pairwise(bounds):
        xs = [np.concatenate([inputs[c][i] for c in range(lo, hi)], axis=1)
              for i in range(len(inputs[lo]))]
        for j, expected in enumerate(run_model(twin, xs)):
            start = 0
            for c in range(lo, hi):
                got = results[c][j]
                t = got.shape[1]
                diff = np.abs(got - expected[:, start:start + t]).max(axis=-1)  # (batch, t)
                worst = max(worst, float(diff.max()))
                for b in range(diff.shape[0]):
                    steps = [int(i) for i in np.nonzero(diff[b] > 1e-5)[0]]
                    if steps:
                        zero = bool(np.all(got[b, steps] == 0))
                        notes.append(f"call {c} row {b} steps {steps}"
                                     f"{' (stateful output zeros)' if zero else ''}")
                start += t
    print(f"  {fx.name}: stateful calls vs one non-stateful pass per segment "
          f"{[list(range(lo, hi)) for lo, hi in pairwise(bounds)]}: max diff "
          f"{worst:.3g}" + (f"; differ at {notes}" if notes else ""), flush=True)
    if fx.twin_must_match:
        assert worst < 1e-5, f"{fx.name}: stateful calls differ from the non-stateful pass"


def _cells_of(keras, layer):
    cell = layer.cell
    if isinstance(cell, keras.layers.StackedRNNCells):
        return list(cell.cells)
    if isinstance(cell, keras.layers.Layer):
        return [cell]
    return []  # tf-keras CuDNNLSTM / CuDNNGRU: no cell object


def all_layers(keras, model):
    """model.layers, depth-first, with every nested model (a model used as a layer)
    replaced by its own layers; a shared layer appears once."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += all_layers(keras, layer)
        else:
            out.append(layer)
    return out


def rnn_parts(keras, model):
    """[(layer, [cells], is_backward_of_bidirectional)] for every recurrent layer."""
    out = []
    for layer in all_layers(keras, model):
        if isinstance(layer, keras.layers.RNN):
            out.append((layer, _cells_of(keras, layer), False))
        elif isinstance(layer, keras.layers.Bidirectional):
            out.append((layer.forward_layer, _cells_of(keras, layer.forward_layer), False))
            out.append((layer.backward_layer, _cells_of(keras, layer.backward_layer), True))
    return out


def _rnn_name(layer, cells):
    if type(layer).__name__ == "RNN":
        return "RNN(" + ", ".join(type(c).__name__ for c in cells) + ")"
    return type(layer).__name__


def describe_layers(keras, model):
    """The recurrent layers in order (Bidirectional(forward[, backward]) for wrappers)."""
    names = []
    for layer in all_layers(keras, model):
        if isinstance(layer, keras.layers.RNN):
            names.append(_rnn_name(layer, _cells_of(keras, layer)))
        elif isinstance(layer, keras.layers.Bidirectional):
            f, b = (_rnn_name(x, _cells_of(keras, x))
                    for x in (layer.forward_layer, layer.backward_layer))
            names.append(f"Bidirectional({f})" if f == b else f"Bidirectional({f}, {b})")
    return names


def derive_tags(keras, model, fx, shapes):
    tags = []
    parts = rnn_parts(keras, model)
    kinds = {"SimpleRNNCell": "simple_rnn", "GRUCell": "gru", "LSTMCell": "lstm"}
    for layer in all_layers(keras, model):
        if isinstance(layer, keras.layers.Masking):
            tags.append("mask")
        elif isinstance(layer, keras.layers.Embedding):
            tags.append("embedding")
            if layer.mask_zero:
                tags.append("mask")
        elif isinstance(layer, keras.layers.Bidirectional):
            tags += ["bidirectional", f"merge:{str(layer.merge_mode).lower()}"]
        elif isinstance(layer, keras.layers.TimeDistributed):
            tags += ["time_distributed", f"layer:{type(layer.layer).__name__}"]
        elif not isinstance(layer, (keras.layers.RNN, keras.layers.InputLayer)):
            tags.append(f"layer:{type(layer).__name__}")  # Dense, Conv1D, pooling, ...
    for layer, cells, backward in parts:
        if not cells and type(layer).__name__.startswith("CuDNN"):
            kind = type(layer).__name__[5:].lower()
            tags += ["cudnn", kind] + (["reset_after"] if kind == "gru" else [])
        if type(layer).__name__ == "RNN":
            tags.append("rnn_cell")
        if len(cells) > 1:
            tags.append("stacked_cells")
        for cell in cells:
            cfg = cell.get_config()
            if type(cell).__name__ not in kinds:
                tags.append("custom_cell")
                continue
            tags.append(kinds[type(cell).__name__])
            act = cfg.get("activation") or "linear"
            if act != "tanh":
                tags.append(f"activation:{act}")
            ract = cfg.get("recurrent_activation")
            if ract is not None and ract != "sigmoid":
                tags.append(f"recurrent_activation:{ract}")
            if "hard_sigmoid" in (act, ract):
                tags.append("hard_sigmoid")
            if "reset_after" in cfg:
                tags.append("reset_after" if cfg["reset_after"] else "reset_before")
            if not cfg.get("use_bias", True):
                tags.append("no_bias")
            if cfg.get("units") == 1:
                tags.append("units1")
            if cfg.get("dropout") or cfg.get("recurrent_dropout"):
                tags.append("dropout")
        for flag in ("go_backwards", "return_state", "return_sequences", "unroll",
                     "zero_output_for_mask", "stateful"):
            if backward and flag == "go_backwards":
                continue  # a Bidirectional's backward layer always goes backwards
            if getattr(layer, flag, False):
                tags.append(flag)
    top = [lay for lay in all_layers(keras, model)
           if isinstance(lay, (keras.layers.RNN, keras.layers.Bidirectional))]
    if len(top) > 1 and fx.build is None:  # custom graphs say it in Fx.tags
        tags.append("stacked_layers")
    if any(t == 1 for _, t in shapes):
        tags.append("timesteps1")
    if any(b == 1 for b, _ in shapes):
        tags.append("batch1")
    if len({t for _, t in shapes}) > 1 and fx.reset_before is None:
        tags.append("two_lengths")
    if fx.json_of != "layer":
        tags.append(fx.api)
    if fx.inputs is not None:
        tags.extend(fx.inputs.tags)
    tags.extend(fx.tags)
    return list(dict.fromkeys(tags))


def save_fixture(keras, which, fx, model):
    """Write the model file(s); return (model_file, weights_file, keras_major_flag)."""
    import numpy as np

    major = 3 if which == "k3" else 2
    if fx.fmt == "keras":
        fname = fx.name + ".keras"
        model.save(str(FIXTURES / fname))
        return fname, None, None
    if fx.fmt == "h5":
        fname = fx.name + ".h5"
        if which == "k3":  # Keras 3 picks the legacy HDF5 format from the suffix
            model.save(str(FIXTURES / fname))
        else:
            model.save(str(FIXTURES / fname), save_format="h5")
        return fname, None, None
    # JSON config + separate weights
    jname = fx.name + ".json"
    if fx.json_of == "layer":
        layer = model.layers[-1]
        doc = {"class_name": type(layer).__name__, "config": layer.get_config()}
        text = json.dumps(doc, indent=1)
        weights = layer.get_weights()
    else:
        text = model.to_json(indent=1)
        weights = model.get_weights()
    (FIXTURES / jname).write_text(text + "\n")
    flag = None if "keras_version" in json.loads(text) else major
    if fx.fmt == "json+npz":
        wname = fx.name + ".npz"
        np.savez(str(FIXTURES / wname), *weights)
    elif fx.fmt == "json+weights_v3":  # tf-keras: the Keras-3-style object-path layout
        wname = fx.name + ".weights.h5"
        model.save_weights(str(FIXTURES / wname))
    elif fx.fmt == "json+weights_h5" and fx.trained is not None:  # the package's file, verbatim
        wname = fx.name + ".weights.h5"
        shutil.copyfile(trained_weights(fx.trained), FIXTURES / wname)
    elif fx.fmt == "json+weights_h5":
        wname = fx.name + ".weights.h5"
        if which == "k2":
            # tf-keras writes the Keras-3-style layout whenever the name ends in
            # ".weights.h5" (save_format is ignored); save the legacy HDF5 layout
            # (layer_names / weight_names attrs) under a plain .h5 name, then rename.
            tmp = FIXTURES / (fx.name + "_legacy_tmp.h5")
            model.save_weights(str(tmp), save_format="h5")
            os.replace(tmp, FIXTURES / wname)
        else:
            model.save_weights(str(FIXTURES / wname))
    else:
        raise ValueError(fx.fmt)
    return jname, wname, flag


def reload_fixture(keras, which, fx, model_file, weights_file, config_text=None):
    """Load the saved files back with Keras (sanity check of the fixture)."""
    import numpy as np

    mpath = str(FIXTURES / model_file)
    if fx.fmt in ("keras", "h5"):
        # tf-keras' legacy .h5 loader looks nested cells up by class_name ("MinimalRNNCell"),
        # not by registered_name ("kerasrnn2onnx_samples>MinimalRNNCell"): pass them.
        return keras.models.load_model(mpath, compile=False, custom_objects=dict(_CUSTOM) or None)
    text = config_text if config_text is not None else (FIXTURES / model_file).read_text()
    if fx.json_of == "layer":
        doc = json.loads(text)  # no "module" key, so look the class up directly
        layer = getattr(keras.layers, doc["class_name"]).from_config(doc["config"])
        model = keras.Sequential([keras.Input(shape=(fx.timesteps, fx.features)), layer])
    else:
        model = keras.models.model_from_json(text)
    if fx.fmt == "json+npz":
        with np.load(str(FIXTURES / weights_file)) as z:
            model.set_weights([z[f"arr_{i}"] for i in range(len(z.files))])
    elif which == "k2" and fx.fmt == "json+weights_h5":  # legacy layout under a .weights.h5 name
        with tempfile.TemporaryDirectory() as tmp:
            legacy = os.path.join(tmp, "weights.h5")
            shutil.copyfile(FIXTURES / weights_file, legacy)
            model.load_weights(legacy)
    else:
        model.load_weights(str(FIXTURES / weights_file))
    return model


def make_one(keras, which, fx):
    import numpy as np

    keras.backend.clear_session()
    model, nesting = build_model(keras, fx)
    if fx.trained is not None:  # Keras's own load_weights (by order, converting as it does)
        model.load_weights(str(trained_weights(fx.trained)))
    else:
        set_random_weights(model, fx)
    if fx.prepare is not None:
        import numpy as np

        fx.prepare(keras, fx, model, np.random.RandomState(seed_of(fx.name) + 3))
    inputs = make_inputs(fx)
    shapes = [tuple(xs[0].shape[:2]) for xs in inputs]
    io = {}
    results = []
    for c, (xs, outs) in enumerate(zip(inputs, run_cases(keras, model, fx, inputs), strict=True)):
        for i, x in enumerate(xs):
            io[f"c{c}_in{i}"] = x
        assert all(np.isfinite(y).all() for y in outs), f"{fx.name}: non-finite output"
        if fx.max_abs is not None:
            big = max(float(np.abs(y).max()) for y in outs)
            assert big <= fx.max_abs, f"{fx.name}: |output| {big:.3g} > {fx.max_abs}"
        results.append(outs)
        for j, y in enumerate(outs):
            io[f"c{c}_out{j}"] = y
    if fx.reset_before is not None:
        check_stateful(keras, fx, model, inputs, results)
    desc = fx.desc
    if nesting is not None:
        desc += f"; raw Keras output nesting {nesting} (t = tensor), flattened depth-first"
    if fx.save_model is not None:
        model = fx.save_model(keras, fx, model)
    layers = describe_layers(keras, model)
    tags = derive_tags(keras, model, fx, shapes)

    model_file, weights_file, flag = save_fixture(keras, which, fx, model)
    if fx.reload_check:
        again = reload_fixture(keras, which, fx, model_file, weights_file)
        for outs_again, outs in zip(run_cases(keras, again, fx, inputs), results, strict=True):
            for a, b in zip(outs_again, outs, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=fx.name)
    if fx.verify is not None:
        fx.verify(keras, fx, str(FIXTURES / model_file), inputs, results)
    if fx.post is not None:
        config_text = (FIXTURES / model_file).read_text() if fx.fmt.startswith("json") else None
        fx.post(str(FIXTURES / model_file))
        if fx.reload_check and config_text is not None:
            # the rewritten weights file (old names) must still load in Keras, which matches
            # by order, and give the same outputs; with the config as saved (today's Keras
            # would read the removed keys with its own defaults, not Keras 2.2's)
            again = reload_fixture(keras, which, fx, model_file, weights_file, config_text)
            for outs_again, outs in zip(run_cases(keras, again, fx, inputs), results, strict=True):
                for a, b in zip(outs_again, outs, strict=True):
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=fx.name + " after post")
    np.savez(str(FIXTURES / (fx.name + ".io.npz")), **io)

    return {
        "name": fx.name,
        "keras_version": keras.__version__,
        "format": fx.fmt,
        "model_file": model_file,
        "weights_file": weights_file,
        "keras_major_flag": flag,
        "cases": len(inputs),
        "layers": layers,
        "tags": tags,
        "description": desc,
        **({"source": fx.trained.cite()} if fx.trained is not None else {}),
        "_max_abs": max(float(np.abs(y).max()) for outs in results for y in outs),
    }


def selected(which, match=None):
    """The fixtures of TABLES[which] whose name matches the glob ``match`` (all if None)."""
    import fnmatch

    globs = None if match is None else match.split(",")
    return [fx for fx in TABLES[which]
            if globs is None or any(fnmatch.fnmatchcase(fx.name, g) for g in globs)]


def inside(which, report, match=None):
    keras = import_keras(which)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    entries = []
    backend = os.environ.get("KERAS_BACKEND", "jax") if which == "k3" else None
    for fx in selected(which, match):
        if which == "k3" and (fx.backend or "jax") != backend:
            continue  # built by the pass on its own backend
        entry = make_one(keras, which, fx)
        big = entry.pop("_max_abs")
        print(f"  {entry['name']:34s} {entry['format']:16s} max|y|={big:<8.3g} {entry['tags']}",
              flush=True)
        entries.append(entry)
    Path(report).write_text(json.dumps(entries))


# --------------------------------------------------------------------------
# LAYOUT.txt: what is inside each file (needs numpy + h5py, not Keras)
# --------------------------------------------------------------------------
def _attr_text(v, limit=300):
    import numpy as np

    if isinstance(v, bytes):
        v = v.decode("utf8", "replace")
    elif isinstance(v, np.ndarray):
        v = [i.decode("utf8", "replace") if isinstance(i, bytes) else str(i) for i in v.tolist()]
    s = str(v)
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} chars)"


def _h5_listing(f, lines, indent="    "):
    import h5py

    root_attrs = list(f.attrs.keys())
    if root_attrs:
        lines.append(f"{indent}root attrs: {root_attrs}")
        for k in root_attrs:
            lines.append(f"{indent}  @{k} = {_attr_text(f.attrs[k])}")

    def visit(path, obj):
        if isinstance(obj, h5py.Dataset):
            lines.append(f"{indent}{path}  {tuple(obj.shape)} {obj.dtype}")
        else:
            for k in obj.attrs.keys():
                lines.append(f"{indent}{path}/  @{k} = {_attr_text(obj.attrs[k])}")

    f.visititems(visit)


def _custom_cells_listing(config, lines, where, match=lambda node: node.get("class_name") == "RNN",
                          seen=None, fixture=None):
    """The full config entry of every layer that ``match`` picks (default: RNN layers,
    which shows how a custom cell is recorded).  With ``seen`` (a dict), an entry whose
    (class, config keys, nested class names) was already shown for another fixture is only
    referred to, which keeps LAYOUT.txt small (entries of layers called with initial_state
    are always shown)."""
    def walk(node):
        if isinstance(node, dict):
            if match(node):
                yield node
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    def strip(node):  # shared_object_id is a memory address: differs on every run
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "shared_object_id"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    for node in walk(config):
        if seen is not None and not _called_with_initial_state(node) and not _is_shared(node) \
                and not _is_nested_model(node):  # those: always in full
            key = (where, node["class_name"], tuple(sorted(node["config"])),
                   tuple(re.findall(r'"class_name": "(\w+)"', json.dumps(node["config"]))))
            if key in seen:
                lines.append(f"    {where} {node['class_name']} layer entry: same layout as in "
                             f"{seen[key]} (shown in full there)")
                continue
            seen[key] = fixture
        lines.append(f"    {where} {node['class_name']} layer entry (full; shared_object_id keys "
                     f"left out):")
        lines.append(f"      {json.dumps(strip(node))}")


def _called_with_initial_state(node):
    """Keras 3: inbound_nodes[i]["kwargs"]["initial_state"] (keras tensor references);
    tf-keras: the states are further inbound tensors of the same node, after the sequence."""
    if node.get("class_name") not in ("LSTM", "GRU", "SimpleRNN", "RNN"):
        return False
    inbound = node.get("inbound_nodes") or []
    return ("initial_state" in json.dumps(inbound)
            or any(isinstance(n, list) and len(n) > 1 for n in inbound))


def _is_shared(node):
    """A layer entry with several inbound nodes (one layer called more than once)."""
    return isinstance(node.get("inbound_nodes"), list) and len(node["inbound_nodes"]) > 1


def _is_nested_model(node):
    """A model used as a layer: a model entry that has inbound nodes of its own."""
    return node.get("class_name") in ("Sequential", "Functional", "Model") and \
        "inbound_nodes" in node


def _node_refs(obj):
    """The [layer, node_index, tensor_index] references inside one inbound node (Keras 3:
    keras_history of the "__keras_tensor__" entries; tf-keras: [layer, node, tensor, kwargs])."""
    if isinstance(obj, dict):
        if "keras_history" in obj:
            return [list(obj["keras_history"])]
        return [r for v in obj.values() for r in _node_refs(v)]
    if isinstance(obj, list):
        if len(obj) >= 3 and isinstance(obj[0], str) and all(isinstance(i, int) for i in obj[1:3]):
            return [list(obj[:3])]
        return [r for v in obj for r in _node_refs(v)]
    return []


def _graph_listing(config, lines, where, indent="    "):
    """Every layer of a functional config with the references of each inbound node, then
    input_layers / output_layers; nested models are listed the same way, indented."""
    body = config.get("config", config)
    if indent == "    ":
        lines.append(f"{indent}{where} graph (refs are [layer, node_index, tensor_index]; "
                     f"'node k' = the k-th entry of that layer's inbound_nodes):")
    for layer in body.get("layers", []):
        nodes = layer.get("inbound_nodes")
        name = layer.get("name") or layer.get("config", {}).get("name")
        if nodes is None:
            text = "(no inbound_nodes key: Sequential member, in order)"
        elif not nodes:
            text = "(no inbound nodes)"
        else:
            text = "; ".join(f"node {k} <- " + " ".join(json.dumps(r) for r in _node_refs(n))
                             for k, n in enumerate(nodes))
        lines.append(f"{indent}  {name} ({layer.get('class_name')}): {text}")
        if layer.get("class_name") in ("Sequential", "Functional", "Model"):
            lines.append(f"{indent}    its own layers:")
            _graph_listing(layer["config"], lines, where, indent + "    ")
    for key in ("input_layers", "output_layers"):
        if key in body:
            lines.append(f"{indent}  {key}: {json.dumps(body[key])}")


def _listed_entry(tags):
    """Which layer entries LAYOUT.txt shows in full for a fixture with ``tags`` (or None)."""
    if "custom_cell" in tags:
        return lambda node: node.get("class_name") == "RNN"
    graph = ("shared_layer" in tags, "nested_model" in tags)
    classes = set()
    if "bidirectional" in tags:
        classes.add("Bidirectional")
    if "time_distributed" in tags:
        classes.add("TimeDistributed")
    if "cudnn" in tags:
        classes |= {"CuDNNLSTM", "CuDNNGRU"}
    if "stateful" in tags:
        classes |= {"InputLayer", "LSTM", "GRU", "SimpleRNN", "RNN"}
    if not classes and "initial_state" not in tags and not any(graph):
        return None

    def match(node):
        if not isinstance(node.get("config"), dict) or "class_name" not in node:
            return False
        if node["class_name"] in classes:
            return True
        if (graph[0] and _is_shared(node)) or (graph[1] and _is_nested_model(node)):
            return True  # shared layers, models used as layers: always in full
        # initial_state: the layers called with it (see their inbound_nodes)
        return "initial_state" in tags and _called_with_initial_state(node)

    return match


def write_layout():
    import io as _io
    import zipfile

    import h5py
    import numpy as np

    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    seen = {}  # layer entries shown in full (not for custom cells: always in full)
    lines = ["Weight / attribute layout of every fixture file.",
             "Generated by scripts/make_fixtures.py; do not edit.", ""]
    for e in manifest:
        lines.append(f"== {e['name']}  [{e['format']}, Keras {e['keras_version']}] "
                     f"layers={e['layers']}")
        if e.get("source"):
            lines.append(f"  source: {e['source']}")
        for fname in (e["model_file"], e["weights_file"]):
            if fname is None:
                continue
            path = FIXTURES / fname
            lines.append(f"  -- {fname}")
            if fname.endswith(".keras"):
                with zipfile.ZipFile(path) as z:
                    lines.append(f"    zip members: {z.namelist()}")
                    data = z.read("model.weights.h5")
                    config = json.loads(z.read("config.json"))
                with h5py.File(_io.BytesIO(data), "r") as f:
                    lines.append("    model.weights.h5:")
                    _h5_listing(f, lines, "      ")
                if {"shared_layer", "nested_model"} & set(e["tags"]):
                    _graph_listing(config, lines, "config.json")
                if _listed_entry(e["tags"]) is not None:
                    _custom_cells_listing(config, lines, "config.json", _listed_entry(e["tags"]),
                                          None if "custom_cell" in e["tags"] else seen, e["name"])
            elif fname.endswith(".h5"):
                with h5py.File(path, "r") as f:
                    _h5_listing(f, lines)
                    raw = f.attrs.get("model_config")
                if raw is not None and {"shared_layer", "nested_model"} & set(e["tags"]):
                    text = raw.decode("utf8") if isinstance(raw, bytes) else raw
                    _graph_listing(json.loads(text), lines, "model_config")
                if _listed_entry(e["tags"]) is not None and raw is not None:
                    raw = raw.decode("utf8") if isinstance(raw, bytes) else raw
                    _custom_cells_listing(json.loads(raw), lines, "model_config",
                                          _listed_entry(e["tags"]),
                                          None if "custom_cell" in e["tags"] else seen, e["name"])
            elif fname.endswith(".npz"):
                with np.load(path) as z:
                    for k in z.files:
                        lines.append(f"    {k}  {z[k].shape} {z[k].dtype}")
            elif fname.endswith(".json"):
                doc = json.loads(path.read_text())
                lines.append(f"    top-level keys: {list(doc)}")
                lines.append(f"    {_attr_text(json.dumps(doc))}")
        lines.append("")
    (FIXTURES / "LAYOUT.txt").write_text("\n".join(lines))
    print("\n".join(lines))


# --------------------------------------------------------------------------
# Driver (standard library only)
# --------------------------------------------------------------------------
SAMPLE_COPIES = [
    ("k3_lstm_state.keras", "lstm_keras3.keras",
     "Keras 3 functional LSTM(4, return_state=True); outputs [y, h, c]"),
    ("k2_gru_reset_before_hs.h5", "gru_keras2.h5",
     "Keras 2 (tf-keras 2.21) GRU(3, reset_after=False, recurrent_activation='hard_sigmoid', "
     "return_sequences=True), legacy HDF5"),
    ("k3_rnn_stacked_state.keras", "stacked_cells_keras3.keras",
     "Keras 3 RNN([LSTMCell(4), GRUCell(3), SimpleRNNCell(2)], return_sequences=True, "
     "return_state=True)"),
    ("k3_custom_minimal_rnn.keras", "minimal_rnn_cell_keras3.keras",
     "Keras 3 RNN(MinimalRNNCell(4), return_sequences=True) with the Keras docs' custom cell "
     "(h = x @ kernel + h_prev @ recurrent_kernel), registered as "
     "'kerasrnn2onnx_samples>MinimalRNNCell'; loading it in Keras needs that class "
     "(code in `scripts/make_fixtures.py`, section \"Custom cells\")"),
]


def venv_python(p):
    p = Path(p)
    return str(p / "bin" / "python") if p.is_dir() else str(p)


def copy_samples():
    SAMPLES.mkdir(exist_ok=True)
    lines = ["# Sample Keras files", "",
             "Small models with random weights, copied from `tests/fixtures/` by "
             "`scripts/make_fixtures.py` (do not edit by hand):", ""]
    for src, dst, what in SAMPLE_COPIES:
        if (FIXTURES / src).exists():
            shutil.copyfile(FIXTURES / src, SAMPLES / dst)
        lines.append(f"- `{dst}`: {what} (fixture `{src}`).")
    if (SAMPLES / "custom_cells.py").exists():  # hand-written, not generated here
        lines.append("- `custom_cells.py` (hand-written, not generated): kerasrnn2onnx converters "
                     "for the custom cells `MinimalRNNCell` and `AttentionRNNCell`.")
    (SAMPLES / "README.md").write_text("\n".join(lines) + "\n")


def drive(args):
    FIXTURES.mkdir(parents=True, exist_ok=True)
    which_list = [args.only] if args.only else ["k3", "k2"]
    for which in which_list:
        ensure_venv(which, args.venv_k3 if which == "k3" else args.venv_k2)
    venvs = {"k3": venv_python(args.venv_k3), "k2": venv_python(args.venv_k2)}
    manifest_path = FIXTURES / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else []
    new = {}
    for which in which_list:
        # Keras 3 on JAX, then (for fixtures that name another backend) Keras 3 in the k2 venv
        passes = [("jax", venvs["k3"])] if which == "k3" else [(None, venvs["k2"])]
        if which == "k3":
            others = sorted({fx.backend for fx in selected("k3", args.match) if fx.backend})
            if others:
                ensure_venv("k2", args.venv_k2)
            passes += [(b, venvs["k2"]) for b in others]
        new[which] = []
        for backend, python in passes:
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
            if backend is not None:
                env["KERAS_BACKEND"] = backend
            with tempfile.TemporaryDirectory() as tmp:
                report = os.path.join(tmp, "report.json")
                print(f"[{which}{'/' + backend if backend else ''}] building fixtures with {python}", flush=True)
                cmd = [python, os.path.abspath(__file__), "--inside", which, "--report", report]
                if args.match:
                    cmd += ["--match", args.match]
                subprocess.run(cmd, env=env, check=True)
                new[which] += json.loads(Path(report).read_text())
    merged = []
    for which in ("k3", "k2"):
        major = "3" if which == "k3" else "2"
        kept = [e for e in old if e["keras_version"].split(".")[0] == major]
        if which in new and args.match:  # rebuilt some: replace those, keep table order
            by_name = {e["name"]: e for e in kept}
            by_name.update({e["name"]: e for e in new[which]})
            merged += [by_name[fx.name] for fx in TABLES[which] if fx.name in by_name]
        elif which in new:
            merged += new[which]
        else:
            merged += kept
    manifest_path.write_text(json.dumps(merged, indent=1) + "\n")
    copy_samples()
    # The listing needs numpy + h5py only; the Keras 3 venv has both.
    subprocess.run([venvs["k3"], os.path.abspath(__file__), "--inside", "layout"], check=True)
    total = sum(p.stat().st_size for p in FIXTURES.iterdir() if p.is_file())
    print(f"{len(merged)} fixtures, tests/fixtures is {total / 1e6:.2f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["k3", "k2"])
    ap.add_argument("--match", help="only rebuild fixtures whose name matches this glob, or one "
                                    "of several comma-separated globs (the manifest keeps the "
                                    "other entries)")
    ap.add_argument("--venv-k3", default=DEFAULT_VENVS["k3"])
    ap.add_argument("--venv-k2", default=DEFAULT_VENVS["k2"])
    ap.add_argument("--inside", choices=["k3", "k2", "layout"], help=argparse.SUPPRESS)
    ap.add_argument("--report", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside == "layout":
        write_layout()
    elif args.inside:
        inside(args.inside, args.report, args.match)
    else:
        drive(args)


if __name__ == "__main__":
    main()
