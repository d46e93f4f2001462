"""Shared test helpers: the real-Keras fixture manifest and small synthetic models.

Fixtures under tests/fixtures were made by scripts/make_fixtures.py with real Keras 3
(JAX) and tf-keras 2; the tests never import Keras.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

try:  # the mutation property test's profiles: "ci" (about a minute, derandomized) and "long"
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
else:
    _SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
    settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True, database=None,
                              suppress_health_check=_SLOW, print_blob=True)
    settings.register_profile("long", max_examples=400, deadline=None, suppress_health_check=_SLOW,
                              print_blob=True)
    import os as _os

    settings.load_profile(_os.environ.get("KERASRNN2ONNX_HYPOTHESIS_PROFILE", "ci"))

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = Path(__file__).parent.parent / "samples"
SCRIPTS = Path(__file__).parent.parent / "scripts"


def load_file_module(path: Path, name: str) -> ModuleType:
    """Import one file as module ``name`` (no ``sys.path`` change): the samples and scripts
    are files for users to run, not packages. Loaded once; later calls return the module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and `import <name>` in a sibling look it up here
    before = list(sys.path)
    spec.loader.exec_module(module)
    # a test must not import through sys.path: a file that extends it on import would make
    # scripts/ or the checkout importable for every later test
    assert sys.path == before, f"{path.name} changed sys.path on import: {set(sys.path) ^ set(before)}"
    return module


