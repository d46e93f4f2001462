#!/usr/bin/env python3
"""Native vs. Scan, 1 vs. 2 intra-op threads, with onnxruntime alone in the process.

Why: the lowering and thread choices of ``auto`` and ``recommended_intra_op_threads`` are
made from these numbers, which need no peer installed; the last columns show what ``auto``
runs at each shape and how far it is from the fastest of the four.

    python scripts/bench_isolated.py            # lowerings x threads per layer and shape
    python scripts/bench_isolated.py --masked   # the cost of a mask, per layer and shape
    python scripts/bench_isolated.py --tune     # also what `kerasrnn2onnx tune` keeps per row
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

# `python scripts/bench_isolated.py` puts scripts/ first on sys.path, so its sibling imports as is
import bench  # the same layers and shapes as the peer benchmark
import numpy as np

import kerasrnn2onnx
from kerasrnn2onnx.lowering import plan_layers
from kerasrnn2onnx.lowering.strategy import BY_BATCH, SCAN_FROM_BATCH


def median_ms(session, x, seconds: float = 0.02) -> float:
    session.run(None, {"x": x})
    start = time.perf_counter()
    session.run(None, {"x": x})
    reps = max(1, int(seconds / max(time.perf_counter() - start, 1e-5)))
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            session.run(None, {"x": x})
        samples.append((time.perf_counter() - start) / reps)
    return statistics.median(samples) * 1e3


def auto_candidate(spec, batch: int) -> str:
    """What ``auto`` runs at this batch: its lowering (the If branch for a GRU switched on
    the batch size) and the thread count the Session applies (2 where none is recommended)."""
    strategy = plan_layers(spec)[0].strategy
    if strategy == BY_BATCH:
        strategy = "scan" if batch >= SCAN_FROM_BATCH else "native"
    props = {p.key: p.value for p in kerasrnn2onnx.convert(spec).metadata_props}
    return f"{strategy} {props.get('recommended_intra_op_threads', '2')}t"


def masked_vs_unmasked(rng) -> None:
    """The cost of a mask (issue goal: at most 1.3x): each layer with and without a Masking
    layer in front, the same weights and inputs (masked rows right-padded to random lengths
    between T/2 and T, as in scripts/bench.py), both as ``auto`` lowers them and the Session
    runs them, interleaved."""
    import dataclasses

    print("\n| layer | B×T×I×H | unmasked | masked | masked / unmasked |")
    print("|---|---|---|---|---|")
    for layer in [entry for entry in bench.LAYERS if not entry.bidirectional and not entry.masked]:
        for shape in bench.SHAPES:
            x, _ = bench.make_input(dataclasses.replace(layer, masked=True), shape, rng)
            sessions = {}
            for masked in (False, True):
                variant = dataclasses.replace(layer, masked=masked)
                with tempfile.TemporaryDirectory() as tmp:
                    path, _ = bench.write_model(Path(tmp), variant, shape, np.random.default_rng(1))
                    spec = kerasrnn2onnx.load(path, weights=path.with_suffix(".npz"), keras_version=3)
                sessions[masked] = kerasrnn2onnx.Session(kerasrnn2onnx.convert(spec)).onnxruntime_session
            samples = {False: [], True: []}
            for _ in range(3):
                for masked, session in sessions.items():
                    samples[masked].append(median_ms(session, x))
            plain, masked = (statistics.median(samples[k]) for k in (False, True))
            print(f"| {layer.label} | {'×'.join(map(str, shape))} | {plain:.3f} | {masked:.3f} | "
                  f"{masked / plain:.2f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    bench.require_peers(["onnxruntime"])  # the one runtime compared here: exit 2 with a message if absent
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    if "--masked" in argv:
        masked_vs_unmasked(rng)
        return
    tune = "--tune" in argv
    print("| layer | B×T×I×H | native 1t | native 2t | scan 1t | scan 2t | auto runs (/ fastest) | fastest |"
          + (" tune picks (/ fastest) |" if tune else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if tune else ""))
    for layer in [entry for entry in bench.LAYERS if not entry.bidirectional and not entry.masked]:
        for shape in bench.SHAPES:
            with tempfile.TemporaryDirectory() as tmp:
                path, _ = bench.write_model(Path(tmp), layer, shape, rng)
                spec = kerasrnn2onnx.load(path, weights=path.with_suffix(".npz"), keras_version=3)
            x = rng.standard_normal(shape[:3]).astype(np.float32)
            times = {}
            for strategy in ("native", "scan"):
                payload = kerasrnn2onnx.convert(spec, strategy=strategy).SerializeToString()
                for threads in (1, 2):
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = threads
                    session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
                    times[f"{strategy} {threads}t"] = median_ms(session, x)
            runs = auto_candidate(spec, shape[0])
            fastest = min(times, key=times.get)
            cells = " | ".join(f"{times[k]:.3f}" for k in ("native 1t", "native 2t", "scan 1t", "scan 2t"))
            tuned = ""
            if tune:  # what `kerasrnn2onnx tune` keeps at this shape, timed like the others
                result = kerasrnn2onnx.tune(spec, batch=shape[0], timesteps=shape[1], threads=[1, 2])
                session = kerasrnn2onnx.Session(result.proto).onnxruntime_session
                chosen = "+".join(sorted(set(result.chosen.lowering.values())))
                tuned = (f" {chosen} {result.chosen.candidate.threads}t "
                         f"({median_ms(session, x) / times[fastest]:.2f}x) |")
            print(f"| {layer.label} | {'×'.join(map(str, shape))} | {cells} | {runs} "
                  f"({times[runs] / times[fastest]:.2f}x) | {fastest} |{tuned}", flush=True)


if __name__ == "__main__":
    main()
