#!/usr/bin/env python3
"""Per-call overhead of kerasrnn2onnx.Session against a bare onnxruntime InferenceSession.run.

Why: streaming inference calls the model once per step (batch 1, timesteps 1); the Session
must add little over what onnxruntime itself costs (goal: within 2 us). Both run the same
converted stateful LSTM, interleaved, in one process; medians of many calls, in wall time and
in this process's CPU time (robust on a loaded machine). PyTorch's per-step ``nn.LSTM``
call is the peer row (``--no-torch`` leaves it out; a missing PyTorch is an error otherwise).

    python scripts/bench_session.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402  (its peer check)

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


def torch_step(weights: list[np.ndarray], features: int, units: int):
    """PyTorch's per-step call with the same weights: ``nn.LSTM`` on one timestep with the
    states carried by hand (1 thread, inference mode), the peer a streaming user would pick."""
    import torch

    torch.set_num_threads(1)
    module = torch.nn.LSTM(features, units, batch_first=True).eval()
    kernel, recurrent, bias = weights
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(bias))
        module.bias_hh_l0.zero_()
    state = [(torch.zeros(1, 1, units), torch.zeros(1, 1, units))]

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out, state[0] = module(torch.from_numpy(x), state[0])
        return out.numpy()

    return run


def litert_step(tf_python: str, weights: list[np.ndarray], features: int, units: int):
    """LiteRT's per-step call: the LSTM converted by TensorFlow's TFLite converter (in
    ``tf_python``, scripts/tflite_convert.py) as one step with its states as inputs and
    outputs, carried by hand between ``invoke`` calls (1 thread)."""
    import subprocess

    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "w.npz", *weights)
        row = {"kind": "LSTM", "options": {}, "batch": 1, "steps": 1, "features": features, "units": units,
               "masked": False, "bidirectional": False, "stream": True, "weights": str(Path(tmp) / "w.npz"),
               "out": str(Path(tmp) / "m.tflite")}
        (Path(tmp) / "row.json").write_text(json.dumps(row))
        subprocess.run([tf_python, str(ROOT / "scripts" / "tflite_convert.py"), str(Path(tmp) / "row.json")],
                       check=True, capture_output=True)
        interpreter = Interpreter(model_content=(Path(tmp) / "m.tflite").read_bytes(), num_threads=1)
    interpreter.allocate_tensors()
    ins = {d["name"]: d for d in interpreter.get_input_details()}
    by_shape = sorted(ins.values(), key=lambda d: (len(d["shape"]), d["name"]))  # the two states, then x
    h_in, c_in, x_in = by_shape[0]["index"], by_shape[1]["index"], by_shape[2]["index"]
    outs = sorted(interpreter.get_output_details(), key=lambda d: (len(d["shape"]), d["name"]))
    zeros = np.zeros((1, units), np.float32)
    interpreter.set_tensor(h_in, zeros)
    interpreter.set_tensor(c_in, zeros)

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(x_in, x)
        interpreter.invoke()
        interpreter.set_tensor(h_in, interpreter.get_tensor(outs[0]["index"]))
        interpreter.set_tensor(c_in, interpreter.get_tensor(outs[1]["index"]))
        return interpreter.get_tensor(outs[2]["index"])

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch per-step row")
    parser.add_argument("--litert-tf-python", metavar="PY",
                        help="a Python with TensorFlow, to convert the LSTM for a LiteRT per-step row")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=500, help="calls per sample")
    args = parser.parse_args(argv)
    bench.require_peers(["onnxruntime"] + ([] if args.no_torch else ["PyTorch"])
                        + (["LiteRT"] if args.litert_tf_python else []))
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = stateful_lstm(Path(tmp))
        weights = [np.load(path.with_suffix(".npz"))[f"arr_{i}"] for i in range(3)]
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

    runners = {"bare InferenceSession.run (states fed by hand)": run_bare,
               "kerasrnn2onnx.Session.run": lambda: session.run(x)}
    if not args.no_torch:
        step = torch_step(weights, 32, 64)
        runners["PyTorch nn.LSTM one step (1 thread)"] = lambda: step(x)
    if args.litert_tf_python:
        lite = litert_step(args.litert_tf_python, weights, 32, 64)
        runners["LiteRT invoke, states carried (1 thread)"] = lambda: lite(x)
    # parity first: three steps of every peer from zero states against a fresh Session's
    check, steps = kerasrnn2onnx.Session(proto, intra_op_threads=1), np.random.default_rng(2).standard_normal(
        (3, 1, 1, 32)).astype(np.float32)
    expected = [check.run(step_x)[0].reshape(-1) for step_x in steps]
    peers = {"PyTorch": torch_step(weights, 32, 64) if not args.no_torch else None,
             "LiteRT": litert_step(args.litert_tf_python, weights, 32, 64) if args.litert_tf_python else None}
    for name, fresh in peers.items():
        if fresh is not None:
            got = [np.asarray(fresh(step_x)).reshape(-1) for step_x in steps]
            if not np.allclose(got, expected, atol=1e-4, rtol=1e-3):
                raise SystemExit(f"bench_session: {name}'s steps differ from the Session's: not timing it")
    # wall time, and CPU time of this process: with one intra-op thread onnxruntime runs on
    # the calling thread, so CPU time leaves out the time other processes hold the cores
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        for _ in range(200):
            run()
    for _ in range(args.rounds):
        for name, run in runners.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.calls):
                run()
            wall[name].append((time.perf_counter() - start) / args.calls)
            cpu[name].append((time.process_time() - start_cpu) / args.calls)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"stateful LSTM(64) on 32 features, batch 1, 1 timestep, 1 thread, onnxruntime {ort.__version__}; "
          f"medians of {args.rounds} interleaved rounds of {args.calls} calls; load average {load}")
    print("| per-step call | wall (us) | CPU (us) |")
    print("|---|---|---|")
    for name in runners:
        print(f"| {name} | {statistics.median(wall[name]) * 1e6:.1f} | {statistics.median(cpu[name]) * 1e6:.1f} |")
    bare_name, session_name = list(runners)[:2]
    paired = [s - b for s, b in zip(cpu[session_name], cpu[bare_name], strict=True)]
    print(f"Session overhead (CPU time, paired per round): {statistics.median(paired) * 1e6:+.1f} us per call "
          f"(rounds' range {min(paired) * 1e6:+.1f} to {max(paired) * 1e6:+.1f}); goal: within 2 us")


if __name__ == "__main__":
    main()
