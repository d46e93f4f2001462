#!/usr/bin/env python3
"""``kerasrnn2onnx.convert(model)`` on live models of real Keras 3 and real tf-keras.

The package never imports Keras, so its tests cover the live-model path with stand-ins
(tests/io/test_live_model.py). This script runs the real thing, by hand, never in CI: inside
each fixture venv (see scripts/make_fixtures.py) it builds models with user-chosen layer
names, converts the live objects, runs the ONNX model with onnxruntime and compares it to
Keras's own outputs at the suite's float32 tolerance. The converter and its dependencies
come from the interpreter that starts this script (its site-packages are appended to the
venv's path, after the venv's own packages, so Keras's numpy and protobuf win)::

    .venv/bin/python scripts/check_live_models.py --venv-k3 /work/venvs/k3 --venv-k2 /work/venvs/k2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATOL, RTOL = 1e-5, 1e-4


def _models(keras):
    """(name, model, inputs) triples: a functional model and a Sequential one."""
    import numpy as np

    L = keras.layers
    rng = np.random.RandomState(11)
    tokens = keras.Input((None,), dtype="int32", name="token-ids")
    y = L.Embedding(7, 4, name="word-emb")(tokens)
    y = L.LSTM(5, return_sequences=True, name="lstm_1")(y)
    y = L.Bidirectional(L.GRU(3, return_sequences=True, name="encoder"), name="bi")(y)
    chain = keras.Model(tokens, L.Dense(2, name="head-out")(L.LSTM(4, name="lstm")(y)), name="named-chain")
    stack = keras.Sequential([keras.Input((None, 3)), L.GRU(4, return_sequences=True, name="enc"),
                              L.SimpleRNN(3, name="gru"), L.Dense(2, name="out")], name="stack")
    for model in (chain, stack):
        model.set_weights([rng.uniform(-0.8, 0.8, w.shape).astype("float32") for w in model.get_weights()])
    return [("named_chain", chain, [rng.randint(0, 7, (3, 6)).astype("int32")]),
            ("sequential", stack, [rng.standard_normal((2, 5, 3)).astype("float32")])]


def inside(which: str, site: str) -> int:
    sys.path.append(site)
    sys.path.insert(0, str(ROOT))
    if which == "k3":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
    else:
        import tf_keras as keras
    import numpy as np

    import kerasrnn2onnx

    failed = 0
    for name, model, inputs in _models(keras):
        expected = np.asarray(model(*inputs))
        proto = kerasrnn2onnx.convert(model)
        got = kerasrnn2onnx.Session(proto).run(inputs)[0]
        err = float(np.max(np.abs(got - expected)))
        ok = np.allclose(got, expected, atol=ATOL, rtol=RTOL)
        failed += not ok
        print(f"[{which}] Keras {keras.__version__} live {name}: max |onnx - keras| = {err:.3g} "
              f"{'ok' if ok else 'FAILED'}", flush=True)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv-k3", default=".fixture-venvs/k3")
    parser.add_argument("--venv-k2", default=".fixture-venvs/k2")
    parser.add_argument("--inside", choices=("k3", "k2"))
    parser.add_argument("--site")
    args = parser.parse_args()
    if args.inside:
        return inside(args.inside, args.site)
    site = sysconfig.get_paths()["purelib"]
    status = 0
    for which, venv in (("k3", args.venv_k3), ("k2", args.venv_k2)):
        python = str(Path(venv) / "bin" / "python") if Path(venv).is_dir() else venv
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        status |= subprocess.run([python, __file__, "--inside", which, "--site", site], env=env).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
