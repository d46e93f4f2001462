"""Reading an ONNX file given to ``verify``: untrusted like any model file."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from ..errors import ModelFileError


def load_onnx_model(onnx_path: str | os.PathLike) -> onnx.ModelProto:
    """The model in ``onnx_path``; external-data tensors (paths the file names) are refused."""
    path = Path(onnx_path)
    if not path.is_file():
        raise ModelFileError(path, "ONNX file not found")
    try:
        # never follow external-data paths an ONNX file names: this converter writes none
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises several unrelated types for corrupt files
        raise ModelFileError(path, f"not a readable ONNX model ({type(exc).__name__})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise ModelFileError(path, "the ONNX model keeps tensors in external files: refused")
    return proto
