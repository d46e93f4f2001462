#!/usr/bin/env python3
"""Per-call overhead of kerasrnn2onnx.Session against a bare onnxruntime InferenceSession.run.

Why: streaming inference calls the model once per step (batch 1, timesteps 1); the Session
must add little over what onnxruntime itself costs. Both run the same converted stateful
LSTM, interleaved, in one process; medians of many calls.

    python scripts/bench_session.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402

import kerasrnn2onnx  # noqa: E402


def stateful_lstm(tmp: Path, units: int = 64, features: int = 32) -> Path:
    rng = np.random.default_rng(0)
    layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [1, None, features]}},
              {"class_name": "LSTM", "config": {"name": "lstm", "units": units, "stateful": True,
                                                "return_sequences": True}}]
    path = tmp / "lstm.json"
    path.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}}))
    weights = [rng.uniform(-0.1, 0.1, s).astype(np.float32) for s in [(features, 4 * units), (units, 4 * units),
                                                                       (4 * units,)]]
    np.savez(tmp / "lstm.npz", *weights)
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = stateful_lstm(Path(tmp))
        proto = kerasrnn2onnx.convert(path, weights=path.with_suffix(".npz"), keras_version=3)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    bare = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    session = kerasrnn2onnx.Session(proto, intra_op_threads=1)
    x = np.random.default_rng(1).standard_normal((1, 1, 32)).astype(np.float32)
    feeds = {"x": x, "lstm/state_h_in": np.zeros((1, 64), np.float32), "lstm/state_c_in": np.zeros((1, 64), np.float32)}
    names = [o.name for o in bare.get_outputs()]

    def run_bare():
        out = bare.run(names, feeds)
        feeds["lstm/state_h_in"], feeds["lstm/state_c_in"] = out[1], out[2]

    def run_session():
        session.run([x])

    samples = {"bare InferenceSession.run (states fed by hand)": [], "kerasrnn2onnx.Session.run": []}
    runners = dict(zip(samples, (run_bare, run_session), strict=True))
    for _ in range(200):
        run_bare(), run_session()
    for _ in range(15):
        for name, run in runners.items():
            start = time.perf_counter()
            for _ in range(500):
                run()
            samples[name].append((time.perf_counter() - start) / 500)
    medians = {name: statistics.median(v) for name, v in samples.items()}
    for name, value in medians.items():
        print(f"{name}: {value * 1e6:.1f} us per call")
    bare_t, sess_t = medians.values()
    print(f"Session overhead: {(sess_t - bare_t) * 1e6:.1f} us per call ({sess_t / bare_t:.2f}x), "
          f"stateful LSTM(64) on 32 features, batch 1, 1 timestep, 1 thread, onnxruntime {ort.__version__}")


if __name__ == "__main__":
    main()
