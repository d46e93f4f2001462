"""A live ``keras.Model`` from the caller's process, converted through a file its own Keras writes.

The package never imports Keras. A live model is recognised by duck typing: one of its classes
comes from a ``keras`` or ``tf_keras`` module, and it has a ``save`` method. It is saved with
the caller's Keras (whatever version that is, custom objects included) to a temporary
``.keras`` archive (Keras 3) or legacy ``.h5`` (tf-keras and standalone Keras 2, whose
``.keras`` is not what Keras 3 writes), that file is read like any other, and the temporary
folder is removed whatever happens.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConversionError


class LiveModel(Protocol):
    """What a live Keras model offers the converter: ``save`` to a path."""

    def save(self, filepath: str, /) -> Any: ...

KERAS_ROOTS = ("keras", "tf_keras")
KERAS2_MODULE_PARTS = (".engine.", ".legacy.")  # Keras 2 layouts (keras.engine, keras.src.engine)


def _keras_modules(obj: Any) -> list[str]:
    """The modules of the object's classes that belong to a Keras package."""
    modules = []
    for cls in type(obj).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if module.split(".", 1)[0] in KERAS_ROOTS or module.startswith("tensorflow.python.keras"):
            modules.append(module)
    return modules


def is_live_model(obj: Any) -> bool:
    """A Keras model object (Keras 3, tf-keras or Keras 2), not a path or a spec."""
    return bool(_keras_modules(obj)) and callable(getattr(obj, "save", None))


def save_suffix(obj: Any) -> str:
    """``.keras`` for a Keras 3 model, ``.h5`` for tf-keras / Keras 2 (their own default
    format for a file to be read back without TensorFlow)."""
    modules = _keras_modules(obj)
    root = modules[0].split(".", 1)[0]
    if root != "keras":
        return ".h5"
    version = getattr(sys.modules.get("keras"), "__version__", None)  # only if the caller imported it
    if isinstance(version, str) and version[:2] in ("2.", "3."):
        return ".keras" if version.startswith("3.") else ".h5"
    return ".h5" if any(part in f"{m}." for m in modules for part in KERAS2_MODULE_PARTS) else ".keras"


@contextmanager
def saved_model_file(obj: Any) -> Iterator[Path]:
    """Save a live model with its own Keras into a temporary folder; yield the file's path."""
    suffix = save_suffix(obj)
    with tempfile.TemporaryDirectory(prefix="kerasrnn2onnx-live-") as folder:
        path = Path(folder) / f"model{suffix}"
        try:
            obj.save(str(path))
        except Exception as exc:  # the caller's Keras raises many types; say which and why
            raise ConversionError(f"saving the live model to a {suffix} file with its Keras failed: "
                                  f"{type(exc).__name__}: {exc}") from None
        if not path.is_file():
            raise ConversionError(f"the live model's save() wrote no {suffix} file")
        yield path
