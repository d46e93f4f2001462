#!/usr/bin/env python3
"""Benchmark converted recurrent layers against their peers and the hardware floor.

Why: converted models exist to be served fast, and the best lowering depends on layer type
and shape (native ONNX op vs. Scan vs. unrolled steps), so choices are made from
measurements. Candidates are interleaved round after round and medians are reported; each
candidate is checked against the NumPy reference before it is timed.

Each runtime (onnxruntime, PyTorch, Keras-JAX) lives in its own worker process, driven in
turn by this one: on a 2-core machine, XLA's and OpenMP's thread pools sharing a process with
onnxruntime slowed onnxruntime's GRU rows 2-3x at random (see README, "Performance").
``--one-process`` runs them all in this process instead, to reproduce that.

Candidates: the converted layer in onnxruntime CPU under each applicable strategy, and
``auto`` as the Session runs it (with the model's ``recommended_intra_op_threads``); PyTorch
``nn.RNN/GRU/LSTM`` with the same weights (``torch.inference_mode``, best of 1 and
``--threads`` threads) and Keras 3 on JAX (jitted stateless call) when installed
(``pip install ".[bench]"``; a missing peer is reported as missing). The floor is the
layer's GEMM FLOPs over this machine's measured float32 GEMM rate.

OpenVINO runs ``auto``'s ONNX (a column to tell users which runtime serves their model
fastest, not a peer). ``auto GFLOP/s (of GEMM)`` is the layer's GEMM FLOPs over ``auto``'s
time, and that as a share of the measured GEMM rate: how close to the limit it runs.

A peer asked for (not left out with ``--no-...``) that is not installed stops the run
before anything is timed (exit 2): no ratio is printed against an absent peer.

The ratio column is ``auto`` over the fastest peer, paired within each round (both timed
back to back), as the median over rounds with the rounds' range; the last line printed,
``worst ratio to best peer: X``, is the largest of those medians over the rows.

    python scripts/bench.py --quick                  # one small and one large shape per layer (< 3 min)
    python scripts/bench.py --out bench-out          # the full grid; bench-out/bench.md and bench.png
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("kerasrnn2onnx") is None:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

import kerasrnn2onnx  # noqa: E402
from kerasrnn2onnx.lowering import plan_layers  # noqa: E402
from kerasrnn2onnx.reference import run_model  # noqa: E402
from kerasrnn2onnx.runtime.timing import interleaved_rounds, seconds_per_call  # noqa: E402

SHAPES = [(1, 50, 32, 64), (1, 200, 128, 256), (32, 50, 32, 64), (32, 200, 128, 256), (64, 100, 256, 512)]
QUICK_SHAPES = [(1, 50, 32, 64), (32, 200, 128, 256)]
GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


@dataclass(frozen=True)
class Layer:
    """One benchmark row's layer: its Keras class, options, and how the peers build it."""

    label: str
    kind: str
    options: dict
    bidirectional: bool = False
    masked: bool = False


LAYERS = [
    Layer("SimpleRNN", "SimpleRNN", {}),
    Layer("GRU", "GRU", {"reset_after": True}),
    Layer("GRU(reset_after=False)", "GRU", {"reset_after": False}),
    Layer("LSTM", "LSTM", {}),
    Layer("Bidirectional(LSTM)", "LSTM", {}, bidirectional=True),
    Layer("masked LSTM", "LSTM", {}, masked=True),
]


# ---- the layer as a Keras file, its weights, its inputs ----------------------------------
def cell_weights(kind: str, features: int, units: int, options: dict, rng) -> list[np.ndarray]:
    g = GATES[kind]
    scale = 1.0 / np.sqrt(units)
    bias_shape = (2, g * units) if (kind == "GRU" and options.get("reset_after", True)) else (g * units,)
    return [rng.uniform(-scale, scale, (features, g * units)).astype(np.float32),
            rng.uniform(-scale, scale, (units, g * units)).astype(np.float32),
            rng.uniform(-0.1, 0.1, bias_shape).astype(np.float32)]


