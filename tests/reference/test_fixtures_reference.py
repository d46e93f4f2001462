"""Every real-Keras fixture through the NumPy reference, in float32 and float64: the reference is
the ground truth the ONNX graphs are checked against, so it must reproduce Keras itself."""

from __future__ import annotations

import numpy as np
import pytest

import kerasrnn2onnx

from ..conftest import fixture_params


@pytest.mark.parametrize("fixture", fixture_params())
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_reference_matches_keras(fixture, dtype):
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    for actual, (_, expected) in zip(fixture.run_reference(spec, dtype), fixture.cases, strict=True):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, e, **fixture.tolerance(dtype))
