"""Running converted models with onnxruntime (imported lazily)."""

from .session import import_onnxruntime, resolve_providers
from .stateful import Session

__all__ = ["Session", "import_onnxruntime", "resolve_providers"]
