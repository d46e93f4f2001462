"""Dispatch tables that refuse a second entry for a key.

Each stage (reference, lowering) handles a layer by looking its spec type up in one of these
tables instead of walking an ``isinstance`` chain. A second entry for the same key is an
error at import time rather than a silent override, in the manner of sklearn-onnx's
converter registration, so two modules cannot both claim a layer kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Registry(Generic[K, V]):
    """A table from key (a spec type, a name) to handler, filled once at import."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[K, V] = {}

    def add(self, key: K, value: V) -> V:
        """Register ``value`` under ``key``; a key registered twice is refused."""
        if key in self._entries:
            raise ValueError(f"{self.what}: {_shown(key)} is already registered ({self._entries[key]!r})")
        self._entries[key] = value
        return value

    def register(self, *keys: K) -> Callable[[V], V]:
        """Decorator form of :meth:`add`, for one or several keys."""

        def decorate(value: V) -> V:
            for key in keys:
                self.add(key, value)
            return value

        return decorate

    def __getitem__(self, key: K) -> V:
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f"{self.what}: nothing registered for {_shown(key)}") from None

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _shown(key: object) -> str:
    return key.__name__ if isinstance(key, type) else repr(key)
