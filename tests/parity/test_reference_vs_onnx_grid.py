"""The whole activation grid, beyond what the fixtures cover: for every cell type, every
(activation, recurrent_activation) pair and every strategy that can express it,
onnxruntime on the converted layer matches the NumPy reference (itself checked against
Keras by the fixtures).

The native part pins down how alpha/beta lists are written when parametrised activations
(HardSigmoid, Elu, Affine, LeakyRelu) are mixed in one op; the scan and unroll parts check
every activation's explicit-node form.
"""

from __future__ import annotations

import itertools
import json
import zlib
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.reference import run_model
from kerasrnn2onnx.spec.activations import ACTIVATIONS

from ..conftest import ATOL, RTOL, write_layer_json

NAMES = sorted(ACTIVATIONS)
NATIVE = sorted(n for n, d in ACTIVATIONS.items() if d.attribute is not None)

GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def _weights(kind: str, units: int, features: int, reset_after: bool, rng) -> list[np.ndarray]:
    g = GATES[kind]
    scale = 0.6 / np.sqrt(units)
    kernel = rng.uniform(-1, 1, (features, g * units)) * scale
    recurrent = rng.uniform(-1, 1, (units, g * units)) * scale
    bias = rng.uniform(-0.5, 0.5, (2, g * units) if (kind == "GRU" and reset_after) else (g * units,))
    return [a.astype(np.float32) for a in (kernel, recurrent, bias)]


def _combos(names_a, names_b):
    combos = [("SimpleRNN", act, None, False) for act in names_a]
    for act, rec in itertools.product(names_a, names_b):
        combos.append(("LSTM", act, rec, False))
        combos += [("GRU", act, rec, reset_after) for reset_after in (True, False)]
    return combos


def _cases():
    """Native: every attribute-expressible pair. Scan and unroll: every activation in each
    role. Keras 2 runs only where hard_sigmoid appears (the one version-dependent formula)."""
    plans = [("native", c) for c in _combos(NATIVE, NATIVE)]
    for strategy in ("scan", "unroll"):
        plans += [(strategy, c) for c in _combos(NAMES, ["sigmoid"])]
        plans += [(strategy, c) for c in _combos(["tanh"], NAMES) if c[0] != "SimpleRNN"]
    seen = set()
    for strategy, (kind, act, rec, reset_after) in plans:
        for version in (2, 3):
            if version == 2 and "hard_sigmoid" not in (act, rec):
                continue
            name = f"{strategy}-k{version}-{kind}-{act}-{rec}" + (f"-ra{int(reset_after)}" if kind == "GRU" else "")
            if name not in seen:
                seen.add(name)
                yield pytest.param(strategy, kind, act, rec, reset_after, version, id=name)


@pytest.mark.parametrize("strategy,kind,activation,recurrent_activation,reset_after,keras_version", list(_cases()))
def test_lowering_matches_reference(tmp_path, request, strategy, kind, activation, recurrent_activation,
                                    reset_after, keras_version):
    rng = np.random.default_rng(zlib.crc32(request.node.callspec.id.encode()))
    units, features = 3, 2
    config = {"name": "layer", "units": units, "activation": activation, "return_sequences": True,
              "go_backwards": bool(rng.integers(2)), "return_state": True}
    if recurrent_activation is not None:
        config["recurrent_activation"] = recurrent_activation
    if kind == "GRU":
        config["reset_after"] = reset_after
    model, npz = write_layer_json(tmp_path, kind, config, _weights(kind, units, features, reset_after, rng))
    spec = kerasrnn2onnx.load(model, weights=npz, keras_version=keras_version)
    if strategy == "unroll":  # unroll needs a static time axis: give the input one
        spec = replace(spec, inputs=(replace(spec.inputs[0], timesteps=6),))
    proto = kerasrnn2onnx.convert(spec, strategy=strategy)
    assert json.loads({p.key: p.value for p in proto.metadata_props}["lowering"]) == {"layer": strategy}
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((2, 6, features)).astype(np.float32)
    actual = session.run(None, {session.get_inputs()[0].name: x})
    expected = run_model(spec, [x], np.float64)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, atol=ATOL, rtol=RTOL)
