"""Typed errors: every failure a user can cause names the file, layer or key at fault.

The CLI turns any :class:`ConversionError` into one line on stderr and exit code 2, so
the message itself must be complete and readable on its own.
"""

from __future__ import annotations


class ConversionError(Exception):
    """Base of every error caused by the input (a file, a config, a weight, an option)."""

    exit_code = 2


class ModelFileError(ConversionError):
    """The file itself cannot be read as a Keras model (missing, empty, corrupt, wrong kind)."""

    def __init__(self, path: object, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class LayerError(ConversionError):
    """A layer's config or weights are invalid or unsupported."""

    def __init__(self, layer: str, message: str, key: str | None = None) -> None:
        where = f"layer '{layer}'" + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {message}")
        self.layer = layer
        self.key = key


class UnsupportedError(LayerError):
    """A valid Keras feature that this converter cannot lower exactly (yet)."""


class MissingDependencyError(ConversionError):
    """An optional dependency (onnxruntime) is needed for the requested action."""


class RuntimeInputError(ConversionError):
    """Inputs given to verify/run do not fit the model."""
