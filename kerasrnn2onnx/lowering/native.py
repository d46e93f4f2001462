"""The ``native`` lowering: ONNX's own LSTM / GRU / RNN ops, one op per cell.

Exact where every activation has an ONNX attribute form. Masks of any pattern stay on
the native op through *compaction*: a masked step leaves the states alone, so a row's
result equals the recurrence over its unmasked steps only. The unmasked steps are
gathered to the front (stable, per row), the op runs with ``sequence_lens`` = the count
of unmasked steps, and the output at step t is gathered back from position
(unmasked steps up to t) - 1: the previous output at a masked step, zeros before any
unmasked one, exactly Keras's rule. ``go_backwards`` flips input and mask first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import onnx_ir as ir

from ..errors import UnsupportedError
from ..registry import Registry
from ..spec.activations import ActivationSpec
from ..spec.cells import CellSpec, CustomCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec
from ..spec.types import RecurrentLayerSpec
from .context import LoweringContext
from .values import LayerValues
from .weights import onnx_weights


@dataclass(frozen=True)
class NativeCell:
    """A cell kind's ONNX recurrent op: its name, the cell's activations in the order of the
    op's ``activations`` attribute, the op's defaults for them, and extra attributes."""

    op: str
    activations: Callable[[Any], list[ActivationSpec]]
    defaults: tuple[str, ...]
    attributes: Callable[[Any], dict[str, object]] = lambda cell: {}


NATIVE_CELLS: Registry[type, NativeCell] = Registry("native cell op")
"""Cell spec type -> its ONNX op; a cell kind without an entry has no native lowering."""
NATIVE_CELLS.add(SimpleRNNCellSpec, NativeCell("RNN", lambda c: [c.activation], ("Tanh",)))
NATIVE_CELLS.add(GRUCellSpec, NativeCell("GRU", lambda c: [c.recurrent_activation, c.activation], ("Sigmoid", "Tanh"),
                                         lambda c: {"linear_before_reset": int(c.reset_after)}))
NATIVE_CELLS.add(LSTMCellSpec, NativeCell("LSTM", lambda c: [c.recurrent_activation, c.activation, c.activation],
                                          ("Sigmoid", "Tanh", "Tanh")))


def op_name(cell: CellSpec) -> str:
    """The ONNX op of the cell's kind, or the kind itself where there is none (for messages)."""
    native = NATIVE_CELLS.get(type(cell))
    return native.op if native is not None else cell.kind


