"""One cell step as ONNX ops, written once and used by both the Scan and unrolled lowerings.

Each cell kind's :class:`CellStep` (registered in ``CELL_STEPS`` by cell spec type) knows
a cell's weights in the layouts its step wants, the part of
the computation that can run for all timesteps at once outside the loop (the input
projection ``x·kernel + bias``: one MatMul over the whole sequence), and the step itself,
traced with an onnxscript op builder into whichever graph is being built (the main graph
for ``unroll``, a Scan body for ``scan``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import onnx_ir as ir

from ..errors import UnsupportedError
from ..registry import Registry
from ..spec.activations import ActivationSpec
from ..spec.cells import BuiltinCellSpec, CellSpec, CustomCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec
from .context import LoweringContext
from .tuning import WIDE_LSTM_UNITS


class CellStep(Protocol):
    """What the scan and unroll loops need of a cell, whatever its kind: one implementation
    per cell spec type, registered in :data:`CELL_STEPS` (the built-in cells'
    :class:`CellLowering` subclasses, users' cells' :class:`CustomCellLowering`)."""

    @property
    def state_units(self) -> list[int]:
        """The width of each state, in the cell's state order."""
        ...

    def precompute(self, ctx: LoweringContext, x_seq: Any) -> list[Any]:
        """The loop's per-step inputs, computed for every step at once (time-major)."""
        ...

    def step(self, op: Any, step_inputs: Sequence[Any], states: Sequence[Any]) -> tuple[Any, list[Any]]:
        """``(output, new_states)`` of one timestep."""
        ...


CellStepBuilder = Callable[[LoweringContext, Any, Sequence[Any]], CellStep]
CELL_STEPS: Registry[type, CellStepBuilder] = Registry("cell step lowering")
"""Cell spec type -> ``(ctx, cell, constants) -> CellStep``: the ONNX step of that kind."""


def cell_step(ctx: LoweringContext, cell: CellSpec, constants: Sequence[Any]) -> CellStep:
    """The :class:`CellStep` of ``cell``, its weights added to the graph being built."""
    return CELL_STEPS[type(cell)](ctx, cell, constants)


