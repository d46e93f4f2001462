"""Running converted models with onnxruntime (imported lazily)."""

from .session import create_session, import_onnxruntime
from .stateful import Session

__all__ = ["Session", "create_session", "import_onnxruntime"]
