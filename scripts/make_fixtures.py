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

A venv that does not exist yet is created with pinned Keras packages
(``VENV_PACKAGES``; default location ``.fixture-venvs/``, ignored by git).

Any Python 3 can start it: the driver uses only the standard library and
re-invokes this file inside each environment (``--inside k3`` with
``KERAS_BACKEND=jax``; ``--inside k2`` with ``import tf_keras as keras``).
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
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

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

# Default case shapes (batch, timesteps): two lengths/batches when T is dynamic.
DYNAMIC_CASES = ((3, 6), (2, 9))


# --------------------------------------------------------------------------
# Declarative fixture description
# --------------------------------------------------------------------------
def lay(cls: str, *args, **kwargs):
    """A layer/cell spec: keras.layers.<cls>(*args, **kwargs), built lazily."""
    return ("__layer__", cls, args, kwargs)


@dataclass
class Fx:
    name: str
    layers: list  # lay(...) specs applied in order
    desc: str
    features: int = 3
    timesteps: Optional[int] = None  # None = dynamic time dimension
    api: str = "sequential"  # "sequential" | "functional"
    fmt: str = "keras"  # "keras" | "h5" | "json+npz" | "json+weights_h5"
    json_of: str = "model"  # for json formats: "model" or "layer" (bare layer config)
    cases: Optional[tuple] = None  # ((batch, T), ...); default from timesteps
    tags: tuple = ()  # extra tags on top of the derived ones
    wscale: float = 1.2  # weight magnitude (larger = more saturation)
    post: Optional[Callable] = None  # post-process the saved file: post(path)
    reload_check: bool = True  # reload the saved file and compare outputs
    no_input_layer: bool = False  # Sequential([layer(input_shape=...)]) (k2 only)

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
    Fx("k2_json_weights_h5", [lay("GRU", 3, return_sequences=True)],
       "Sequential GRU(3, seq): model.to_json() + legacy-HDF5 model.save_weights(save_format='h5') "
       "(layer_names/weight_names attrs; saved under a .h5 name and renamed to .weights.h5, since "
       "tf-keras writes the Keras 3 layout for any *.weights.h5 name)",
       fmt="json+weights_h5"),
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
        kwargs = {k: build_spec(keras, v) for k, v in kwargs.items()}
        return getattr(keras.layers, cls)(*args, **kwargs)
    if isinstance(spec, list):
        return [build_spec(keras, s) for s in spec]
    return spec


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
    layers = [build_spec(keras, s) for s in fx.layers]
    shape = (fx.timesteps, fx.features)
    if fx.api == "sequential":
        if fx.no_input_layer:
            return keras.Sequential(layers), None
        return keras.Sequential([keras.Input(shape=shape)] + layers), None
    inp = keras.Input(shape=shape)
    x = inp
    for i, layer in enumerate(layers):
        x = layer(x if i == 0 else flatten(x)[0])
    nested = isinstance(x, (list, tuple)) and any(isinstance(i, (list, tuple)) for i in x)
    return keras.Model(inp, flatten(x)), (structure(x) if nested else None)


def seed_of(name):
    return zlib.crc32(name.encode("utf8"))


def set_random_weights(model, fx):
    import numpy as np

    rng = np.random.RandomState(seed_of(fx.name))
    new = []
    for var in model.weights:
        shape = tuple(var.shape)
        vname = getattr(var, "path", None) or var.name
        if "bias" in vname.split("/")[-1]:
            w = rng.uniform(-0.5, 0.5, shape) * fx.wscale / 1.2
        else:
            w = rng.uniform(-1.0, 1.0, shape) * fx.wscale / np.sqrt(max(shape[0], 1))
        new.append(w.astype("float32"))
    model.set_weights(new)


def make_inputs(fx):
    import numpy as np

    rng = np.random.RandomState(seed_of(fx.name) + 1)
    return [rng.standard_normal((b, t, fx.features)).astype("float32")
            for b, t in fx.case_shapes()]


def run_model(model, x):
    import numpy as np

    return [np.asarray(o, dtype="float32") for o in flatten(model(x))]


