"""onnxruntime sessions on CPU or CUDA, imported lazily.

Conversion never needs onnxruntime; only ``verify`` and running do, so the import lives
here and a missing install becomes a one-line instruction instead of an ImportError.
"""

from __future__ import annotations

from typing import Any

import onnx

from ..errors import MissingDependencyError

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(
            "this needs onnxruntime: pip install 'kerasrnn2onnx[cpu]' (or 'kerasrnn2onnx[gpu]' for CUDA)"
        ) from None
    return onnxruntime


def create_session(model: onnx.ModelProto | str, provider: str = "cpu") -> Any:
    """An InferenceSession on exactly the requested provider (no silent CPU substitute)."""
    ort = import_onnxruntime()
    if provider not in PROVIDERS:
        raise MissingDependencyError(f"unknown provider '{provider}' (choose cpu or cuda)")
    wanted = PROVIDERS[provider]
    if wanted not in ort.get_available_providers():
        raise MissingDependencyError(
            f"onnxruntime here has no {wanted}: install 'kerasrnn2onnx[gpu]' (onnxruntime-gpu) on a machine with CUDA"
        )
    providers = [wanted] if provider == "cpu" else [wanted, "CPUExecutionProvider"]
    payload = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    session = ort.InferenceSession(payload, providers=providers)
    if session.get_providers()[0] != wanted:
        raise MissingDependencyError(f"onnxruntime could not start {wanted} (CUDA or cuDNN libraries missing?)")
    return session
