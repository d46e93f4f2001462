"""One cell step as ONNX ops, written once and used by both the Scan and unrolled lowerings.

A :class:`CellLowering` knows a cell's weights in the layouts its step wants, the part of
the computation that can run for all timesteps at once outside the loop (the input
projection ``x·kernel + bias``: one MatMul over the whole sequence), and the step itself,
traced with an onnxscript op builder into whichever graph is being built (the main graph
for ``unroll``, a Scan body for ``scan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import UnsupportedError
from ..spec.types import CellSpec, CustomCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec
from .context import LoweringContext


@dataclass
class CellLowering:
    """Weights of one built-in cell as graph values, and its step."""

    cell: CellSpec
    kernel: Any
    recurrent: Any  # the whole recurrent kernel, or for GRU reset_after=False its z,r block
    recurrent_h: Any | None  # GRU reset_after=False: the h block, applied to r*h
    input_bias: Any | None
    recurrent_bias: Any | None
    gru_split: Any | None  # sizes (2u, u) for splitting GRU projections
    even_split: Any  # (3u, u) or (u, u, u, u) for LSTM gates, (u, u) for GRU z and r
    sigmoid_split: Any | None = None  # (u, u, u) for the LSTM's i, f, o block

    @classmethod
    def build(cls, ctx: LoweringContext, cell: CellSpec) -> "CellLowering":
        input_bias = recurrent_bias = recurrent_h = gru_split = None
        if isinstance(cell, LSTMCellSpec):
            return cls._build_lstm(ctx, cell)
        if cell.bias is not None:
            if isinstance(cell, GRUCellSpec) and cell.reset_after:
                input_bias = ctx.weight("input_bias", cell.bias[0])
                recurrent_bias = ctx.weight("recurrent_bias", cell.bias[1])
            else:
                input_bias = ctx.weight("bias", cell.bias)
        if isinstance(cell, GRUCellSpec):
            gru_split = ctx.ints(2 * cell.units, cell.units)
        if isinstance(cell, GRUCellSpec) and not cell.reset_after:
            u = cell.units
            recurrent = ctx.weight("recurrent_kernel_zr", cell.recurrent_kernel[:, : 2 * u])
            recurrent_h = ctx.weight("recurrent_kernel_h", cell.recurrent_kernel[:, 2 * u :])
        else:
            recurrent = ctx.weight("recurrent_kernel", cell.recurrent_kernel)
        even_split = ctx.ints(*[cell.units] * (4 if isinstance(cell, LSTMCellSpec) else 2))
        return cls(cell, ctx.weight("kernel", cell.kernel), recurrent, recurrent_h, input_bias, recurrent_bias,
                   gru_split, even_split)

    @classmethod
    def _build_lstm(cls, ctx: LoweringContext, cell: LSTMCellSpec) -> "CellLowering":
        """Gates reordered i,f,c,o -> i,f,o,c so the three sigmoid gates are one block
        (one activation node per step instead of three) when the activation is elementwise."""
        u = cell.units
        order = (0, 1, 3, 2) if cell.recurrent_activation.elementwise else (0, 1, 2, 3)

        def reorder(matrix):
            return None if matrix is None else np.concatenate([matrix[..., k * u:(k + 1) * u] for k in order], -1)

        bias = ctx.weight("bias", reorder(cell.bias)) if cell.bias is not None else None
        split = ctx.ints(3 * u, u) if order != (0, 1, 2, 3) else ctx.ints(u, u, u, u)
        return cls(cell, ctx.weight("kernel", reorder(cell.kernel)), ctx.weight("recurrent_kernel",
                   reorder(cell.recurrent_kernel)), None, bias, None, None, split, ctx.ints(u, u, u))

    @property
    def state_count(self) -> int:
        return len(self.cell.state_names)

    @property
    def state_units(self) -> list[int]:
        return [self.cell.units] * self.state_count

    def precompute(self, op: Any, x_seq: Any) -> list[Any]:
        """Per-step inputs of the loop, computed for all steps at once: ``[x·kernel + b]``."""
        projection = op.MatMul(x_seq, self.kernel)
        if self.input_bias is not None:
            projection = op.Add(projection, self.input_bias)
        return [projection]

    def step(self, op: Any, step_inputs: Sequence[Any], states: Sequence[Any]) -> tuple[Any, list[Any]]:
        """``(output, new_states)`` of one timestep, Keras's equations as ONNX ops."""
        (projection,) = step_inputs
        cell = self.cell
        if isinstance(cell, SimpleRNNCellSpec):
            (h,) = states
            new_h = cell.activation.emit(op, op.Gemm(h, self.recurrent, projection))
            return new_h, [new_h]
        if isinstance(cell, LSTMCellSpec):
            h, c = states
            z = op.Gemm(h, self.recurrent, projection)
            ra = cell.recurrent_activation
            if ra.elementwise:  # gates are i,f,o,c (see _build_lstm)
                ifo, g = op.Split(z, self.even_split, axis=-1, _outputs=2)
                i, f, o = op.Split(ra.emit(op, ifo), self.sigmoid_split, axis=-1, _outputs=3)
            else:
                zi, zf, g, zo = op.Split(z, self.even_split, axis=-1, _outputs=4)
                i, f, o = ra.emit(op, zi), ra.emit(op, zf), ra.emit(op, zo)
            new_c = op.Add(op.Mul(f, c), op.Mul(i, cell.activation.emit(op, g)))
            new_h = op.Mul(o, cell.activation.emit(op, new_c))
            return new_h, [new_h, new_c]
        if isinstance(cell, GRUCellSpec):
            return self._gru_step(op, projection, states[0])
        raise TypeError(type(cell).__name__)

    def _gru_step(self, op: Any, projection: Any, h: Any) -> tuple[Any, list[Any]]:
        cell = self.cell
        act = cell.activation
        x_zr, x_h = op.Split(projection, self.gru_split, axis=-1, _outputs=2)
        if cell.reset_after:
            if self.recurrent_bias is not None:
                inner = op.Gemm(h, self.recurrent, self.recurrent_bias)
            else:
                inner = op.MatMul(h, self.recurrent)
            h_zr, h_h = op.Split(inner, self.gru_split, axis=-1, _outputs=2)
            z, r = self._gates(op, op.Add(x_zr, h_zr))
            candidate = act.emit(op, op.Add(x_h, op.Mul(r, h_h)))
        else:
            z, r = self._gates(op, op.Gemm(h, self.recurrent, x_zr))
            candidate = act.emit(op, op.Add(x_h, op.MatMul(op.Mul(r, h), self.recurrent_h)))
        # z*h + (1-z)*candidate, written as candidate + z*(h - candidate): one node fewer
        new_h = op.Add(candidate, op.Mul(z, op.Sub(h, candidate)))
        return new_h, [new_h]

    def _gates(self, op: Any, pre_zr: Any) -> tuple[Any, Any]:
        """z and r from their joint pre-activation: activate once, then split, unless the
        activation normalises across units (Keras activates each gate on its own)."""
        ra = self.cell.recurrent_activation
        if ra.elementwise:
            z, r = op.Split(ra.emit(op, pre_zr), self.even_split, axis=-1, _outputs=2)
            return z, r
        z, r = op.Split(pre_zr, self.even_split, axis=-1, _outputs=2)
        return ra.emit(op, z), ra.emit(op, r)



