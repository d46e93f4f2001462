"""The ``scan`` and ``unroll`` lowerings: a cell's step inside an ONNX Scan, or repeated
once per timestep. Both drive the same :class:`CellLowering.step`.

Per cell: the input projection for all timesteps is one MatMul outside the loop; the
loop carries the states and, when the layer is masked, applies Keras's rule at every
step: ``state = Where(mask_t, new_state, state)``, output = the carried first state
(the previous output at a masked step, zeros before any unmasked one) or zeros with
``zero_output_for_mask``. ``go_backwards`` walks the time axis from the end and emits
outputs in processing order, as Keras returns them.

Stacked cells run as one loop per cell: a masked step leaves every cell's state alone,
so feeding cell k+1 the whole output sequence of cell k is the same computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import onnx_ir as ir

from ..errors import UnsupportedError
from ..spec.types import RecurrentLayerSpec
from .cells import CellStep
from .context import LoweringContext


@dataclass(frozen=True)
class CellRun:
    """What one cell's loop produced: its output sequence (processing order, time-major)
    when asked for, and its final states."""

    sequence: Any | None
    states: list[Any]


def _masked_update(op: Any, mask_t: Any, new_states: Sequence[Any], old_states: Sequence[Any]) -> list[Any]:
    return [op.Where(mask_t, new, old) for new, old in zip(new_states, old_states, strict=True)]


def _step_output(op: Any, layer: RecurrentLayerSpec, output: Any, states: Sequence[Any], mask_t: Any | None) -> Any:
    """The value Keras emits for this step (before any unmasked step: zeros, because the
    first state is still its zero initial value)."""
    if mask_t is None:
        return output
    if layer.zero_output_for_mask:
        return op.Where(mask_t, output, op.Mul(output, 0.0))
    return states[0]


def run_scan(ctx: LoweringContext, layer: RecurrentLayerSpec, cell: CellStep, x_seq: Any,
             mask_seq: Any | None, want_sequence: bool, initial: list[Any] | None = None) -> CellRun:
    """One Scan over the time axis of the time-major ``x_seq``; ``mask_seq`` is (time, batch, 1) bool."""
    op = ctx.op
    scan_inputs = cell.precompute(ctx, x_seq)
    if mask_seq is not None:
        scan_inputs.append(mask_seq)
    if initial is None:
        initial = [ctx.zeros_state(x_seq, units) for units in cell.state_units]
    n_states = len(initial)
    masked = mask_seq is not None

    def body(op, *args):
        states, step_inputs = list(args[:n_states]), list(args[n_states:])
        mask_t = step_inputs.pop() if masked else None
        output, new_states = cell.step(op, step_inputs, states)
        if masked:
            new_states = _masked_update(op, mask_t, new_states, states)
        # A body output must be a value of its own: states that are loop inputs (never the
        # case for computed states) or a step output equal to a state get an Identity.
        results = list(new_states)
        if want_sequence:
            step_out = _step_output(op, layer, output, new_states, mask_t)
            results.append(op.Identity(step_out) if any(step_out is s for s in results) else step_out)
        return results

    body_inputs = [ir.val(f"state_{k}", ir.DataType.FLOAT, ["batch", u]) for k, u in enumerate(cell.state_units)]
    body_inputs += [ir.val(f"x_{k}", ir.DataType.FLOAT, None) for k in range(len(scan_inputs) - int(masked))]
    if masked:
        body_inputs.append(ir.val("mask_t", ir.DataType.BOOL, ["batch", 1]))
    # typed: onnxruntime's Scan before opset 16 requires every body output's shape
    body_outputs = [ir.val(f"state_{k}_out", ir.DataType.FLOAT, ["batch", u]) for k, u in enumerate(cell.state_units)]
    if want_sequence:
        body_outputs.append(ir.val("y_t"))
    graph = ctx.builder.subgraph(body, inputs=body_inputs, outputs=body_outputs, name=f"{layer.name}_step")
    backwards_by_direction = layer.go_backwards and ctx.target.reverse
    if layer.go_backwards and not backwards_by_direction:
        # runtimes (and ONNX's reference evaluator) lacking reversed scan inputs get them
        # flipped instead: the same steps in the same order, outputs in processing order
        scan_inputs = [ctx.flip_time(s) for s in scan_inputs]
    direction = [1 if backwards_by_direction else 0] * len(scan_inputs)
    results = op.Scan(*initial, *scan_inputs, body=graph, num_scan_inputs=len(scan_inputs),
                      scan_input_directions=direction, _outputs=len(body_outputs))
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    return CellRun(results[n_states] if want_sequence else None, results[:n_states])


def run_unrolled(ctx: LoweringContext, layer: RecurrentLayerSpec, cell: CellStep, x_seq: Any,
                 mask_seq: Any | None, want_sequence: bool, timesteps: int | None,
                 initial: list[Any] | None = None) -> CellRun:
    """The step repeated ``timesteps`` times in the main graph (needs a static time axis)."""
    if timesteps is None:
        raise UnsupportedError(layer.name, "unroll needs a fixed number of timesteps, and this input's time "
                               "dimension is dynamic", "unroll")
    op = ctx.op
    per_step = [_split_steps(ctx, seq, timesteps) for seq in cell.precompute(ctx, x_seq)]
    mask_steps = _split_steps(ctx, mask_seq, timesteps) if mask_seq is not None else None
    states = initial if initial is not None else [ctx.zeros_state(x_seq, units) for units in cell.state_units]
    order = range(timesteps - 1, -1, -1) if layer.go_backwards else range(timesteps)
    outputs = []
    for t in order:
        output, new_states = cell.step(op, [steps[t] for steps in per_step], states)
        mask_t = mask_steps[t] if mask_steps is not None else None
        if mask_t is not None:
            new_states = _masked_update(op, mask_t, new_states, states)
        states = new_states
        if want_sequence:
            outputs.append(_step_output(op, layer, output, states, mask_t))
    sequence = _stack_steps(ctx, outputs, x_seq) if want_sequence else None
    return CellRun(sequence, states)


def _split_steps(ctx: LoweringContext, sequence: Any, timesteps: int) -> list[Any]:
    """The ``timesteps`` (batch, width) slices of a time-major sequence. Why one Split of the
    (time*batch, width) view: a Gather and a Squeeze per step cost about 1 µs each of node
    dispatch, which at batch 1 is as much as the step's own arithmetic."""
    if timesteps == 1:
        return [ctx.squeeze(sequence, 0)]
    op = ctx.op
    if ctx.opset >= 18:  # Split by count: the batch size need not be known
        parts = op.Split(op.Flatten(sequence, axis=2), axis=0, num_outputs=timesteps, _outputs=timesteps)
        return list(parts)
    parts = op.Split(sequence, ctx.ints(*[1] * timesteps), axis=0, _outputs=timesteps)
    return [ctx.squeeze(part, 0) for part in parts]


def _stack_steps(ctx: LoweringContext, outputs: Sequence[Any], x_seq: Any) -> Any:
    """(time, batch, width) from per-step (batch, width) outputs: one Concat and one Reshape,
    or one Unsqueeze per step where the target cannot take that Reshape (targets.py
    ``reshape_stacks_steps``: tract's declutter fails on a flip after it, OpenCV mis-sizes it)."""
    op = ctx.op
    if len(outputs) == 1:
        return ctx.unsqueeze(outputs[0], 0)
    if not ctx.target.reshape_stacks_steps:
        return op.Concat(*[ctx.unsqueeze(o, 0) for o in outputs], axis=0)
    batch = ctx.dims(x_seq, 1, 2)
    shape = op.Concat(ctx.ints(len(outputs)), batch, ctx.ints(-1), axis=0)
    return op.Reshape(op.Concat(*outputs, axis=0), shape)
