"""The benchmarks refuse to print a ratio when a peer they were asked for is missing.

Why: a missing peer used to give ``worst ratio to best peer: 0.00``, which reads as a win.
Nothing here is timed: the check runs before any model is converted.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from ..conftest import script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return script("bench")


@pytest.mark.parametrize("peer", ["PyTorch", "Keras-JAX"])
def test_require_peers_refuses_a_missing_peer(bench: ModuleType, peer: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    table = dict(bench.RUNTIME_MODULES)
    table[peer] = ("kerasrnn2onnx_no_such_module",)
    with pytest.raises(SystemExit) as raised:
        bench.require_peers(["onnxruntime", peer], table)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert peer in err and "kerasrnn2onnx_no_such_module" in err and ".[bench]" in err


def test_require_peers_passes_when_present(bench: ModuleType) -> None:
    bench.require_peers(["onnxruntime"], {"onnxruntime": ("numpy", "onnx")})


def test_bench_main_exits_before_any_ratio(bench: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(bench.RUNTIME_MODULES, "PyTorch", ("kerasrnn2onnx_no_such_module",))
    with pytest.raises(SystemExit) as raised:
        bench.main(["--quick", "--no-keras"])
    assert raised.value.code == 2
    captured = capsys.readouterr()
    assert "ratio to best peer" not in captured.out and "missing peer" in captured.err


def test_bench_isolated_refuses_without_onnxruntime(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    isolated = script("bench_isolated")
    monkeypatch.setitem(isolated.bench.RUNTIME_MODULES, "onnxruntime", ("kerasrnn2onnx_no_such_module",))
    with pytest.raises(SystemExit) as raised:
        isolated.main([])
    assert raised.value.code == 2
    assert "onnxruntime" in capsys.readouterr().err
