"""Running converted models with onnxruntime (imported lazily)."""

from .session import create_session, import_onnxruntime

__all__ = ["create_session", "import_onnxruntime"]
