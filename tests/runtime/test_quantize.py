"""``--quantize int8`` is opt-in, rewrites what onnxruntime can quantize, and ``verify``
reports its error against the Keras reference and its speed (not asserted: not timed).

Why: int8 changes the numbers, so it must never happen by default, and a user needs its
error in front of them to decide.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kerasrnn2onnx
from kerasrnn2onnx.cli import main
from kerasrnn2onnx.runtime.quantize import QUANTIZED_ATOL, quantization_of

from ..conftest import FIXTURES


def ops(proto) -> set[str]:
    return {node.op_type for node in proto.graph.node}


@pytest.mark.parametrize(("name", "strategy", "quantized_op", "float_op"), [
    ("k3_lstm", "native", "DynamicQuantizeLSTM", None),
    ("k3_gru", "native", None, "GRU"),  # onnxruntime has no quantized GRU: it stays float, and says so
    ("k3_gru", "scan", "MatMulInteger", "Scan"),
])
def test_quantize_int8_rewrites_what_onnxruntime_can(name: str, strategy: str, quantized_op: str | None,
                                                     float_op: str | None) -> None:
    proto = kerasrnn2onnx.convert(FIXTURES / f"{name}.keras", strategy=strategy, quantize="int8")
    record = quantization_of(proto)
    assert record is not None and record["mode"] == "int8"
    if quantized_op:
        assert quantized_op in ops(proto) and quantized_op in record["quantized_ops"]
    if float_op:
        assert float_op in ops(proto) and float_op in record["float_recurrent_ops"]
    report = kerasrnn2onnx.verify(FIXTURES / f"{name}.keras", proto, batch=3, timesteps=9)
    assert report.passed, report.table()
    assert all(0 < row.max_abs < QUANTIZED_ATOL for row in report.outputs) or quantized_op is None
    assert any(note.startswith("speed:") for note in report.notes)


def test_quantization_is_never_the_default() -> None:
    proto = kerasrnn2onnx.convert(FIXTURES / "k3_lstm.keras")
    assert quantization_of(proto) is None and "DynamicQuantizeLSTM" not in ops(proto)
    # the float model keeps float32's tolerance in verify
    assert kerasrnn2onnx.verify(FIXTURES / "k3_lstm.keras", proto).outputs[0].atol == 1e-5


def test_cli_quantize_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q.onnx"
    assert main(["convert", str(FIXTURES / "k3_lstm.keras"), "--quantize", "int8", "-o", str(out)]) == 0
    assert main(["verify", str(FIXTURES / "k3_lstm.keras"), str(out)]) == 0
    text = capsys.readouterr().out
    assert "DynamicQuantizeLSTM" in text and "ms float" in text and "parity: PASS" in text
    # a tolerance the int8 error cannot meet fails, with the error shown
    assert main(["verify", str(FIXTURES / "k3_lstm.keras"), str(out), "--atol", "1e-9", "--rtol", "0"]) == 1
