"""Each runtime bug the targets work around, on a minimal model (tests/runtime/bugs/):
our form is exact on the runtime, and the bug still shows in the other form (when that
check fails, the runtime fixed it and the workaround may go; see lowering/targets.py)."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest

from kerasrnn2onnx.runtime.runtimes import load_on

from .bugs.reproducers import OUR_FORM_ONLY, REPRODUCERS

MODULES = {"openvino": "openvino", "tract": "tract", "opencv": "cv2"}
CASES = [pytest.param(build, id=build.__name__) for build in REPRODUCERS]
ALL_CASES = CASES + [pytest.param(build, id=build.__name__) for build in OUR_FORM_ONLY]


def _run(runtime: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    loaded = load_on(runtime, model.SerializeToString())
    try:
        return loaded.run(feeds)
    finally:
        loaded.close()


def _needs(runtime: str) -> None:
    if importlib.util.find_spec(MODULES[runtime]) is None:
        # the test extra installs every Python runtime: absent is a broken set-up, not a skip
        pytest.fail(f"{runtime} is not installed (pip install -e '.[cpu,test]')")


@pytest.mark.parametrize("build", ALL_CASES)
def test_both_forms_are_valid_onnx_and_ours_is_exact_on_onnxruntime(build):
    case = build()
    for model in (case.bug, case.ours):
        onnx.checker.check_model(model, full_check=True)
    for a, e in zip(_run("onnxruntime", case.ours, case.feeds), case.expected, strict=True):
        np.testing.assert_allclose(a, e, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("build", ALL_CASES)
def test_our_form_is_exact_on_the_runtime(build):
    case = build()
    _needs(case.runtime)
    for a, e in zip(_run(case.runtime, case.ours, case.feeds), case.expected, strict=True):
        np.testing.assert_allclose(np.asarray(a).reshape(e.shape), e, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("build", CASES)
def test_the_bug_still_shows_on_the_runtime(build):
    case = build()
    _needs(case.runtime)
    try:
        actual = _run(case.runtime, case.bug, case.feeds)
    except Exception:  # noqa: BLE001 - a refusal is how some of these bugs show
        return
    mismatch = any(np.asarray(a).shape != e.shape or not np.allclose(np.asarray(a), e, atol=1e-6, rtol=1e-5)
                   for a, e in zip(actual, case.expected, strict=True))
    assert mismatch, f"{case.runtime} now handles '{case.what}': the workaround in lowering/targets.py may go"


def test_tract_target_runs_gelu_within_the_fixture_tolerance():
    """gelu on the tract target goes through the Exp-and-polynomial erf (reproducer
    erf_inexact): k3_act_gelu, whose recurrence amplifies rounding, matches Keras there at the
    fixture's tolerance, where tract's own Erf missed by 1.2e-3."""
    import kerasrnn2onnx

    from ..conftest import MANIFEST

    _needs("tract")
    for name in ("k3_act_gelu", "k2_act_gelu"):
        fixture = next(f for f in MANIFEST if f.name == name)
        model = kerasrnn2onnx.convert(fixture.model, target="tract", **fixture.load_kwargs())
        assert "Erf" not in {node.op_type for node in model.graph.node}
        loaded = load_on("tract", model.SerializeToString())
        try:
            for inputs, expected in fixture.cases:
                got = loaded.run(dict(zip(loaded.input_names, inputs, strict=True)))
                for a, e in zip(got, expected, strict=True):
                    np.testing.assert_allclose(a, e, **fixture.tolerance())
        finally:
            loaded.close()
