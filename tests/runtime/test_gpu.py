"""The CUDA checks, and the same body on the CPU provider in every run of the suite.

Every fixture converted with ``--target cuda`` runs through ``kerasrnn2onnx.Session``
(which feeds the state inputs of stateful fixtures and carries them between sequential
cases), matches Keras at the fixture's own tolerance, and onnxruntime's profile shows
every LSTM/GRU/RNN/Scan node on the provider under test (none fell back to the CPU).

The ``cuda`` parametrizations are marked ``gpu`` (select them with ``pytest -m gpu`` on a
machine with onnxruntime-gpu; TF32 is off so float32 parity holds) and skip with the
reason elsewhere. The ``cpu`` parametrizations run in the normal suite, so the code that
will run on a GPU is exercised by CI every time; there the expected provider is the CPU.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import kerasrnn2onnx

from ..conftest import MANIFEST, Fixture, converted

RECURRENT = {"LSTM", "GRU", "RNN", "Scan"}


def _cuda_available() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


# provider id -> (providers for the Session, the provider every recurrent node must run on)
PROVIDERS = {
    "cpu": (["CPUExecutionProvider"], "CPUExecutionProvider"),
    "cuda": ([("CUDAExecutionProvider", {"use_tf32": "0"})], "CUDAExecutionProvider"),
}
PROVIDER_PARAMS = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=[
        pytest.mark.gpu,
        pytest.mark.skipif(not _cuda_available(), reason="needs onnxruntime-gpu with CUDAExecutionProvider and a GPU"),
    ]),
]


def _run_profiled(fixture: Fixture, providers: list, prefix: str) -> tuple[list[list[np.ndarray]], dict[str, str]]:
    session = kerasrnn2onnx.Session(converted(fixture, "cuda"), providers, profile_prefix=prefix)
    results = []
    for index, (ins, _) in enumerate(fixture.cases):
        if not fixture.sequential or index == fixture.reset_before:
            session.reset_states()
        results.append(session.run(ins))
    return results, session.node_providers(RECURRENT)


@pytest.mark.parametrize("provider", PROVIDER_PARAMS)
@pytest.mark.parametrize("fixture", [pytest.param(f, id=f.name) for f in MANIFEST])
def test_fixture_on_provider_matches_keras_without_fallback(fixture, provider, tmp_path):
    providers, expected_provider = PROVIDERS[provider]
    results, placed = _run_profiled(fixture, providers, str(tmp_path / "profile"))
    for actual, (_, expected) in zip(results, fixture.cases, strict=True):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert a.shape == e.shape
            np.testing.assert_allclose(a, e, **fixture.tolerance(np.float32))
    graph = onnx.load_from_string(converted(fixture, "cuda")).graph
    recurrent = {node.name for node in graph.node if node.op_type in RECURRENT}  # unrolled graphs have none
    assert set(placed) == recurrent, "the profile must record every recurrent node, and only those"
    elsewhere = {name: p for name, p in placed.items() if p != expected_provider}
    assert not elsewhere, f"recurrent nodes not on {expected_provider}: {elsewhere}"


def test_stateful_fixtures_are_covered():
    """The Session path matters for stateful fixtures: state inputs the plain feed left out."""
    assert any(f.sequential for f in MANIFEST)


def test_node_providers_needs_profiling():
    fixture = MANIFEST[0]
    session = kerasrnn2onnx.Session(converted(fixture, "cuda"))
    with pytest.raises(kerasrnn2onnx.errors.RuntimeInputError, match="profile_prefix"):
        session.node_providers()
