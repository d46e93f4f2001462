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

from dataclasses import dataclass
from typing import Any, Sequence

import onnx_ir as ir

from ..errors import UnsupportedError
from ..spec.types import RecurrentLayerSpec
from .cells import CellLowering
from .context import LoweringContext


@dataclass(frozen=True)
class CellRun:
    """What one cell's loop produced: its output sequence (processing order, time-major)
    when asked for, and its final states."""

    sequence: Any | None
    states: list[Any]


def _masked_update(op: Any, mask_t: Any, new_states: Sequence[Any], old_states: Sequence[Any]) -> list[Any]:
    return [op.Where(mask_t, new, old) for new, old in zip(new_states, old_states)]


def _step_output(op: Any, layer: RecurrentLayerSpec, output: Any, states: Sequence[Any], mask_t: Any | None) -> Any:
    """The value Keras emits for this step (before any unmasked step: zeros, because the
    first state is still its zero initial value)."""
    if mask_t is None:
        return output
    if layer.zero_output_for_mask:
        return op.Where(mask_t, output, op.Mul(output, 0.0))
    return states[0]


def run_scan(ctx: LoweringContext, layer: RecurrentLayerSpec, cell: CellLowering, x_seq: Any,
             mask_seq: Any | None, want_sequence: bool, initial: list[Any] | None = None) -> CellRun:
    """One Scan over the time axis of the time-major ``x_seq``; ``mask_seq`` is (time, batch, 1) bool."""
    op = ctx.op
    scan_inputs = cell.precompute(op, x_seq)
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
    body_outputs = [ir.val(f"state_{k}_out") for k in range(n_states)]
    if want_sequence:
        body_outputs.append(ir.val("y_t"))
    graph = ctx.builder.subgraph(body, inputs=body_inputs, outputs=body_outputs, name=f"{layer.name}_step")
    direction = [1 if layer.go_backwards else 0] * len(scan_inputs)
    results = op.Scan(*initial, *scan_inputs, body=graph, num_scan_inputs=len(scan_inputs),
                      scan_input_directions=direction, _outputs=len(body_outputs))
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    return CellRun(results[n_states] if want_sequence else None, results[:n_states])


def run_unrolled(ctx: LoweringContext, layer: RecurrentLayerSpec, cell: CellLowering, x_seq: Any,
                 mask_seq: Any | None, want_sequence: bool, timesteps: int | None,
                 initial: list[Any] | None = None) -> CellRun:
    """The step repeated ``timesteps`` times in the main graph (needs a static time axis)."""
    if timesteps is None:
        raise UnsupportedError(layer.name, "unroll needs a fixed number of timesteps, and this input's time "
                               "dimension is dynamic", "unroll")
    op = ctx.op
    per_step = cell.precompute(op, x_seq)
    states = initial if initial is not None else [ctx.zeros_state(x_seq, units) for units in cell.state_units]
    order = range(timesteps - 1, -1, -1) if layer.go_backwards else range(timesteps)
    outputs = []
    for t in order:
        index = ctx.ints(t)
        step_inputs = [ctx.squeeze(op.Gather(seq, index, axis=0), 0) for seq in per_step]
        output, new_states = cell.step(op, step_inputs, states)
        mask_t = ctx.squeeze(op.Gather(mask_seq, index, axis=0), 0) if mask_seq is not None else None
        if mask_t is not None:
            new_states = _masked_update(op, mask_t, new_states, states)
        states = new_states
        if want_sequence:
            outputs.append(ctx.unsqueeze(_step_output(op, layer, output, states, mask_t), 0))
    sequence = (op.Concat(*outputs, axis=0) if len(outputs) > 1 else outputs[0]) if want_sequence else None
    return CellRun(sequence, states)
