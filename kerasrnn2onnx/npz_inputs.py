"""Model inputs from an ``.npz``, shared by ``verify --inputs`` and ``run --inputs``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelFileError, RuntimeInputError


def load_npz_inputs(path: str | os.PathLike, names: Sequence[str]) -> list[np.ndarray]:
    """One array per input, found by input name, ``arr_<i>`` (``np.savez`` positional) or
    ``c0_in<i>`` (the fixtures' first case)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {k: np.asarray(data[k]) for k in data.keys()}
    except (OSError, ValueError) as exc:
        raise ModelFileError(path, f"cannot read inputs .npz ({exc})") from None
    arrays = []
    for i, name in enumerate(names):
        for key in (name, f"arr_{i}", f"c0_in{i}"):
            if key in stored:
                arrays.append(stored[key])
                break
        else:
            raise RuntimeInputError(f"{path}: no array for input '{name}' (keys: {', '.join(stored)})")
    return arrays
