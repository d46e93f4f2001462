"""CUDA checks: run with ``pytest -m gpu`` on a machine with onnxruntime-gpu and a GPU.

Every fixture converted with ``--target cuda`` runs on CUDAExecutionProvider (TF32 off,
so float32 parity holds), matches Keras, and onnxruntime's profile shows every
LSTM/GRU/RNN/Scan node on the CUDA provider (none fell back to the CPU).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import kerasrnn2onnx

from .conftest import ATOL, MANIFEST, RTOL


def _cuda_available() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _cuda_available(), reason="needs onnxruntime-gpu with CUDAExecutionProvider and a GPU"),
]

RECURRENT = {"LSTM", "GRU", "RNN", "Scan"}


def _session(proto, profile_dir):
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(profile_dir, "profile")
    providers = [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    return ort.InferenceSession(proto.SerializeToString(), options, providers=providers)


@pytest.mark.parametrize("fixture", [pytest.param(f, id=f.name) for f in MANIFEST])
def test_fixture_on_cuda_matches_keras_without_cpu_fallback(fixture, tmp_path):
    proto = kerasrnn2onnx.convert(fixture.model, target="cuda", **fixture.load_kwargs())
    session = _session(proto, str(tmp_path))
    names = [i.name for i in session.get_inputs()]
    for ins, expected in fixture.cases:
        actual = session.run(None, dict(zip(names, ins)))
        for a, e in zip(actual, expected):
            np.testing.assert_allclose(a, e, atol=ATOL, rtol=RTOL)
    profile = session.end_profiling()
    with open(profile) as handle:
        events = json.load(handle)
    placed = {}
    for event in events:
        args = event.get("args", {})
        if event.get("cat") == "Node" and args.get("op_name") in RECURRENT:
            placed[event["name"]] = args.get("provider")
    assert placed, "the profile recorded no recurrent node"
    on_cpu = {name: p for name, p in placed.items() if p != "CUDAExecutionProvider"}
    assert not on_cpu, f"recurrent nodes not on CUDA: {on_cpu}"
