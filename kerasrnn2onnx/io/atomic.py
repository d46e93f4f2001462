"""Atomic writers: an output file appears complete or not at all.

Each writes through a temporary file in the destination folder and renames it into place,
so a failure (or a refusal halfway) never leaves a half-written model or ``.npz`` behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..errors import ConversionError


def save_atomically(proto: onnx.ModelProto, path: Path) -> None:
    """The model written beside ``path`` and renamed into place when complete."""
    write_atomically(Path(path), lambda handle: handle.write(proto.SerializeToString()))


def write_atomically(path: Path, write: Callable[[Any], object]) -> None:
    """Write through a temporary file in the same folder, renamed into place when complete,
    so a failure never leaves a half-written output."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ConversionError(f"{path}: output directory does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_npz_atomically(arrays: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """``np.savez`` of ``arrays``, written atomically."""
    named: dict[str, Any] = dict(arrays)  # Any: numpy's stub would match a key to savez's allow_pickle flag
    write_atomically(Path(path), lambda handle: np.savez(handle, **named))