@dataclass
class CellLowering:
    """Weights of one built-in cell as graph values, cut into gate blocks; each cell kind's
    subclass says how its gates are blocked and writes its step.

    Why blocks: each block has its own input projection (computed outside the loop, so the
    loop gets one step input per block) and its own recurrent Gemm, which onnxruntime fuses
    with the activation that follows. A step then never Splits a projection, a copy of the
    whole gate pre-activation per step (measurably slower for GRU Scan). Blocks: SimpleRNN
    one; GRU ``(z,r)`` and ``h``; LSTM ``(i,f,o)`` and ``c`` (the sigmoid gates adjacent: one
    activation node), one block ``i,f,o,c`` from ``WIDE_LSTM_UNITS`` (there one Gemm + Split
    was as fast as two Gemms or faster), or i, f, c, o when the recurrent activation
    normalises across units. Current timings: docs/performance.md.
    """

    cell: BuiltinCellSpec
    kernels: list[Any]  # per block: (input_size, width), or (input_size + 1, width) ending with the bias
    has_bias: bool  # GRU reset_after: the z,r block's kernel row holds both biases (plain sums there)
    recurrents: list[Any]  # per block: (units, width)
    recurrent_h_bias: Any | None  # GRU reset_after: the h block's recurrent bias (inside r * ...)
    gate_split: Any | None  # sizes splitting a block into its gates
    three_gates: Any | None = None  # LSTM as one block: (u, u, u) for its activated i, f, o

    @staticmethod
    def blocks(ctx: LoweringContext, cell: Any) -> tuple[list[tuple[int, ...]], Any | None]:
        """The gate blocks (Keras gate indices) and the sizes that split a block into gates."""
        return [(0,)], None

    @classmethod
    def build(cls, ctx: LoweringContext, cell: Any, constants: Sequence[Any] = ()) -> CellLowering:
        u = cell.units
        blocks, split = cls.blocks(ctx, cell)

        def cut(matrix: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
            return np.concatenate([matrix[..., k * u:(k + 1) * u] for k in block], -1)

        # GRU reset_after keeps two bias rows: the input bias and the recurrent one
        two_biases = cell.bias if isinstance(cell, GRUCellSpec) and cell.reset_after else None
        input_bias = two_biases[0] if two_biases is not None else cell.bias
        kernels, recurrents = [], []
        for index, block in enumerate(blocks):
            suffix = "" if len(blocks) == 1 else f"_{index}"
            bias = cut(input_bias, block) if input_bias is not None else None
            if two_biases is not None and bias is not None and index == 0:
                bias = bias + cut(two_biases[1], block)  # z, r: both biases are plain sums
            kernel = cut(cell.kernel, block)
            if bias is not None:  # the bias rides as the kernel's last row (see precompute)
                kernel = np.concatenate([kernel, bias[None, :]], 0)
            kernels.append(ctx.weight(f"kernel{suffix}", kernel))
            recurrents.append(ctx.weight(f"recurrent_kernel{suffix}", cut(cell.recurrent_kernel, block)))
        h_bias = None
        if two_biases is not None:
            h_bias = ctx.weight("recurrent_bias_h", two_biases[1][2 * u:])
        three = ctx.ints(u, u, u) if isinstance(cell, LSTMCellSpec) and len(blocks) == 1 else None
        return cls(cell, kernels, cell.bias is not None, recurrents, h_bias, split, three)

    @property
    def state_count(self) -> int:
        return len(self.cell.state_names)

    @property
    def state_units(self) -> list[int]:
        return [self.cell.units] * self.state_count

    def precompute(self, ctx: LoweringContext, x_seq: Any) -> list[Any]:
        """Per-step inputs of the loop, computed for all steps at once: ``x·kernel + b`` per
        block. With a bias, x gets a column of ones and the kernel the bias as its last
        row, so one MatMul adds it: a separate Add over the whole (time, batch, gates*units)
        result cost several times what the extra column costs."""
        op = ctx.op
        if not self.has_bias:
            return [op.MatMul(x_seq, kernel) for kernel in self.kernels]
        ones_shape = op.Concat(ctx.time_batch_dims(x_seq), ctx.ints(1), axis=0)
        ones = op.ConstantOfShape(ones_shape, value=ir.tensor(np.ones(1, np.float32)))
        x_ones = op.Concat(x_seq, ones, axis=2)
        return [op.MatMul(x_ones, kernel) for kernel in self.kernels]

    def step(self, op: Any, step_inputs: Sequence[Any], states: Sequence[Any]) -> tuple[Any, list[Any]]:
        """``(output, new_states)`` of one timestep, Keras's equations as ONNX ops."""
        raise NotImplementedError(type(self).__name__)


class SimpleRNNStep(CellLowering):
    """``h = activation(h·R + x·W + b)``: one block, one Gemm per step."""

    def step(self, op: Any, step_inputs: Sequence[Any], states: Sequence[Any]) -> tuple[Any, list[Any]]:
        (h,) = states
        cell = cast(SimpleRNNCellSpec, self.cell)
        new_h = cell.activation.emit(op, op.Gemm(h, self.recurrents[0], step_inputs[0]))
        return new_h, [new_h]


class LSTMStep(CellLowering):
    """Keras's LSTM step over the blocks the class docstring describes."""

    @staticmethod
    def blocks(ctx: LoweringContext, cell: Any) -> tuple[list[tuple[int, ...]], Any | None]:
        u = cell.units
        # blocks by Keras gate index (i, f, c, o); see the class docstring
        if not cell.recurrent_activation.elementwise:
            return [(0,), (1,), (2,), (3,)], None
        if u >= WIDE_LSTM_UNITS:
            return [(0, 1, 3, 2)], ctx.ints(3 * u, u)
        return [(0, 1, 3), (2,)], ctx.ints(u, u, u)

    def step(self, op: Any, step_inputs: Sequence[Any], states: Sequence[Any]) -> tuple[Any, list[Any]]:
        cell = cast(LSTMCellSpec, self.cell)
        h, c = states
        pre = [op.Gemm(h, recurrent, x) for recurrent, x in zip(self.recurrents, step_inputs, strict=True)]
        ra = cell.recurrent_activation
        if len(pre) == 1:  # one block i,f,o,c
            ifo, g = op.Split(pre[0], self.gate_split, axis=-1, _outputs=2)
            i, f, o = op.Split(ra.emit(op, ifo), self.three_gates, axis=-1, _outputs=3)
        elif len(pre) == 2:  # blocks (i,f,o) and c
            i, f, o = op.Split(ra.emit(op, pre[0]), self.gate_split, axis=-1, _outputs=3)
            g = pre[1]
        else:
            i, f, g, o = ra.emit(op, pre[0]), ra.emit(op, pre[1]), pre[2], ra.emit(op, pre[3])
        new_c = op.Add(op.Mul(f, c), op.Mul(i, cell.activation.emit(op, g)))
        new_h = op.Mul(o, cell.activation.emit(op, new_c))
        return new_h, [new_h, new_c]


class GRUStep(CellLowering):
    """Keras's GRU step: blocks (z, r) and h, reset before or after the recurrent matmul."""

    @staticmethod
    def blocks(ctx: LoweringContext, cell: Any) -> tuple[list[tuple[int, ...]], Any | None]:
        u = cell.units
        return [(0, 1), (2,)], ctx.ints(u, u)

    def step(self, op: Any, step_inputs: Sequence[Any], states: Sequence[Any]) -> tuple[Any, list[Any]]:
        cell = cast(GRUCellSpec, self.cell)
        h = states[0]
        x_zr, x_h = step_inputs
        recurrent_zr, recurrent_h = self.recurrents
        z, r = self._gates(op, cell.recurrent_activation, op.Gemm(h, recurrent_zr, x_zr))
        if cell.reset_after:
            inner = (op.Gemm(h, recurrent_h, self.recurrent_h_bias) if self.recurrent_h_bias is not None
                     else op.MatMul(h, recurrent_h))
            candidate = cell.activation.emit(op, op.Add(x_h, op.Mul(r, inner)))
        else:
            candidate = cell.activation.emit(op, op.Add(x_h, op.MatMul(op.Mul(r, h), recurrent_h)))
        # z*h + (1-z)*candidate, written as candidate + z*(h - candidate): one node fewer
        new_h = op.Add(candidate, op.Mul(z, op.Sub(h, candidate)))
        return new_h, [new_h]

    def _gates(self, op: Any, ra: ActivationSpec, pre_zr: Any) -> tuple[Any, Any]:
        """z and r from their joint pre-activation: activate once, then split, unless the
        activation normalises across units (Keras activates each gate on its own)."""
        if ra.elementwise:
            z, r = op.Split(ra.emit(op, pre_zr), self.gate_split, axis=-1, _outputs=2)
            return z, r
        z, r = op.Split(pre_zr, self.gate_split, axis=-1, _outputs=2)
        return ra.emit(op, z), ra.emit(op, r)


@dataclass
class CustomCellLowering:
    """A registered custom cell: the loop feeds it raw ``x_t`` (no projection can be taken
    out of an unknown step) and its constants, with its weights bound by name."""

    cell: CustomCellSpec
    weights: dict[str, Any]
    constants: list[Any]

    @classmethod
    def build(cls, ctx: LoweringContext, cell: Any, constants: Sequence[Any] = ()) -> CustomCellLowering:
        return cls(cell, {name: ctx.weight(name, array) for name, array in cell.weights.items()}, list(constants))

    @property
    def state_units(self) -> list[int]:
        return list(self.cell.state_sizes)

    def precompute(self, ctx: LoweringContext, x_seq: Any) -> list[Any]:
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
            results = fn(op, *positional, **dict(zip(bound, weights, strict=True)))
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        if len(results) != 1 + len(states):
            raise UnsupportedError(self.cell.name, f"the step of converter '{converter.keras_name}' returned "
                                   f"{len(results)} value(s); expected output and {len(states)} state(s)")
        return results[0], results[1:]


CELL_STEPS.add(SimpleRNNCellSpec, SimpleRNNStep.build)
CELL_STEPS.add(GRUCellSpec, GRUStep.build)
CELL_STEPS.add(LSTMCellSpec, LSTMStep.build)
CELL_STEPS.add(CustomCellSpec, CustomCellLowering.build)