def activation_attributes(cell: CellSpec) -> dict[str, object] | None:
    """``activations`` / ``activation_alpha`` / ``activation_beta`` for the cell's op, or
    ``None`` when some activation has no attribute form.

    onnxruntime consumes alpha and beta lists *by need*: only functions that take a
    parameter consume one, in order. Default activations are left implicit so restricted
    kernels (cuDNN) see a default node.
    """
    native = NATIVE_CELLS[type(cell)]
    names, alphas, betas = [], [], []
    for fn in native.activations(cell):
        form = fn.onnx_form()
        if form is None:
            return None
        name, alpha, beta = form
        names.append(name)
        if alpha is not None:
            alphas.append(float(alpha))
        if beta is not None:
            betas.append(float(beta))
    if tuple(names) == native.defaults and not alphas and not betas:
        return {}
    attrs: dict[str, object] = {"activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def native_blocker(layer: RecurrentLayerSpec) -> str | None:
    """Why the native ops cannot express ``layer`` exactly, or ``None`` if they can."""
    for cell in layer.cells:
        native = NATIVE_CELLS.get(type(cell))
        if native is None:
            what = f"custom cell '{cell.class_name}'" if isinstance(cell, CustomCellSpec) else f"cell {cell.kind}"
            return f"{what} has no ONNX op"
        if activation_attributes(cell) is None:
            missing = sorted({a.name for a in native.activations(cell) if a.onnx_form() is None})
            return f"activation {', '.join(missing)} has no ONNX {native.op} attribute form"
    return None


def cuda_blocker(layer: RecurrentLayerSpec) -> str | None:
    """Why onnxruntime's cuDNN kernels would not run this layer on the GPU, or ``None``."""
    for cell in layer.cells:
        if isinstance(cell, CustomCellSpec):
            return "a custom cell has no cuDNN kernel"
        if type(cell) not in NATIVE_CELLS:
            return f"cell {cell.kind} has no ONNX op"
        if activation_attributes(cell) != {}:
            return "cuDNN kernels accept only the default activations"
        if isinstance(cell, GRUCellSpec) and not cell.reset_after:
            return "cuDNN GRU needs reset_after=True (linear_before_reset=1)"
    return None


class _Compaction:
    """Gathers a masked sequence's unmasked steps to the front, and outputs back."""

    def __init__(self, ctx: LoweringContext, x_seq: Any, mask_seq: Any) -> None:
        op = ctx.op
        self.ctx = ctx
        keep = op.Cast(ctx.squeeze(mask_seq, 2), to=ir.DataType.INT64)  # (T, B)
        ones = op.Add(op.Mul(keep, 0), ctx.ints(1))
        axis0 = ctx.scalar(0, ir.DataType.INT64)  # CumSum's axis: a 0-D tensor by the spec
        step_index = op.Sub(op.CumSum(ones, axis0), ctx.ints(1))  # t, per row
        steps = ctx.dims(x_seq, 0, 1)
        # masked steps sort after unmasked ones: key t (kept) or T + t (masked), below 2T, so
        # the key fits int32 (OpenVINO's CPU plugin computes int64 in int32; 1 << 40 mis-sorted)
        key = op.Add(op.Mul(op.Sub(ctx.ints(1), keep), steps), step_index)
        _, order = op.TopK(key, steps, axis=0, largest=0, sorted=1, _outputs=2)  # (T, B) unmasked first
        batch = ctx.squeeze(ctx.dims(x_seq, 1, 2), 0)
        self.batch = batch
        self.rows = op.Range(ctx.scalar(0, ir.DataType.INT64), batch, ctx.scalar(1, ir.DataType.INT64))  # (B,)
        self.compact_x = self._gather_steps(x_seq, order)
        self.lengths = op.Cast(ctx.reduce("Sum", keep, 0, 0), to=ir.DataType.INT32)
        self.any_kept = ctx.unsqueeze(op.Greater(self.lengths, ctx.scalar(0, ir.DataType.INT32)), 1)  # (batch, 1)
        seen = op.CumSum(keep, axis0)  # unmasked steps up to and including t
        self.source = op.Max(op.Sub(seen, ctx.ints(1)), ctx.ints(0))
        self.started = ctx.unsqueeze(op.Greater(seen, ctx.ints(0)), 2)
        self.mask = mask_seq

    def _gather_steps(self, sequence: Any, steps: Any) -> Any:
        """``out[t, b] = sequence[steps[t, b], b]`` for a (T, B, width) sequence: one Gather of
        whole rows of its (T*B, width) view. Why not GatherElements: it needs the index
        expanded to every element, which cost 16% of a masked LSTM at 32x50x32x64."""
        op = self.ctx.op
        return op.Gather(op.Flatten(sequence, axis=2), op.Add(op.Mul(steps, self.batch), self.rows), axis=0)

    def expand(self, compact_y: Any, zero_masked: bool) -> Any:
        """Keras's output sequence from the compacted one."""
        op = self.ctx.op
        gathered = self._gather_steps(compact_y, self.source)
        condition = self.mask if zero_masked else self.started
        return op.Where(condition, gathered, op.Mul(gathered, 0.0))


def lower_native(ctx: LoweringContext, layer: RecurrentLayerSpec, x_seq: Any, mask_seq: Any | None,
                 initial: list[Any] | None = None) -> LayerValues:
    """Emit one op per cell on the time-major ``x_seq`` ((time, batch, 1) bool ``mask_seq``),
    from the flat ``initial`` states (batch, width) when given."""
    blocker = native_blocker(layer)
    if blocker:
        raise UnsupportedError(layer.name, f"the native lowering cannot express it: {blocker}")
    op = ctx.op
    compaction = None
    # direction="reverse" where the runtime computes it right (onnxruntime); elsewhere flip the
    # input, run forward, and flip the sequence back (exact: the same steps in the same order)
    flipped = layer.go_backwards and (mask_seq is not None or not ctx.target.reverse)
    direction = "reverse" if layer.go_backwards and not flipped else "forward"
    value = x_seq
    if flipped:
        value = ctx.flip_time(value)
    if mask_seq is not None:
        if layer.go_backwards:
            mask_seq = ctx.flip_time(mask_seq)
        compaction = _Compaction(ctx, value, mask_seq)
        value, direction = compaction.compact_x, "forward"
    lengths = compaction.lengths if compaction else None
    initial_iter = iter(initial) if initial is not None else None
    states: list[Any] = []
    sequence = last = None
    for index, cell in enumerate(layer.cells):
        is_last = index == len(layer.cells) - 1
        scope = cell.name if len(layer.cells) > 1 else "cell"
        if isinstance(cell, CustomCellSpec):  # the planner never picks native for these
            raise UnsupportedError(layer.name, f"custom cell '{cell.class_name}' has no ONNX op", "strategy")
        with ctx.scope(scope):
            w, r, b = onnx_weights(cell)
            native = NATIVE_CELLS[type(cell)]
            op_type = native.op
            extra: dict[str, object] = {**(activation_attributes(cell) or {}), **native.attributes(cell)}
            inputs = [value, ctx.weight("W", w), ctx.weight("R", r), ctx.weight("B", b) if b is not None else None,
                      lengths]
            cell_initial = [next(initial_iter) for _ in cell.state_names] if initial_iter is not None else []
            if cell_initial:  # initial_h[, initial_c] as (1, batch, units)
                inputs += [ctx.unsqueeze(v, 0) for v in cell_initial]
            names = ["Y", "Y_h"] + (["Y_c"] if op_type == "LSTM" else [])
            outs = getattr(op, op_type)(*inputs, _outputs=names, hidden_size=cell.units, direction=direction, **extra)
            y, y_h = outs[0], outs[1]
            cell_final = [ctx.squeeze(y_h, 0)] + ([ctx.squeeze(outs[2], 0)] if op_type == "LSTM" else [])
            if compaction is not None and cell_initial:
                # a fully masked row keeps its initial states (the op would give zeros)
                kept = compaction.any_kept
                cell_final = [op.Where(kept, f, i) for f, i in zip(cell_final, cell_initial, strict=True)]
            h = cell_final[0]
            states.extend(cell_final)
            if not is_last or layer.return_sequences:
                value = ctx.squeeze(y, 1)
            if is_last:
                last = h
    if layer.return_sequences:
        sequence = value
        if compaction is not None:
            sequence = compaction.expand(sequence, layer.zero_output_for_mask)
        elif layer.go_backwards and not flipped:
            # ONNX reverse keeps Y in input time order; Keras returns processing order.
            sequence = ctx.flip_time(sequence)
    return LayerValues(sequence, None if layer.return_sequences else last, tuple(states))
