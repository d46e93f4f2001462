"""Weights as lazy handles: the declared shape and dtype are known, the data is read on request.

A weight's shape is fixed by the config (an LSTM(4) on 2 features has a (2, 16) kernel), but
a file may declare anything: a genuine 1.6 GB dataset under the size limits would be read in
full before a shape check on the array could refuse it. So readers (Keras 3 object paths,
Keras 2 ``weight_names`` groups, ``.npz`` members) hand out :class:`WeightHandle` values
instead of arrays, and the spec stage compares each handle's declared shape and dtype with
what the config requires before calling :meth:`WeightHandle.read`, the one place where a
weight's data is read (through :mod:`.guard`). The spec keeps only the arrays it read.

A handle reads from a file its :class:`~.raw.RawModel` keeps open; close the model (it is a
context manager) once its spec is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelFileError


@dataclass(frozen=True, eq=False)
class WeightHandle:
    """One stored weight: where it is, what it declares, and how to read it.

    ``name`` is its place in the file (``layers/lstm/cell/vars/0``), for messages; ``source``
    the file, for the error raised when the data does not match its declaration."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    source: object
    load: Callable[[], np.ndarray] = field(repr=False)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    def read(self) -> np.ndarray:
        """The data, which must be what the handle declared (a reader never reshapes)."""
        array = self.load()
        if array.shape != self.shape or array.dtype != self.dtype:
            raise ModelFileError(self.source, f"weight '{self.name}' declared {self.shape} {self.dtype} but holds "
                                              f"{array.shape} {array.dtype}")
        return array

    @classmethod
    def of_array(cls, array: np.ndarray, name: str, source: object) -> WeightHandle:
        """A handle over an array already in memory (arrays a reader derives, tests)."""
        return cls(name, tuple(array.shape), array.dtype, source, lambda: array)