def rnn_parts(keras, model):
    """[(layer, [cells])] for every recurrent layer of the model."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN):
            cell = layer.cell
            cells = list(cell.cells) if isinstance(cell, keras.layers.StackedRNNCells) else [cell]
            out.append((layer, cells))
    return out


def describe_layers(keras, model):
    names = []
    for layer, cells in rnn_parts(keras, model):
        if type(layer).__name__ == "RNN":
            names.append("RNN(" + ", ".join(type(c).__name__ for c in cells) + ")")
        else:
            names.append(type(layer).__name__)
    return names


def derive_tags(keras, model, fx, shapes):
    tags = []
    parts = rnn_parts(keras, model)
    kinds = {"SimpleRNNCell": "simple_rnn", "GRUCell": "gru", "LSTMCell": "lstm"}
    for layer, cells in parts:
        if type(layer).__name__ == "RNN":
            tags.append("rnn_cell")
        if len(cells) > 1:
            tags.append("stacked_cells")
        for cell in cells:
            cfg = cell.get_config()
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
        for flag in ("go_backwards", "return_state", "return_sequences", "unroll"):
            if getattr(layer, flag):
                tags.append(flag)
    if len(parts) > 1:
        tags.append("stacked_layers")
    if any(t == 1 for _, t in shapes):
        tags.append("timesteps1")
    if any(b == 1 for b, _ in shapes):
        tags.append("batch1")
    if len({t for _, t in shapes}) > 1:
        tags.append("two_lengths")
    if fx.json_of != "layer":
        tags.append(fx.api)
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


def reload_fixture(keras, which, fx, model_file, weights_file):
    """Load the saved files back with Keras (sanity check of the fixture)."""
    import numpy as np

    mpath = str(FIXTURES / model_file)
    if fx.fmt in ("keras", "h5"):
        return keras.models.load_model(mpath, compile=False)
    text = (FIXTURES / model_file).read_text()
    if fx.json_of == "layer":
        doc = json.loads(text)  # no "module" key, so look the class up directly
        layer = getattr(keras.layers, doc["class_name"]).from_config(doc["config"])
        model = keras.Sequential([keras.Input(shape=(fx.timesteps, fx.features)), layer])
    else:
        model = keras.models.model_from_json(text)
    if fx.fmt == "json+npz":
        with np.load(str(FIXTURES / weights_file)) as z:
            model.set_weights([z[f"arr_{i}"] for i in range(len(z.files))])
    elif which == "k2":  # legacy HDF5 layout under a .weights.h5 name (see save_fixture)
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
    set_random_weights(model, fx)
    shapes = fx.case_shapes()
    inputs = make_inputs(fx)
    io = {}
    results = []
    for c, x in enumerate(inputs):
        io[f"c{c}_in0"] = x
        outs = run_model(model, x)
        assert all(np.isfinite(y).all() for y in outs), f"{fx.name}: non-finite output"
        results.append(outs)
        for j, y in enumerate(outs):
            io[f"c{c}_out{j}"] = y
    desc = fx.desc
    if nesting is not None:
        desc += f"; raw Keras output nesting {nesting} (t = tensor), flattened depth-first"
    layers = describe_layers(keras, model)
    tags = derive_tags(keras, model, fx, shapes)

    model_file, weights_file, flag = save_fixture(keras, which, fx, model)
    if fx.reload_check:
        again = reload_fixture(keras, which, fx, model_file, weights_file)
        for x, outs in zip(inputs, results):
            for a, b in zip(run_model(again, x), outs):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=fx.name)
    if fx.post is not None:
        fx.post(str(FIXTURES / model_file))
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
    }


def inside(which, report):
    keras = import_keras(which)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    entries = []
    for fx in TABLES[which]:
        entry = make_one(keras, which, fx)
        print(f"  {entry['name']:34s} {entry['format']:16s} {entry['tags']}", flush=True)
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


def write_layout():
    import io as _io
    import zipfile

    import h5py
    import numpy as np

    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    lines = ["Weight / attribute layout of every fixture file.",
             "Generated by scripts/make_fixtures.py; do not edit.", ""]
    for e in manifest:
        lines.append(f"== {e['name']}  [{e['format']}, Keras {e['keras_version']}] "
                     f"layers={e['layers']}")
        for fname in (e["model_file"], e["weights_file"]):
            if fname is None:
                continue
            path = FIXTURES / fname
            lines.append(f"  -- {fname}")
            if fname.endswith(".keras"):
                with zipfile.ZipFile(path) as z:
                    lines.append(f"    zip members: {z.namelist()}")
                    data = z.read("model.weights.h5")
                with h5py.File(_io.BytesIO(data), "r") as f:
                    lines.append("    model.weights.h5:")
                    _h5_listing(f, lines, "      ")
            elif fname.endswith(".h5"):
                with h5py.File(path, "r") as f:
                    _h5_listing(f, lines)
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
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        if which == "k3":
            env["KERAS_BACKEND"] = "jax"
        with tempfile.TemporaryDirectory() as tmp:
            report = os.path.join(tmp, "report.json")
            print(f"[{which}] building fixtures with {venvs[which]}", flush=True)
            subprocess.run([venvs[which], os.path.abspath(__file__), "--inside", which,
                            "--report", report], env=env, check=True)
            new[which] = json.loads(Path(report).read_text())
    merged = []
    for which in ("k3", "k2"):
        major = "3" if which == "k3" else "2"
        if which in new:
            merged += new[which]
        else:
            merged += [e for e in old if e["keras_version"].split(".")[0] == major]
    manifest_path.write_text(json.dumps(merged, indent=1) + "\n")
    copy_samples()
    # The listing needs numpy + h5py only; the Keras 3 venv has both.
    subprocess.run([venvs["k3"], os.path.abspath(__file__), "--inside", "layout"], check=True)
    total = sum(p.stat().st_size for p in FIXTURES.iterdir() if p.is_file())
    print(f"{len(merged)} fixtures, tests/fixtures is {total / 1e6:.2f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["k3", "k2"])
    ap.add_argument("--venv-k3", default=DEFAULT_VENVS["k3"])
    ap.add_argument("--venv-k2", default=DEFAULT_VENVS["k2"])
    ap.add_argument("--inside", choices=["k3", "k2", "layout"], help=argparse.SUPPRESS)
    ap.add_argument("--report", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside == "layout":
        write_layout()
    elif args.inside:
        inside(args.inside, args.report)
    else:
        drive(args)


if __name__ == "__main__":
    main()