def script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as module ``name`` (bench_isolated imports bench by that name)."""
    if name == "bench_isolated":
        script("bench")
    return load_file_module(SCRIPTS / f"{name}.py", name)


@pytest.fixture(scope="session", autouse=True)
def custom_cell_converters() -> ModuleType:
    """The custom-cell fixtures need converters registered: the samples' worked example
    registers them on import. Loaded when the first test runs, not at collection."""
    return load_file_module(SAMPLES / "custom_cells.py", "custom_cells")

# float32 parity tolerances (Keras float32 vs onnxruntime float32 / NumPy reference).
ATOL = 1e-5
RTOL = 1e-4

# Fixtures whose float32 results are ill-conditioned get a wider float32 tolerance, with the
# measured reason; the float64 reference must still match Keras at ATOL/RTOL.
FLOAT32_TOLERANCE = {
    "k3_act_gelu": (1e-4, 1e-3, "a 3-layer gelu stack amplifies float32 rounding ~50x: the float64 reference "
                    "is 1.4e-6 from Keras, float32 computations (Keras, ours) 4.9e-5 apart"),
    "k2_act_tanh": (2e-4, 1e-3, "case 1 is chaotic: a 1e-6 input change moves the output 2.1e-4; the native "
                    "op's fast tanh lands 5.1e-5 from Keras, the float64 reference 1.8e-5"),
}


@dataclass(frozen=True)
class Fixture:
    name: str
    model: Path
    weights: Path | None
    keras_version_flag: int | None
    tags: tuple[str, ...]
    layers: tuple[str, ...]
    keras_version: str
    io_file: Path
    description: str = ""

    @property
    def cases(self) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """``(inputs, Keras's outputs)`` per case, read on first use (not at collection)."""
        return _cases(self.io_file)

    @property
    def sequential(self) -> bool:
        """Cases are consecutive calls of a stateful model (states carried between them)."""
        return "sequential_calls" in self.tags

    @property
    def reset_before(self) -> int | None:
        """The case before which Keras called reset_states() (the last one, unless none was)."""
        if not self.sequential or "no reset" in self.description:
            return None
        return len(self.cases) - 1

    def run_reference(self, spec, dtype) -> list[list[np.ndarray]]:
        """The NumPy reference over every case, carrying states across sequential calls."""
        from kerasrnn2onnx.reference import run_model_with_states

        results, carried = [], None
        stateful = {layer.name for layer in spec.recurrent_layers if layer.stateful}
        for index, (ins, _) in enumerate(self.cases):
            if index == self.reset_before:
                carried = None
            outs, final = run_model_with_states(spec, ins, dtype, carried)
            results.append(outs)
            carried = {name: states for name, states in final.items() if name in stateful} if self.sequential else None
        return results

    def run_session(self, proto) -> list[list[np.ndarray]]:
        """onnxruntime (through the Session) over every case, in order, resetting where Keras did."""
        import kerasrnn2onnx

        session = kerasrnn2onnx.Session(proto)
        results = []
        for index, (ins, _) in enumerate(self.cases):
            if not self.sequential or index == self.reset_before:
                session.reset_states()
            results.append(session.run(ins))
        return results
    def load_kwargs(self) -> dict[str, Any]:
        return {"weights": self.weights, "keras_version": self.keras_version_flag}

    def tolerance(self, dtype: Any = np.float32) -> dict[str, float]:
        """``atol``/``rtol`` for comparing a ``dtype`` computation with Keras."""
        if dtype == np.float32 and self.name in FLOAT32_TOLERANCE:
            atol, rtol, _reason = FLOAT32_TOLERANCE[self.name]
            return {"atol": atol, "rtol": rtol}
        return {"atol": ATOL, "rtol": RTOL}


@functools.cache
def _cases(io_path: Path) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    with np.load(io_path) as data:
        stored = {k: data[k] for k in data.keys()}
    cases = []
    c = 0
    while f"c{c}_in0" in stored:
        ins = [stored[f"c{c}_in{i}"] for i in range(100) if f"c{c}_in{i}" in stored]
        outs = [stored[f"c{c}_out{j}"] for j in range(100) if f"c{c}_out{j}" in stored]
        cases.append((ins, outs))
        c += 1
    return cases


def load_manifest() -> list[Fixture]:
    entries = json.loads((FIXTURES / "manifest.json").read_text())
    fixtures = []
    for entry in entries:
        weights = FIXTURES / entry["weights_file"] if entry.get("weights_file") else None
        fixtures.append(
            Fixture(
                name=entry["name"],
                model=FIXTURES / entry["model_file"],
                weights=weights,
                keras_version_flag=entry.get("keras_major_flag"),
                tags=tuple(entry.get("tags", ())),
                layers=tuple(entry.get("layers", ())),
                keras_version=entry["keras_version"],
                io_file=FIXTURES / f"{entry['name']}.io.npz",
                description=entry.get("description", ""),
            )
        )
    return fixtures


MANIFEST = load_manifest()


@functools.cache
def _converted_bytes(name: str, target: str, strategy: str) -> bytes:
    import kerasrnn2onnx

    fixture = next(f for f in MANIFEST if f.name == name)
    proto = kerasrnn2onnx.convert(fixture.model, target=target, strategy=strategy, **fixture.load_kwargs())
    return proto.SerializeToString()


def converted(fixture: Fixture, target: str = "cpu", strategy: str = "auto") -> bytes:
    """A fixture's serialized conversion, made once per test run and shared by the tests
    that need the same one (the CUDA-target graphs serve two test files)."""
    return _converted_bytes(fixture.name, target, strategy)


def fixture_params():
    return [pytest.param(f, id=f.name) for f in MANIFEST]


def write_layer_json(tmp_path: Path, class_name: str, config: dict[str, Any], weights: list[np.ndarray],
                     name: str = "model") -> tuple[Path, Path]:
    """A bare layer config + .npz, the smallest model file the readers accept."""
    model = tmp_path / f"{name}.json"
    model.write_text(json.dumps({"class_name": class_name, "config": config}))
    npz = tmp_path / f"{name}.npz"
    np.savez(npz, *weights)
    return model, npz


GRU_ZEROS = [np.zeros((5, 3), np.float32), np.zeros((3, 6), np.float32), np.zeros((2, 6), np.float32),
             np.zeros((2, 6), np.float32)]
"""Zero weights of Embedding(5, 3) then GRU(2, reset_after=True) on 3 features, in load order."""


def write_functional_json(tmp_path: Path, layers: list[dict[str, Any]], inputs: list[str], output: str,
                          weights: Sequence[np.ndarray], keras_version: str | None = None) -> tuple[Path, Path]:
    """A functional model config written by hand (``layers`` in either version's node
    format) and its weights as a flat .npz, in load order."""
    doc: dict[str, Any] = {"class_name": "Functional",
                           "config": {"name": "m", "layers": layers, "input_layers": [[n, 0, 0] for n in inputs],
                                      "output_layers": [[output, 0, 0]]}}
    if keras_version is not None:
        doc["keras_version"] = keras_version
    model = tmp_path / "m.json"
    model.write_text(json.dumps(doc))
    npz = tmp_path / "m.npz"
    np.savez(npz, *weights)
    return model, npz


def lstm_weights(units: int = 3, features: int = 2) -> list[np.ndarray]:
    """Zero LSTM weights (kernel, recurrent kernel, bias) for configs built by hand."""
    return [np.zeros((features, 4 * units), np.float32), np.zeros((units, 4 * units), np.float32),
            np.zeros((4 * units,), np.float32)]


def convert_fails(capsys, tmp_path: Path, args: list, *needles: str) -> str:
    """``convert`` through the CLI refuses: exit 2, one line on stderr holding every needle, no
    traceback, and no output (nor a half-written temporary) left behind. Returns the line."""
    from kerasrnn2onnx.cli import main

    out = tmp_path / "out.onnx"
    code = main(["convert", *map(str, args), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.onnx")] == []
    return lines[0]


def edit_keras_weights(src: Path, dst: Path, edit) -> None:
    """Copy a .keras archive, applying ``edit`` to its model.weights.h5."""
    import h5py

    with zipfile.ZipFile(src) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as handle:
        edit(handle)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(dst, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
