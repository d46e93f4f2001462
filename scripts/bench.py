#!/usr/bin/env python3
"""Benchmark converted recurrent layers in onnxruntime CPU, one strategy against another.

Why: the lowering choice matters (native op vs. Scan vs. unrolled steps) and not always in
the obvious direction, so choices are made from measurements, side by side in one process:
the candidates of one row run interleaved, round after round, and the median is reported.
Correctness is checked against the NumPy reference before anything is timed.

    python scripts/bench.py                 # the full grid
    python scripts/bench.py --quick         # one small and one large shape per layer
    python scripts/bench.py --out DIR       # also write DIR/bench.md

Layers are built as Keras configs with random weights (no Keras needed); ``unroll`` is
timed only up to 200 timesteps (its graph has one step per timestep).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from kerasrnn2onnx.reference import run_model  # noqa: E402

SHAPES = [(1, 50, 32, 64), (1, 200, 128, 256), (32, 50, 32, 64), (32, 200, 128, 256), (64, 100, 256, 512)]
QUICK_SHAPES = [(1, 50, 32, 64), (32, 200, 128, 256)]
LAYERS = {
    "SimpleRNN": {},
    "GRU": {"reset_after": True},
    "GRU(reset_after=False)": {"reset_after": False},
    "LSTM": {},
}
GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def make_layer(tmp: Path, name: str, batch: int, steps: int, features: int, units: int, rng) -> Path:
    """A Sequential JSON model + npz weights for one layer, fixed time axis (so unroll can run)."""
    kind = name.split("(")[0]
    config = {"name": "layer", "units": units, **LAYERS[name]}
    if kind != "SimpleRNN":
        config["recurrent_activation"] = "sigmoid"
    g = GATES[kind]
    scale = 1.0 / np.sqrt(units)
    bias_shape = (2, g * units) if (kind == "GRU" and config.get("reset_after")) else (g * units,)
    weights = [rng.uniform(-scale, scale, (features, g * units)), rng.uniform(-scale, scale, (units, g * units)),
               rng.uniform(-0.1, 0.1, bias_shape)]
    model = {"class_name": "Sequential", "config": {"name": "bench", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, steps, features]}},
        {"class_name": kind, "config": config}]}}
    path = tmp / f"{name}-{batch}x{steps}x{features}x{units}.json"
    path.write_text(json.dumps(model))
    np.savez(path.with_suffix(".npz"), *[w.astype(np.float32) for w in weights])
    return path


def session(proto, threads: int):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def time_candidates(candidates: dict, x: np.ndarray, rounds: int, min_seconds: float) -> dict[str, float]:
    """Median seconds per call, candidates interleaved within each round."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for run in candidates.values():  # warm-up
        run(x)
    for _ in range(rounds):
        for name, run in candidates.items():
            reps, start = 0, time.perf_counter()
            while True:
                run(x)
                reps += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            samples[name].append(elapsed / reps)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_row(tmp: Path, name: str, shape, threads: int, rounds: int, min_seconds: float, rng):
    batch, steps, features, units = shape
    path = make_layer(tmp, name, batch, steps, features, units, rng)
    spec = kerasrnn2onnx.load(path, weights=path.with_suffix(".npz"), keras_version=3)
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    expected = run_model(spec, [x], np.float64)[0]
    candidates, nodes = {}, {}
    for strategy in ("native", "scan", "unroll"):
        if strategy == "unroll" and steps > 200:
            continue
        proto = kerasrnn2onnx.convert(spec, strategy=strategy)
        sess = session(proto, threads)
        actual = sess.run(None, {"x": x})[0]
        err = float(np.abs(actual - expected).max())
        if not np.allclose(actual, expected, atol=1e-4, rtol=1e-3):
            raise SystemExit(f"{name} {shape} {strategy}: wrong result (max abs err {err:.2e}); not timing it")
        candidates[strategy] = (lambda s: (lambda a: s.run(None, {"x": a})))(sess)
        nodes[strategy] = len(proto.graph.node)
    return time_candidates(candidates, x, rounds, min_seconds), nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small and one large shape per layer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-seconds", type=float, default=0.05, help="minimum time per sample")
    parser.add_argument("--layers", nargs="*", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--out", help="folder for bench.md")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    lines = [
        f"onnxruntime {ort.__version__} CPU, {args.threads} intra-op threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; medians of {args.rounds} interleaved rounds",
        "",
        "| layer | B×T×I×H | native | scan | unroll | scan / native | unroll / native |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.layers:
            for shape in shapes:
                times, _ = bench_row(Path(tmp), name, shape, args.threads, args.rounds, args.min_seconds, rng)
                ms = {k: f"{v * 1e3:.3f} ms" for k, v in times.items()}
                ratio = {k: f"{times[k] / times['native']:.2f}" for k in times}
                row = (f"| {name} | {'×'.join(map(str, shape))} | {ms['native']} | {ms['scan']} | "
                       f"{ms.get('unroll', '–')} | {ratio['scan']} | {ratio.get('unroll', '–')} |")
                lines.append(row)
                print(row, flush=True)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
