#!/usr/bin/env python3
"""Native vs. Scan, 1 vs. 2 intra-op threads, with onnxruntime alone in the process.

Why: the lowering and thread choices of ``auto`` and ``recommended_intra_op_threads`` are
made from these numbers, which need no peer installed; the last columns show what ``auto``
runs at each shape and how far it is from the fastest of the four.

    python scripts/bench_isolated.py            # lowerings x threads per layer and shape
    python scripts/bench_isolated.py --masked   # the cost of a mask, per layer and shape
    python scripts/bench_isolated.py --tune     # also what `kerasrnn2onnx tune` keeps per row

Every candidate of a row (and ``auto``'s and ``tune``'s pick, matched to the candidate with the
same graph and thread count) is timed in the same interleaved, rotated rounds as ``tune`` times
its own (``kerasrnn2onnx.runtime.timing``), so a ratio compares graphs, not moments.
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


def graph_key(proto) -> str:
    """The graph without its metadata, hashed: ``auto``'s and ``tune``'s picks are matched to
    the candidate timed in the same rounds by what they run, not by their strategy's name."""
    import hashlib

    import onnx

    bare = onnx.ModelProto()
    bare.CopyFrom(proto)
    del bare.metadata_props[:]
    return hashlib.sha1(bare.SerializeToString()).hexdigest()


def candidate_row(spec, layer, shape, x, args, ort) -> tuple[dict[str, float], dict[str, float], str, str]:
    """Every lowering x thread count of one row, plus ``auto`` and ``tune``'s pick where their
    graph and thread count are not already a candidate, timed in the same interleaved rounds.

    Why one loop for all of them: on a shared 2-core machine single calls swing by 30% and runs
    a minute apart by more, so a pick re-timed on its own afterwards compares two moments, not
    two graphs (the 05:56 run put tune's pick at 1.75x the identical graph's own cell). Returns
    the medians, the rounds' spread of each (max / min), and the labels auto and tune map to."""
    from kerasrnn2onnx.runtime.timing import interleaved_rounds, seconds_per_call

    graphs = {}
    strategies = ["native", "scan"] + (["unroll"] if shape[1] <= args.max_unroll else [])
    for strategy in strategies:
        proto = kerasrnn2onnx.convert(spec, strategy=strategy)
        for threads in (1, 2):
            graphs[f"{strategy} {threads}t"] = (proto, threads)
    by_key = {(graph_key(proto), threads): label for label, (proto, threads) in graphs.items()}

    def locate(proto, threads: int, label: str) -> str:
        found = by_key.get((graph_key(proto), threads))
        if found is None:  # not one of the table's graphs: timed as its own entry
            graphs[label], by_key[(graph_key(proto), threads)] = (proto, threads), label
            found = label
        return found

    auto_proto = kerasrnn2onnx.convert(spec)
    # the thread count the Session applies (the model's recommendation); without one
    # onnxruntime's default, one per core: 2 on the machines this table was written for
    props = {p.key: p.value for p in auto_proto.metadata_props}
    auto_threads = int(props.get("recommended_intra_op_threads", 2))
    auto_label = locate(auto_proto, auto_threads, f"auto {auto_threads}t")
    tune_label = ""
    if args.tune:  # what `kerasrnn2onnx tune` keeps at this shape
        result = kerasrnn2onnx.tune(spec, batch=shape[0], timesteps=shape[1], threads=[1, 2])
        lowering = "+".join(sorted(set(result.chosen.lowering.values())))
        tune_label = locate(result.proto, result.chosen.candidate.threads,
                            f"tuned {lowering} {result.chosen.candidate.threads}t")
    runs = {}
    for label, (proto, threads) in graphs.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feeds = {"x": x}
        seconds_per_call(lambda session=session, feeds=feeds: session.run(None, feeds), args.min_seconds)  # warm
        runs[label] = lambda session=session, feeds=feeds: session.run(None, feeds)
    samples = interleaved_rounds(list(runs), args.rounds,
                                 lambda label: seconds_per_call(runs[label], args.min_seconds), pause=0.01)
    medians = {label: statistics.median(taken) * 1e3 for label, taken in samples.items()}
    spread = {label: max(taken) / min(taken) for label, taken in samples.items()}
    return medians, spread, auto_label, tune_label


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masked", action="store_true", help="the cost of a mask, per layer and shape")
    parser.add_argument("--tune", action="store_true", help="also what `kerasrnn2onnx tune` keeps per row")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per row (medians over them)")
    parser.add_argument("--min-seconds", type=float, default=0.1, help="calls per sample fill at least this long")
    parser.add_argument("--max-unroll", type=int, default=50, help="time unroll only up to this many timesteps")
    parser.add_argument("--layer", action="append", help="only this layer's rows (its label; repeatable)")
    parser.add_argument("--shape", action="append", help="only this shape, BxTxIxH (repeatable)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    bench.require_peers(["onnxruntime"])  # the one runtime compared here: exit 2 with a message if absent
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    if args.masked:
        masked_vs_unmasked(rng)
        return
    columns = ["native 1t", "native 2t", "scan 1t", "scan 2t", "unroll 1t", "unroll 2t"]
    print(f"medians of {args.rounds} interleaved rounds, samples of at least {args.min_seconds} s; times in ms; "
          "spread: the fastest cell's slowest round over its fastest")
    print("| layer | B×T×I×H | " + " | ".join(columns) + " | auto runs (/ fastest) | fastest (spread) |"
          + (" tune picks (/ fastest) |" if args.tune else ""))
    print("|---|---|" + "---|" * len(columns) + "---|---|" + ("---|" if args.tune else ""))
    for layer in [entry for entry in bench.LAYERS if not entry.bidirectional and not entry.masked]:
        for shape in bench.SHAPES:
            with tempfile.TemporaryDirectory() as tmp:
                path, _ = bench.write_model(Path(tmp), layer, shape, rng)
                spec = kerasrnn2onnx.load(path, weights=path.with_suffix(".npz"), keras_version=3)
            x = rng.standard_normal(shape[:3]).astype(np.float32)
            if (args.layer and layer.label not in args.layer) or \
                    (args.shape and "x".join(map(str, shape)) not in args.shape):
                continue  # skipped after drawing its weights, so every row's numbers match a full run
            times, spread, runs, tuned = candidate_row(spec, layer, shape, x, args, ort)
            fastest = min(times, key=times.get)
            cells = " | ".join(f"{times[k]:.3f}" if k in times else "–" for k in columns)
            picked = f" {tuned} ({times[tuned] / times[fastest]:.2f}x) |" if args.tune else ""
            print(f"| {layer.label} | {'×'.join(map(str, shape))} | {cells} | {runs} "
                  f"({times[runs] / times[fastest]:.2f}x) | {fastest} ({spread[fastest]:.2f}) |{picked}", flush=True)


if __name__ == "__main__":
    main()
