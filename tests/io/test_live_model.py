"""convert(model) with a live keras.Model: recognised by duck typing (the package never
imports Keras), saved with the caller's Keras to a temporary file, converted, cleaned up.

Keras is not installed here, so the live models are stand-ins whose classes claim a Keras
module and whose ``save`` writes a real Keras file (a committed fixture) where asked; the
same path with real Keras 3 and tf-keras is exercised by scripts/check_live_models.py.
"""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.errors import ConversionError
from kerasrnn2onnx.io.live import is_live_model, save_suffix

from ..conftest import ATOL, FIXTURES, MANIFEST, RTOL


def _stand_in(module: str, fixture: str, saved: list[Path]):
    """An object of a class defined in ``module`` whose save() copies ``fixture``."""

    def save(self, filepath, *args, **kwargs):
        saved.append(Path(filepath))
        shutil.copyfile(FIXTURES / fixture, filepath)

    base = type("Functional", (), {"__module__": module, "save": save})
    user = type("MyModel", (base,), {"__module__": "__main__"})  # a subclass defined by a user
    return user()


@pytest.mark.parametrize("module, version, fixture, suffix", [
    ("keras.src.models.functional", "3.15.1", "k3_named_chain.keras", ".keras"),
    ("tf_keras.src.engine.functional", None, "k2_named_chain.h5", ".h5"),
    ("keras.src.engine.functional", "2.15.0", "k2_named_chain.h5", ".h5"),
])
def test_live_model_is_saved_converted_and_cleaned_up(monkeypatch, module, version, fixture, suffix):
    if version is not None:
        monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(__version__=version))
    saved: list[Path] = []
    model = _stand_in(module, fixture, saved)
    assert is_live_model(model) and save_suffix(model) == suffix
    proto = kerasrnn2onnx.convert(model)
    assert len(saved) == 1 and saved[0].suffix == suffix
    assert not saved[0].exists() and not saved[0].parent.exists()  # temporary folder removed
    case = next(f for f in MANIFEST if f.model.name == fixture)
    ins, outs = case.cases[0]
    got = kerasrnn2onnx.Session(proto).run(ins)
    for actual, expected in zip(got, outs, strict=True):
        np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=RTOL)


def test_paths_and_specs_are_not_live_models():
    assert not is_live_model(str(FIXTURES / "k3_lstm.keras"))
    assert not is_live_model(FIXTURES / "k3_lstm.keras")
    assert not is_live_model(kerasrnn2onnx.load(FIXTURES / "k3_lstm.keras"))


def test_a_failing_save_is_one_error(monkeypatch):
    def save(self, filepath):
        raise ValueError("Unable to serialize CustomThing")

    cls = type("Sequential", (), {"__module__": "keras.src.models.sequential", "save": save})
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(__version__="3.15.1"))
    with pytest.raises(ConversionError, match="ValueError: Unable to serialize CustomThing"):
        kerasrnn2onnx.convert(cls())


def test_weights_with_a_live_model_are_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(__version__="3.15.1"))
    model = _stand_in("keras.src.models.functional", "k3_named_chain.keras", [])
    with pytest.raises(ConversionError, match="live model"):
        kerasrnn2onnx.convert(model, weights=FIXTURES / "k3_named_chain_weights.weights.h5")
