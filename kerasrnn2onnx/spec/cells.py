"""Specs of recurrent cells: Keras's built-in cells and users' registered ones.

Each cell spec answers, on its own, what every later stage asks of a cell in general
(its state widths, its weights by name, how it reads in ``inspect``), so no stage walks an
``isinstance`` chain over cell kinds. What a stage does *with* a particular kind (its
NumPy step, its ONNX step, its native op) lives in that stage's registry keyed by the
cell spec's type: ``reference/cells.py:REFERENCE_STEPS``, ``lowering/cells.py:CELL_STEPS``,
``lowering/native.py:NATIVE_CELLS``; ``spec/parse_cells.py:CELL_PARSERS`` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..custom import CustomCell
from .activations import ActivationSpec


@dataclass(frozen=True, eq=False)
class _KerasCell:
    """What Keras's built-in cells share: a kernel, a recurrent kernel, an optional bias,
    ``gates`` blocks of ``units`` columns each, every state ``units`` wide."""

    name: str
    units: int
    input_size: int
    activation: ActivationSpec
    use_bias: bool
    kernel: np.ndarray  # (input_size, gates*units)
    recurrent_kernel: np.ndarray  # (units, gates*units)
    bias: np.ndarray | None

    kind: ClassVar[str]
    gates: ClassVar[int]
    state_names: ClassVar[tuple[str, ...]]

    @property
    def state_widths(self) -> tuple[int, ...]:
        return (self.units,) * len(self.state_names)

    def arrays(self) -> dict[str, np.ndarray | None]:
        """The weights by name, in Keras's layouts (what the reference steps read)."""
        return {"kernel": self.kernel, "recurrent_kernel": self.recurrent_kernel, "bias": self.bias}

    def _described(self) -> list[str]:
        return [f"units={self.units}", f"activation={self.activation.describe()}"]

    def describe(self) -> str:
        parts = self._described() + ([] if self.use_bias else ["use_bias=False"])
        return f"{self.kind}({', '.join(parts)})"


@dataclass(frozen=True, eq=False)
class SimpleRNNCellSpec(_KerasCell):
    """``h = activation(x·kernel + h·recurrent_kernel + bias)``; bias (units,)."""

    kind: ClassVar[str] = "SimpleRNNCell"
    gates: ClassVar[int] = 1
    state_names: ClassVar[tuple[str, ...]] = ("state_h",)


@dataclass(frozen=True, eq=False)
class GRUCellSpec(_KerasCell):
    """Keras GRU step, gates z, r, h; ``reset_after`` applies the reset gate after the
    recurrent matmul. bias: (2, 3u) when reset_after (input bias, recurrent bias), else (3u,)."""

    recurrent_activation: ActivationSpec
    reset_after: bool

    kind: ClassVar[str] = "GRUCell"
    gates: ClassVar[int] = 3
    state_names: ClassVar[tuple[str, ...]] = ("state_h",)

    def _described(self) -> list[str]:
        return super()._described() + [f"recurrent_activation={self.recurrent_activation.describe()}",
                                       f"reset_after={self.reset_after}"]


@dataclass(frozen=True, eq=False)
class LSTMCellSpec(_KerasCell):
    """Keras LSTM step, gates i, f, c, o; bias (4u,); ``unit_forget_bias`` only affects
    initialisation."""

    recurrent_activation: ActivationSpec

    kind: ClassVar[str] = "LSTMCell"
    gates: ClassVar[int] = 4
    state_names: ClassVar[tuple[str, ...]] = ("state_h", "state_c")

    def _described(self) -> list[str]:
        return super()._described() + [f"recurrent_activation={self.recurrent_activation.describe()}"]


@dataclass(frozen=True, eq=False)
class CustomCellSpec:
    """A user's cell class, converted by the :class:`~kerasrnn2onnx.custom.CustomCell`
    registered under its name. ``weights`` maps the converter's weight names to arrays."""

    name: str
    class_name: str
    converter: CustomCell
    config: dict
    input_size: int
    units: int  # the output width
    state_sizes: tuple[int, ...]
    weights: dict

    kind: ClassVar[str] = "CustomCell"

    @property
    def state_names(self) -> tuple[str, ...]:
        if len(self.state_sizes) == 1:
            return ("state_h",)
        return tuple(f"state_{k}" for k in range(len(self.state_sizes)))

    @property
    def state_widths(self) -> tuple[int, ...]:
        return tuple(self.state_sizes)

    def arrays(self) -> dict[str, np.ndarray | None]:
        return dict(self.weights)

    def describe(self) -> str:
        return f"{self.class_name}(units={self.units}, custom converter '{self.converter.keras_name}')"


BuiltinCellSpec = SimpleRNNCellSpec | GRUCellSpec | LSTMCellSpec
"""A cell Keras defines, lowered by its equations (or by the ONNX op of the same name)."""
CellSpec = BuiltinCellSpec | CustomCellSpec