@dataclass
class CustomCellLowering:
    """A registered custom cell: the loop feeds it raw ``x_t`` (no projection can be taken
    out of an unknown step) and its constants, with its weights bound by name."""

    cell: CustomCellSpec
    weights: dict[str, Any]
    constants: list[Any]

    @classmethod
    def build(cls, ctx: LoweringContext, cell: CustomCellSpec, constants: Sequence[Any]) -> "CustomCellLowering":
        return cls(cell, {name: ctx.weight(name, array) for name, array in cell.weights.items()}, list(constants))

    @property
    def state_units(self) -> list[int]:
        return list(self.cell.state_sizes)

    def precompute(self, op: Any, x_seq: Any) -> list[Any]:
        return [x_seq]

    def step(self, op: Any, step_inputs: Sequence[Any], states: Sequence[Any]) -> tuple[Any, list[Any]]:
        converter = self.cell.converter
        positional = [step_inputs[0], *states, *self.constants]
        names = converter.step_parameters()
        bound = names[len(positional):]
        unknown = [n for n in bound if n not in self.weights]
        if unknown or len(names) < len(positional):
            raise UnsupportedError(self.cell.name, f"the step of converter '{converter.keras_name}' takes parameters "
                                   f"{names}; expected x_t, {len(states)} state(s), {len(self.constants)} constant(s), "
                                   f"then weight names from {sorted(self.weights)}")
        weights = [self.weights[n] for n in bound]
        fn = converter.onnx_step
        if hasattr(fn, "function_ir"):  # an onnxscript @script function: inline its body here
            results = op.builder.call_inline(fn, *positional, *weights)
        else:
            results = fn(op, *positional, **dict(zip(bound, weights)))
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        if len(results) != 1 + len(states):
            raise UnsupportedError(self.cell.name, f"the step of converter '{converter.keras_name}' returned "
                                   f"{len(results)} value(s); expected output and {len(states)} state(s)")
        return results[0], results[1:]