def write_model(tmp: Path, layer: Layer, shape, rng) -> tuple[Path, list[np.ndarray]]:
    batch, steps, features, units = shape
    config = {"name": "rnn", "units": units, **layer.options}
    if layer.kind != "SimpleRNN":
        config["recurrent_activation"] = "sigmoid"
    inner = {"class_name": layer.kind, "config": config}
    layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, steps, features]}}]
    if layer.masked:
        layers.append({"class_name": "Masking", "config": {"name": "masking", "mask_value": 0.0}})
    layers.append({"class_name": "Bidirectional", "config": {"name": "bidi", "layer": inner}} if layer.bidirectional
                  else inner)
    weights = cell_weights(layer.kind, features, units, layer.options, rng)
    if layer.bidirectional:
        weights += cell_weights(layer.kind, features, units, layer.options, rng)
    path = tmp / f"{layer.label}-{'x'.join(map(str, shape))}.json".replace("(", "_").replace(")", "_").replace("=", "")
    path.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "bench", "layers": layers}}))
    np.savez(path.with_suffix(".npz"), *weights)
    return path, weights


def make_input(layer: Layer, shape, rng) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and per-row lengths (masked rows are right-padded with zero steps)."""
    batch, steps, features, _ = shape
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    lengths = np.full(batch, steps)
    if layer.masked:
        lengths = rng.integers(steps // 2, steps + 1, size=batch)
        for row, length in enumerate(lengths):
            x[row, length:] = 0.0
    return x, lengths


# ---- what one runtime needs to build its candidates for a row --------------------------------
@dataclass(frozen=True)
class RowJob:
    """One row's layer, weights and input, and (for onnxruntime) the converted models."""

    layer: Layer
    shape: tuple
    weights: list
    x: np.ndarray
    lengths: np.ndarray
    models: dict  # candidate name -> (serialized ONNX, intra-op threads)
    threads: int
    auto_key: str = "ours:auto"  # the candidate that times auto
    tflite_python: str | None = None  # a Python with TensorFlow, for the LiteRT peer's conversion
    openvino_model: bytes = b""  # the same model converted with --target openvino


def onnxruntime_candidates(job: RowJob) -> tuple[dict[str, Callable], dict[str, str]]:
    return {name: onnx_candidate(payload, threads, job.x) for name, (payload, threads) in job.models.items()}, {}


def pytorch_candidates(job: RowJob) -> tuple[dict[str, Callable], dict[str, str]]:
    runs = {}
    for threads in sorted({1, job.threads}):
        run, why = torch_peer(job.layer, job.weights, job.x, job.lengths, threads)
        if run is None:
            return {}, {"PyTorch": why}
        runs[f"PyTorch {threads}t"] = run
    return runs, {}


def keras_candidates(job: RowJob) -> tuple[dict[str, Callable], dict[str, str]]:
    run, why = keras_peer(job.layer, job.shape, job.weights, job.x)
    return ({"Keras-JAX": run}, {}) if run is not None else ({}, {"Keras-JAX": why})


def openvino_candidates(job: RowJob) -> tuple[dict[str, Callable], dict[str, str]]:
    """This project's ONNX for ``--target openvino`` run by OpenVINO's CPU plugin (a column,
    not a peer: it tells a user which runtime serves the converted model fastest). Not the
    cpu target's graph: OpenVINO computes its masked native lowering (sequence_lens) wrong,
    which is what the openvino target exists for (docs/runtimes.md)."""
    run, why = openvino_run(job.openvino_model, job.threads, job.x)
    return ({"OpenVINO": run}, {}) if run is not None else ({}, {"OpenVINO": why})


def litert_candidates(job: RowJob) -> tuple[dict[str, Callable], dict[str, str]]:
    run, why = litert_peer(job)
    return ({"LiteRT": run}, {}) if run is not None else ({}, {"LiteRT": why})


RUNTIMES = {"onnxruntime": onnxruntime_candidates, "PyTorch": pytorch_candidates, "Keras-JAX": keras_candidates,
            "OpenVINO": openvino_candidates, "LiteRT": litert_candidates}
