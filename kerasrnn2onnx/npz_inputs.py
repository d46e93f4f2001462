"""Model inputs from an ``.npz``, shared by ``verify --inputs`` and ``run --inputs``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ModelFileError, RuntimeInputError
from .io import guard


def load_npz_inputs(path: str | os.PathLike, names: Sequence[str]) -> list[np.ndarray]:
    """One array per input, found by input name, ``arr_<i>`` (``np.savez`` positional) or
    ``c0_in<i>`` (the fixtures' first case)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "inputs file not found")
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise ModelFileError(path, "inputs must be an .npz (np.savez of the input arrays)")
    stored = guard.read_npz(path, path, "inputs .npz")
    arrays = []
    for i, name in enumerate(names):
        for key in (name, f"arr_{i}", f"c0_in{i}"):
            if key in stored:
                arrays.append(stored[key])
                break
        else:
            raise RuntimeInputError(f"{path}: no array for input '{name}' (keys: {', '.join(stored)})")
    return arrays
