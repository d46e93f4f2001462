"""onnxruntime and its execution providers (CPU or CUDA), imported lazily.

Conversion never needs onnxruntime; only ``verify`` and running do, so the import lives
here and a missing install becomes a one-line instruction instead of an ImportError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def resolve_providers(providers: Sequence[Any] | str | None, ort: Any) -> list[Any]:
    """onnxruntime providers for ``"cpu"``, ``"cuda"`` or an explicit list; a requested
    provider this onnxruntime lacks is an error, never a silent CPU substitute (the CPU is
    only appended as the fallback for nodes the first provider does not implement)."""
    if providers is None:
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        if providers not in PROVIDERS and providers not in PROVIDERS.values():
            raise MissingDependencyError(f"unknown provider '{providers}' (choose cpu or cuda)")
        providers = [PROVIDERS.get(providers, providers)]
    wanted = [p[0] if isinstance(p, tuple) else p for p in providers]
    missing = [p for p in wanted if p not in ort.get_available_providers()]
    if missing:
        raise MissingDependencyError(
            f"onnxruntime here lacks {', '.join(missing)}: install 'kerasrnn2onnx[gpu]' (onnxruntime-gpu) "
            "on a machine with CUDA")
    if "CUDAExecutionProvider" in wanted and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from the nvidia Python packages, before any CUDA session
    result = list(providers)
    if wanted[0] != "CPUExecutionProvider" and "CPUExecutionProvider" not in wanted:
        result.append("CPUExecutionProvider")
    return result