PEERS = ("PyTorch", "Keras-JAX", "LiteRT")  # the runtimes auto's ratio is taken against


UNAVAILABLE = "unavailable:"  # a peer that cannot run at all (vs. one that does not apply to a row)


def openvino_run(payload: bytes, threads: int, x: np.ndarray):
    try:
        import openvino as ov
    except ImportError:
        return None, f"{UNAVAILABLE} OpenVINO not installed"
    core = ov.Core()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(payload)
            compiled = core.compile_model(core.read_model(str(path)), "CPU",
                                          {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                           "INFERENCE_PRECISION_HINT": "f32"})
    except Exception as error:  # an op or attribute OpenVINO's ONNX frontend lacks: that row has no column
        return None, f"OpenVINO cannot run it ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
    request = compiled.create_infer_request()
    output = compiled.output(0)

    def run():
        return np.asarray(request.infer([x])[output])

    return run, None


def litert_peer(job: RowJob):
    """The layer converted by TensorFlow's own TFLite converter (scripts/tflite_convert.py,
    run under ``--litert-tf-python``) and run by LiteRT's interpreter; batch-1 rows only
    (LiteRT is an on-device runtime: one stream at a time)."""
    import subprocess

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None, f"{UNAVAILABLE} ai-edge-litert not installed"
    if job.shape[0] != 1:
        return None, "LiteRT peer at batch 1 only"
    if job.tflite_python is None:
        return None, f"{UNAVAILABLE} LiteRT needs --litert-tf-python"
    batch, steps, features, units = job.shape
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "w.npz", *job.weights)
        row = {"kind": job.layer.kind, "options": job.layer.options, "batch": batch, "steps": steps,
               "features": features, "units": units, "masked": job.layer.masked,
               "bidirectional": job.layer.bidirectional, "weights": str(Path(tmp) / "w.npz"),
               "out": str(Path(tmp) / "m.tflite")}
        (Path(tmp) / "row.json").write_text(json.dumps(row))
        done = subprocess.run([job.tflite_python, str(ROOT / "scripts" / "tflite_convert.py"),
                               str(Path(tmp) / "row.json")], capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1][:100]
            return None, f"TFLite converter failed ({last})"
        payload = (Path(tmp) / "m.tflite").read_bytes()
    interpreter = Interpreter(model_content=payload, num_threads=job.threads)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    x = job.x

    def run():
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return interpreter.get_tensor(target)

    return run, None


