"""Running converted models with onnxruntime (imported lazily)."""

from .providers import import_onnxruntime, resolve_providers
from .session import Session

__all__ = ["Session", "import_onnxruntime", "resolve_providers"]
