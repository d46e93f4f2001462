#!/usr/bin/env python3
"""Build a benchmark row's layer in tf-keras and convert it with TensorFlow's own TFLite
converter, for the LiteRT peer of scripts/bench.py.

Why a separate script: TensorFlow is not a dependency of this project or of its benchmark
environment; it runs here under a Python that has it (``bench.py --litert-tf-python PY``),
reading the row from a JSON file and writing the ``.tflite`` next to it.

    PY scripts/tflite_convert.py ROW.json     # writes the path named in ROW.json's "out"

With ``"stream": true`` the model is one step with its states as inputs and outputs (the
streaming row of scripts/bench_session.py).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def main() -> None:
    row = json.loads(open(sys.argv[1], encoding="utf-8").read())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as keras

    weights = np.load(row["weights"])
    arrays = [weights[f"arr_{i}"] for i in range(len(weights.files))]
    options = dict(row["options"])
    if row["kind"] != "SimpleRNN":
        options["recurrent_activation"] = "sigmoid"
    inputs = keras.Input(shape=(row["steps"], row["features"]), batch_size=row["batch"])
    if row.get("stream"):
        # one streaming step: the states are inputs and outputs, carried by the caller
        states = [keras.Input(shape=(row["units"],), batch_size=row["batch"])
                  for _ in range(2 if row["kind"] == "LSTM" else 1)]
        layer = getattr(keras.layers, row["kind"])(row["units"], return_sequences=True, return_state=True, **options)
        model = keras.Model([inputs, *states], layer(inputs, initial_state=states))
    else:
        x = keras.layers.Masking(0.0)(inputs) if row["masked"] else inputs
        layer = getattr(keras.layers, row["kind"])(row["units"], **options)
        x = keras.layers.Bidirectional(layer)(x) if row["bidirectional"] else layer(x)
        model = keras.Model(inputs, x)
    model.set_weights(arrays)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    payload = converter.convert()
    with open(row["out"], "wb") as handle:
        handle.write(payload)


if __name__ == "__main__":
    main()
