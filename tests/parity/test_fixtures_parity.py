"""Every real-Keras fixture: onnxruntime reproduces Keras (the NumPy reference's own check is
tests/reference/test_fixtures_reference.py), and the fixture set itself is sound.

Tolerances: float32 scale, atol 1e-5 / rtol 1e-4 (onnxruntime's CPU kernels use fast
sigmoid/tanh approximations, so bit-exactness is not expected).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from ..conftest import FIXTURES, MANIFEST, converted, fixture_params


def test_fixture_set_is_sound():
    """The committed fixtures are usable ground truth: finite, and covering the grid."""
    assert len(MANIFEST) >= 40
    for fixture in MANIFEST:
        assert fixture.cases, fixture.name
        for ins, outs in fixture.cases:
            for array in ins + outs:
                assert np.all(np.isfinite(array)), f"{fixture.name}: Keras produced non-finite values"
    tags = {t for f in MANIFEST for t in f.tags}
    for needed in ("simple_rnn", "gru", "lstm", "rnn_cell", "stacked_cells", "stacked_layers", "reset_after",
                   "reset_before", "no_bias", "go_backwards", "return_state", "return_sequences", "timesteps1",
                   "batch1", "units1", "two_lengths", "hard_sigmoid", "keras22_defaults"):
        assert needed in tags, needed
    versions = {f.keras_version.split(".")[0] for f in MANIFEST}
    assert versions == {"2", "3"}


@pytest.mark.parametrize("fixture", fixture_params())
def test_onnxruntime_matches_keras(fixture):
    proto = converted(fixture)
    for actual, (_, expected) in zip(fixture.run_session(proto), fixture.cases, strict=True):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert a.shape == e.shape
            np.testing.assert_allclose(a, e, **fixture.tolerance(np.float32))


@pytest.mark.parametrize("fixture", fixture_params())
def test_declared_output_dims_are_the_sizes_keras_returns(fixture):
    """Every fixed size the graph declares on a model output is the size of Keras's output;
    open sizes carry a name. (A lone ConvLSTM output's rows were once declared a time dim.)"""
    proto = onnx.load_from_string(converted(fixture))
    _, expected = fixture.cases[0]
    for declared, keras_out in zip(proto.graph.output[: len(expected)], expected, strict=True):
        dims = declared.type.tensor_type.shape.dim
        assert len(dims) == keras_out.ndim, declared.name
        for axis, (dim, size) in enumerate(zip(dims, keras_out.shape, strict=True)):
            if dim.HasField("dim_value"):
                assert dim.dim_value == size, (declared.name, axis)
            else:
                assert dim.dim_param, (declared.name, axis)
                assert not dim.dim_param.endswith("_time") or axis == 1, (declared.name, axis, dim.dim_param)


def test_one_model_serves_two_lengths():
    two = [f for f in MANIFEST if "two_lengths" in f.tags]
    assert two
    for fixture in two:
        lengths = {ins[0].shape[1] for ins, _ in fixture.cases}
        assert len(lengths) == 2, fixture.name


def test_every_fixture_is_in_the_manifest():
    listed = {f.model.name for f in MANIFEST} | {f.weights.name for f in MANIFEST if f.weights}
    on_disk = {p.name for p in FIXTURES.iterdir() if p.suffix in (".keras", ".h5", ".json", ".npz")
               and not p.name.endswith(".io.npz") and p.name != "manifest.json"}
    assert on_disk == listed
