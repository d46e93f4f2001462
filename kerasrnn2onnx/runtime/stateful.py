"""The old home of :class:`Session` (it serves stateless models too); kept so imports work."""

from .session import Session

__all__ = ["Session"]