# ---- peers ----------------------------------------------------------------------------------
def torch_peer(layer: Layer, weights, x, lengths, threads: int):
    """PyTorch's module with the same weights; the returned call sets its own thread count,
    because the 1- and N-thread candidates share one process."""
    try:
        import torch
    except ImportError:
        return None, f"{UNAVAILABLE} PyTorch not installed"
    if layer.kind == "GRU" and not layer.options.get("reset_after", True):
        return None, "PyTorch has no reset_after=False GRU"
    units = weights[1].shape[0]
    cls = {"SimpleRNN": torch.nn.RNN, "GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}[layer.kind]
    module = cls(x.shape[2], units, batch_first=True, bidirectional=layer.bidirectional).eval()

    def load(kernel, recurrent, bias, suffix):
        if layer.kind == "GRU":  # Keras z,r,h -> PyTorch r,z,n
            order = lambda m: np.concatenate([m[..., units:2 * units], m[..., :units], m[..., 2 * units:]], -1)  # noqa
            kernel, recurrent = order(kernel), order(recurrent)
            b_ih, b_hh = order(bias[0]), order(bias[1])
        else:  # LSTM i,f,c,o = PyTorch i,f,g,o; SimpleRNN one gate
            b_ih, b_hh = bias, np.zeros_like(bias)
        with torch.no_grad():
            getattr(module, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(kernel.T.copy()))
            getattr(module, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(recurrent.T.copy()))
            getattr(module, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(b_ih)))
            getattr(module, f"bias_hh_l0{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(b_hh)))

    load(*weights[:3], "")
    if layer.bidirectional:
        load(*weights[3:], "_reverse")
    tx = torch.from_numpy(x)
    tl = torch.from_numpy(np.asarray(lengths))

    def run():
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            if layer.masked:
                packed = torch.nn.utils.rnn.pack_padded_sequence(tx, tl, batch_first=True, enforce_sorted=False)
                _, state = module(packed)
            else:
                _, state = module(tx)
            h = state[0] if layer.kind == "LSTM" else state
            return (torch.cat([h[0], h[1]], -1) if layer.bidirectional else h[-1]).numpy()

    return run, None


def keras_peer(layer: Layer, shape, weights, x):
    try:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import jax
        import keras
    except ImportError:
        return None, f"{UNAVAILABLE} Keras 3 + JAX not installed"
    if keras.backend.backend() != "jax":
        return None, f"{UNAVAILABLE} Keras backend is {keras.backend.backend()}, not jax"
    _, steps, features, units = shape
    options = dict(layer.options)
    if layer.kind != "SimpleRNN":
        options["recurrent_activation"] = "sigmoid"
    rnn = getattr(keras.layers, layer.kind)(units, **options)
    stack = [keras.Input(shape=(steps, features))]
    if layer.masked:
        stack.append(keras.layers.Masking(0.0))
    stack.append(keras.layers.Bidirectional(rnn) if layer.bidirectional else rnn)
    model = keras.Sequential(stack)
    model.set_weights(weights)
    call = jax.jit(lambda t, nt, a: model.stateless_call(t, nt, a)[0])
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    xj = jax.numpy.asarray(x)

    def run():
        return np.asarray(call(trainable, non_trainable, xj).block_until_ready())

    return run, None


# ---- timing -------------------------------------------------------------------------------------
def gemm_rate(threads: int) -> float:
    """float32 FLOP/s of a mid-size GEMM in onnxruntime's MatMul (the floor's denominator;
    numpy's BLAS here may be slowed by OPENBLAS_CORETYPE, so it is not used)."""
    from onnx import TensorProto, helper, numpy_helper

    b = np.random.default_rng(1).standard_normal((1024, 1024)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [512, 1024])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [512, 1024])],
                              [numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    a = np.random.default_rng(0).standard_normal((512, 1024)).astype(np.float32)
    run = onnx_candidate(model.SerializeToString(), threads, a)
    run()
    best = min(seconds_per_call(run, 0.05) for _ in range(5))
    return 2 * 512 * 1024 * 1024 / best


def floor_seconds(layer: Layer, shape, rate: float) -> float:
    batch, steps, features, units = shape
    flops = 2 * batch * steps * (features + units) * GATES[layer.kind] * units
    return flops * (2 if layer.bidirectional else 1) / rate


SPIN = True  # onnxruntime's default; --one-process turns it off


def onnx_candidate(payload: bytes, threads: int, x: np.ndarray) -> Callable:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not SPIN:  # all runtimes in one process: spinning threads would starve the next candidate
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    return lambda: session.run(None, feed)[0]


# ---- one runtime's side of the protocol, in a worker process or in this one -------------------
class RuntimeHost:
    """Holds one runtime's candidates for the current row and answers the driver's requests:
    ``row`` (build, run once, return outputs), ``time`` (one timing sample), ``gemm``."""

    def __init__(self, runtime: str) -> None:
        self.build = RUNTIMES[runtime]
        self.candidates: dict[str, Callable] = {}

    def handle(self, command: str, payload):
        if command == "row":
            self.candidates, missing = self.build(payload)
            return {name: run() for name, run in self.candidates.items()}, missing
        if command == "time":
            name, min_seconds = payload
            return seconds_per_call(self.candidates[name], min_seconds)
        if command == "gemm":
            return gemm_rate(payload)
        if command == "versions":
            return _versions(payload)
        raise ValueError(f"unknown command {command!r}")


def _serve(conn, runtime: str) -> None:
    host = RuntimeHost(runtime)
    while True:
        command, payload = conn.recv()
        if command == "stop":
            return
        try:
            conn.send(("ok", host.handle(command, payload)))
        except Exception as error:  # reported by the driver with the runtime's name
            conn.send(("error", f"{type(error).__name__}: {error}"))


class WorkerHost:
    """A RuntimeHost in its own process (spawned, so no runtime is imported here first)."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, runtime), daemon=True)
        self.process.start()

    def handle(self, command: str, payload):
        self.conn.send((command, payload))
        status, value = self.conn.recv()
        if status == "error":
            raise RuntimeError(f"{self.runtime} worker: {value}")
        return value

    def close(self) -> None:
        self.conn.send(("stop", None))
        self.process.join(timeout=10)


RUNTIME_MODULES = {"onnxruntime": ("onnxruntime",), "PyTorch": ("torch",), "Keras-JAX": ("jax", "keras"),
                   "OpenVINO": ("openvino",), "LiteRT": ("ai_edge_litert",)}


class MissingPeer(SystemExit):
    """A runtime the benchmark was asked to compare against is not installed: exit 2 with
    its name and the install line, before anything is timed, so no ratio is ever printed
    against an absent peer (a ``0.00`` that reads as a win)."""

    def __init__(self, missing: dict[str, list[str]]) -> None:
        named = "; ".join(f"{runtime} (module {', '.join(modules)} not found)" for runtime, modules in missing.items())
        super().__init__(2)
        self.message = (f"bench: missing peer(s): {named}. Install them with pip install -e \".[bench]\" "
                        "or leave them out explicitly (--no-torch, --no-keras, ...); no ratio is printed without them")

    def __str__(self) -> str:
        return self.message


def require_peers(runtimes: list[str], modules: dict[str, tuple[str, ...]] | None = None) -> None:
    """Raise :class:`MissingPeer` unless every module of every runtime in ``runtimes`` can
    be found. Uses ``importlib.util.find_spec``, which does not import: the driver must not
    load a runtime's thread pools (each runtime runs in its own worker process)."""
    import importlib.util

    table = RUNTIME_MODULES if modules is None else modules
    missing: dict[str, list[str]] = {}
    for runtime in runtimes:
        for module in table[runtime]:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # a parent package missing, or a module blanked in sys.modules
                found = False
            if not found:
                missing.setdefault(runtime, []).append(module)
    if missing:
        error = MissingPeer(missing)
        print(error.message, file=sys.stderr)
        raise error


def _versions(runtime: str) -> dict[str, str]:
    """The versions of a runtime's modules that import (for the table's header)."""
    import importlib

    os.environ.setdefault("KERAS_BACKEND", "jax")
    found = {}
    for module in RUNTIME_MODULES[runtime]:
        try:
            found[module] = importlib.import_module(module).__version__
        except ImportError:
            found[module] = "missing"
    return found


# ---- the driver -----------------------------------------------------------------------------------
def row_job(tmp: Path, layer: Layer, shape, threads: int, max_unroll: int, rng, tflite_python: str | None = None):
    """Converts the row's layer under every applicable strategy; returns the job, the
    float64 reference output, what ``auto`` picks, and the candidate that times it."""
    path, weights = write_model(tmp, layer, shape, rng)
    spec = kerasrnn2onnx.load(path, weights=path.with_suffix(".npz"), keras_version=3)
    x, lengths = make_input(layer, shape, rng)
    expected = run_model(spec, [x], np.float64)[0]
    models = {}
    for strategy in ["native", "scan"] + (["unroll"] if shape[1] <= max_unroll else []):
        models[f"ours:{strategy}"] = (kerasrnn2onnx.convert(spec, strategy=strategy).SerializeToString(), threads)
    auto_model = kerasrnn2onnx.convert(spec)
    metadata = {entry.key: entry.value for entry in auto_model.metadata_props}
    auto_threads = int(metadata.get("recommended_intra_op_threads", threads))
    auto = {plan.strategy for plan in plan_layers(spec)}
    auto_key = f"ours:{next(iter(auto))}"
    if len(auto) > 1 or auto_key not in models or auto_threads != threads:
        # a graph or thread count of its own; otherwise the same candidate is not timed twice
        auto_key = "ours:auto"
        models[auto_key] = (auto_model.SerializeToString(), auto_threads)
    openvino_model = kerasrnn2onnx.convert(spec, target="openvino").SerializeToString()
    job = RowJob(layer, tuple(shape), weights, x, lengths, models, threads, auto_key, tflite_python, openvino_model)
    return job, expected, f"{'+'.join(sorted(auto))} {auto_threads}t", auto_key


def bench_row(hosts: dict, job: RowJob, expected, args) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Every candidate's timing samples, one per round, and the peers found missing."""
    order: list[tuple[str, str]] = []  # (runtime, candidate) in interleaving order
    missing: dict[str, str] = {}
    for runtime, host in hosts.items():
        outputs, why = host.handle("row", job)
        broken = {peer: reason for peer, reason in why.items() if reason.startswith(UNAVAILABLE)}
        if broken:
            message = "; ".join(f"{peer}: {reason}" for peer, reason in broken.items())
            print(f"bench: {message}; no ratio is printed without the peers asked for", file=sys.stderr)
            raise SystemExit(2)
        missing.update(why)
        for name, got in outputs.items():
            if not np.allclose(got, expected, atol=1e-4, rtol=1e-3):
                raise SystemExit(f"{job.layer.label} {job.shape} {name}: wrong result (max abs err "
                                 f"{float(np.abs(got - expected).max()):.2e}); not timing it")
            order.append((runtime, name))
    # 20 ms before each sample let the previous candidate's worker threads (XLA, OpenMP) go idle
    timed = interleaved_rounds(order, args.rounds,
                               lambda key: hosts[key[0]].handle("time", (key[1], args.min_seconds)), pause=0.02)
    return {name: timed[(runtime, name)] for runtime, name in order}, missing


def paired_ratios(samples: dict[str, list[float]], ours: str) -> list[float]:
    """Per round, ``ours`` over the fastest peer of that same round. Why paired: the machine's
    speed drifts between rounds (5-10% here), and a ratio within one round cancels it."""
    peers = [name for name in samples if name.startswith(("PyTorch ", "Keras-JAX", "LiteRT"))]  # see PEERS
    if not peers:
        return []
    return [mine / min(samples[p][r] for p in peers) for r, mine in enumerate(samples[ours])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small and one large shape per layer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-seconds", type=float, default=0.05, help="minimum time per sample")
    parser.add_argument("--max-unroll", type=int, default=50, help="time unroll only up to this many timesteps")
    parser.add_argument("--layers", nargs="*", default=[entry.label for entry in LAYERS])
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras-JAX peer")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    parser.add_argument("--no-openvino", action="store_true", help="skip the OpenVINO column")
    parser.add_argument("--litert-tf-python", metavar="PY",
                        help="a Python with TensorFlow (e.g. a tensorflow-cpu venv) to convert each batch-1 row to "
                        ".tflite: adds the LiteRT peer (ai-edge-litert, in the bench extra)")
    parser.add_argument("--one-process", action="store_true",
                        help="run every runtime in this process (exposes them to each other's thread pools)")
    parser.add_argument("--out", help="folder for bench.md and bench.png")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.min_seconds = min(args.rounds, 5), min(args.min_seconds, 0.03)
    global SPIN
    SPIN = not args.one_process
    if args.one_process:
        # PyTorch's OpenMP workers spin between calls by default and would starve the other
        # runtimes' threads in this process; ask them to sleep (set before torch is imported)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    runtimes = (["onnxruntime"] + ([] if args.no_torch else ["PyTorch"]) + ([] if args.no_keras else ["Keras-JAX"])
                + ([] if args.no_openvino else ["OpenVINO"]) + (["LiteRT"] if args.litert_tf_python else []))
    require_peers(runtimes)
    if args.litert_tf_python and not os.access(args.litert_tf_python, os.X_OK):
        print(f"bench: --litert-tf-python {args.litert_tf_python} is not an executable Python", file=sys.stderr)
        raise SystemExit(2)
    hosts = {name: RuntimeHost(name) if args.one_process else WorkerHost(name) for name in runtimes}
    try:
        lines, results, worst = run_grid(hosts, args)
    finally:
        for host in hosts.values():
            if isinstance(host, WorkerHost):
                host.close()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.md").write_text("\n".join(lines) + "\n")
        _plot(results, out / "bench.png")
    if worst is None:
        if any(runtime in PEERS for runtime in runtimes):
            print("bench: no requested peer applied to any row, so there is no ratio to report", file=sys.stderr)
            raise SystemExit(2)
        print("no peer compared (--no-torch --no-keras): no ratio")
        return
    print(f"worst ratio to best peer: {worst:.2f}")


def run_grid(hosts: dict, args):
    rng = np.random.default_rng(0)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    rate = hosts["onnxruntime"].handle("gemm", args.threads)
    versions = {}
    for runtime, host in hosts.items():
        versions.update(host.handle("versions", runtime))
    layout = "all runtimes in one process" if args.one_process else "each runtime in its own process"
    lines = [f"{platform.machine()} with {os.cpu_count()} cores, float32 GEMM {rate / 1e9:.1f} GFLOP/s; "
             f"{', '.join(f'{k} {v}' for k, v in sorted(versions.items()))}; {args.threads} threads; {layout}; "
             f"medians of {args.rounds} interleaved rounds; times in ms", "",
             "| layer | B×T×I×H | auto | auto (ms) | native | scan | unroll | PyTorch | Keras-JAX "
             "| LiteRT | OpenVINO (--target openvino) "
             "| floor | auto GFLOP/s (of GEMM) | auto / best peer (rounds' range) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    worst: float | None = None
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for layer in [entry for entry in LAYERS if entry.label in args.layers]:
            for shape in shapes:
                job, expected, auto, auto_key = row_job(Path(tmp), layer, shape, args.threads, args.max_unroll, rng,
                                                        args.litert_tf_python)
                samples, missing = bench_row(hosts, job, expected, args)
                times = {name: statistics.median(v) for name, v in samples.items()}
                times["ours:auto"] = times[auto_key]
                torch_times = [t for name, t in times.items() if name.startswith("PyTorch")]
                if torch_times:
                    times["PyTorch"] = min(torch_times)
                ratios = paired_ratios(samples, auto_key)
                ratio = statistics.median(ratios) if ratios else float("nan")
                if ratios:
                    worst = ratio if worst is None else max(worst, ratio)
                spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else ""
                floor = floor_seconds(layer, shape, rate)
                efficiency = f"{floor * rate / times['ours:auto'] / 1e9:.1f} ({floor / times['ours:auto']:.0%})"

                def ms(key: str, times: dict = times) -> str:
                    return f"{times[key] * 1e3:.3f}" if key in times else "–"

                def peer(key: str, times: dict = times, ms=ms, missing: dict = missing) -> str:
                    return ms(key) if key in times else f"missing ({missing.get(key, '?')})"

                row = (f"| {layer.label} | {'×'.join(map(str, shape))} | {auto} | {ms('ours:auto')} | "
                       f"{ms('ours:native')} | {ms('ours:scan')} | {ms('ours:unroll')} | {peer('PyTorch')} | "
                       f"{peer('Keras-JAX')} | {peer('LiteRT')} | {peer('OpenVINO')} | {floor * 1e3:.3f} | "
                       f"{efficiency} | "
                       f"{f'{ratio:.2f}' if ratios else '–'}{spread} |")
                lines.append(row)
                results.append((layer.label, shape, {k: v for k, v in times.items() if not k.startswith("PyTorch ")}))
                print(row, flush=True)
    return lines, results, worst


def _plot(results, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    labels = sorted({r[0] for r in results})
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.5), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        rows = [r for r in results if r[0] == label]
        names = sorted({n for r in rows for n in r[2]})
        xs = ["×".join(map(str, r[1])) for r in rows]
        for name in names:
            ax.plot(xs, [r[2].get(name, np.nan) * 1e3 for r in rows], marker="o", label=name)
        ax.set_yscale("log")
        ax.set_title(label)
        ax.set_ylabel("ms")
        ax.tick_params(axis="x", rotation=45)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
