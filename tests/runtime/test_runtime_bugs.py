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


def test_tract_erf_is_still_inexact_so_gelu_is_refused_there():
    """tract's Erf is up to 1.7e-6 off near 0 (about 20 float32 ulp): the tract target refuses
    gelu (lowering/targets.py TRACT_ERF). When this fails tract computes Erf exactly and
    the refusal may go."""
    import math

    from onnx import TensorProto, helper

    _needs("tract")
    x = np.linspace(-0.5, 0.5, 1001, dtype=np.float32).reshape(1, -1)
    info = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1001]) for name in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Erf", ["x"], ["y"])], "erf", info[:1], info[1:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    expected = np.vectorize(math.erf)(x.astype(np.float64))
    assert np.abs(np.asarray(_run("tract", model, {"x": x})[0]) - expected).max() > 1e-6


def test_tract_target_refuses_gelu_with_one_line():
    import kerasrnn2onnx

    from ..conftest import MANIFEST

    fixture = next(f for f in MANIFEST if f.name == "k3_act_gelu")
    with pytest.raises(kerasrnn2onnx.UnsupportedError, match=r"layer '.+': target tract: activation gelu: tract's Erf"):
        kerasrnn2onnx.convert(fixture.model, target="tract", **fixture.load_kwargs())
