"""Opt-in int8: onnxruntime's dynamic quantization of a converted model.

Why opt-in: int8 weights change the numbers (errors of about 1e-2 instead of 1e-6), so a
user must ask for it (``convert --quantize int8``) and can see its error against Keras and
its speed with ``verify``; it is never applied by default. Why onnxruntime's own pass: the
quantized graph uses onnxruntime's contrib ops (``DynamicQuantizeLSTM`` for a native LSTM,
``MatMulInteger`` with ``DynamicQuantizeLinear`` for the input projection of a Scan loop),
so the model runs on onnxruntime only; which ops stayed float is recorded in the metadata
(onnxruntime has no quantized GRU or RNN op, and it leaves Scan bodies float).

onnxruntime is imported only here, when asked for: plain ``convert`` never loads it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from pathlib import Path

import onnx

from ..errors import ConversionError, MissingDependencyError

QUANTIZE_MODES = ("int8",)
# the default verify tolerance for a quantized model, where the caller gives none: int8
# weights with per-tensor dynamic activations land about 1e-2 from the float model
QUANTIZED_ATOL = 5e-2
QUANTIZED_RTOL = 5e-2
RECURRENT_OPS = ("LSTM", "GRU", "RNN", "Scan")


def quantize(proto: onnx.ModelProto, mode: str) -> onnx.ModelProto:
    """``proto`` with its weights quantized by ``mode``; metadata ``quantization`` says how
    and which recurrent ops stayed float."""
    if mode not in QUANTIZE_MODES:
        raise ConversionError(f"unknown quantization '{mode}' (choose {', '.join(QUANTIZE_MODES)})")
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise MissingDependencyError(
            "--quantize needs onnxruntime (its quantization tool): pip install 'kerasrnn2onnx[cpu]'") from None
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises a pre-processing pass on every call; ours is already shape-inferred
    try:
        with tempfile.TemporaryDirectory() as folder:
            source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
            onnx.save(proto, str(source))
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
            quantized = onnx.load(str(target))
    finally:
        root.setLevel(level)
    ops = Counter(node.op_type for node in quantized.graph.node)
    record = {
        "mode": mode,
        "scheme": "onnxruntime.quantization.quantize_dynamic, QInt8 weights, dynamic uint8 activations",
        "quantized_ops": {op: n for op, n in sorted(ops.items())
                          if op.startswith(("DynamicQuantize", "MatMulInteger"))},
        "float_recurrent_ops": {op: n for op, n in sorted(ops.items()) if op in RECURRENT_OPS},
    }
    entry = quantized.metadata_props.add()
    entry.key, entry.value = "quantization", json.dumps(record)
    onnx.checker.check_model(quantized, full_check=True)
    return quantized


def quantization_of(proto: onnx.ModelProto) -> dict | None:
    """The ``quantization`` metadata of a model this package quantized, else None."""
    for entry in proto.metadata_props:
        if entry.key == "quantization":
            return json.loads(entry.value)
    return None


def time_against(quantized: onnx.ModelProto, reference: onnx.ModelProto, arrays: list, provider: str = "cpu",
                 rounds: int = 5, min_seconds: float = 0.02) -> tuple[float, float]:
    """Median seconds per call of ``quantized`` and of the float ``reference`` through the
    Session, interleaved round by round (so machine drift hits both alike)."""
    import statistics

    from .stateful import Session
    from .timing import interleaved_rounds, seconds_per_call

    sessions = [Session(quantized, provider), Session(reference, provider)]
    for session in sessions:
        session.run(list(arrays))

    def one_sample(index: int) -> float:
        session = sessions[index]
        if session.state_names:
            session.reset_states()
        return seconds_per_call(lambda: session.run(list(arrays)), min_seconds)

    samples = interleaved_rounds([0, 1], rounds, one_sample)
    return statistics.median(samples[0]), statistics.median(samples[1])
