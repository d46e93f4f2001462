"""Choosing a lowering per recurrent layer, with the reason ``inspect`` shows.

``auto``: ``unroll`` where Keras says ``unroll=True``; else ``native`` where the ONNX op
expresses the layer exactly (and, for ``--target cuda``, where cuDNN would run it);
else ``scan``. On the CPU, measured choices override that (lowering/tuning.py holds the
constants with their evidence per machine): Scan for SimpleRNN, ``native+scan`` (one If on
the batch size) for masked SimpleRNN, whose fastest lowering flips with the batch, and the
native op at every batch for GRU (the smallest worst case over two machines). A forced
strategy that cannot be exact is refused with the reason. Unrolling is capped
(``Limits.max_unroll_steps``): a file declaring ``unroll=True`` over 100,000 fixed steps
would otherwise build a graph for minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConversionError, UnsupportedError
from ..io.guard import current_limits
from ..spec.cells import CustomCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec
from ..spec.types import RecurrentLayerSpec
from .native import activation_attributes, cuda_blocker, native_blocker, op_name
from .options import STRATEGIES, TARGETS
from .targets import TargetProfile, profile
from .tuning import GRU_NATIVE_ON_CPU, SCAN_FROM_BATCH


@dataclass(frozen=True)
class LayerPlan:
    """The lowering chosen for one layer and why (shown by ``inspect``)."""

    layer: str
    strategy: str
    reason: str


def _ops(layer: RecurrentLayerSpec) -> str:
    return "/".join(dict.fromkeys(op_name(c) for c in layer.cells))


def _all_cells(layer: RecurrentLayerSpec, kind: type) -> bool:
    """Every cell of the layer is of ``kind`` (the measured rules are per cell kind)."""
    return all(isinstance(c, kind) for c in layer.cells)


BY_BATCH = "native+scan"  # one If on the batch size picks the lowering per call


def plan_layer(layer: RecurrentLayerSpec, strategy: str, target: str, timesteps: int | None,
               batch: int | None = None) -> LayerPlan:
    if strategy not in STRATEGIES:
        raise ConversionError(f"unknown strategy '{strategy}' (choose {', '.join(STRATEGIES)})")
    if target not in TARGETS:
        raise ConversionError(f"unknown target '{target}' (choose {', '.join(TARGETS)})")
    if target not in ("cpu", "cuda"):
        return _plan_for_runtime(layer, strategy, profile(target), timesteps)
    blocker = native_blocker(layer)
    gpu_blocker = cuda_blocker(layer) if target == "cuda" else None
    mask_note = "; the mask is applied by compacting unmasked steps and sequence_lens" if layer.masked else ""
    if strategy == "unroll" or (strategy == "auto" and layer.unroll):
        if timesteps is None:
            raise UnsupportedError(layer.name, "unroll needs a fixed number of timesteps, and the input's time "
                                   "dimension is dynamic", "unroll")
        cap = current_limits().max_unroll_steps
        if timesteps > cap and strategy == "unroll":
            raise UnsupportedError(layer.name, f"--strategy unroll: {timesteps} timesteps is over the unroll cap "
                                   f"{cap} (use scan, or raise --max-unroll-steps)", "unroll")
        if timesteps > cap:
            return LayerPlan(layer.name, "scan", f"Keras unroll=True, but {timesteps} timesteps is over the unroll "
                             f"cap {cap} (--max-unroll-steps): a Scan loop computes the same steps")
        why = "Keras unroll=True" if strategy == "auto" else "forced by --strategy unroll"
        return LayerPlan(layer.name, "unroll", f"{why}: one step per timestep ({timesteps} steps)")
    if strategy == "native":
        if blocker:
            raise UnsupportedError(layer.name, f"--strategy native cannot be exact: {blocker}")
        note = f" (on CUDA it would fall back to the CPU: {gpu_blocker})" if gpu_blocker else ""
        return LayerPlan(layer.name, "native", f"forced: ONNX {_ops(layer)} op{note}{mask_note}")
    if strategy == "scan":
        return LayerPlan(layer.name, "scan", "forced by --strategy scan")
    if blocker:
        return LayerPlan(layer.name, "scan", f"the ONNX {_ops(layer)} op cannot express it ({blocker})")
    if gpu_blocker:
        return LayerPlan(layer.name, "scan", f"target cuda: {gpu_blocker}, so the native op would run on the CPU")
    if target == "cpu" and _all_cells(layer, SimpleRNNCellSpec) and not layer.masked:
        return LayerPlan(layer.name, "scan", "measured (scripts/bench_isolated.py): onnxruntime's CPU RNN op is 2-3x "
                         "slower than a Scan loop at batch 32+ and no faster at batch 1")
    switch = None
    if target == "cpu" and _all_cells(layer, SimpleRNNCellSpec):
        switch = ("measured (scripts/bench_isolated.py, masked): the native RNN op with compaction is 2x faster "
                  "than a Scan loop applying the mask at batch 1, and 2.3-2.7x slower at batch 32+")
    elif (target == "cpu" and _all_cells(layer, GRUCellSpec) and not layer.masked
          and not GRU_NATIVE_ON_CPU):
        switch = ("measured (scripts/bench_isolated.py): onnxruntime's CPU GRU op is up to 4x faster than a Scan "
                  f"loop at batch 1 and 7-16% slower from batch {SCAN_FROM_BATCH}-32 on")
    if switch is not None:
        if layer.masked:
            mask_note = "; masks: compaction on the native op, Where in the Scan"
        if batch is not None:
            choice = "scan" if batch >= SCAN_FROM_BATCH else "native"
            return LayerPlan(layer.name, choice, f"{switch}; the batch is fixed at {batch}{mask_note}")
        return LayerPlan(layer.name, BY_BATCH, f"{switch}; the batch is dynamic, so one If on it runs the native "
                         f"op below batch {SCAN_FROM_BATCH} and Scan from there (both weight layouts are stored)"
                         f"{mask_note}")
    if target == "cpu" and _all_cells(layer, GRUCellSpec) and not layer.masked:
        return LayerPlan(layer.name, "native", "measured on two machines (lowering/tuning.py, gru_native_on_cpu): "
                         "the native GRU op is up to 4x faster than Scan at batch 1, and at batch 32+ at most 1.20x "
                         "slower on one machine while Scan was up to 1.71x slower on the other")
    return LayerPlan(layer.name, "native", f"the ONNX {_ops(layer)} op expresses every argument exactly{mask_note}")


def target_blocker(layer: RecurrentLayerSpec, prof: TargetProfile) -> str | None:
    """Why the native op would not be exact on ``prof``'s runtime, or ``None``."""
    blocker = native_blocker(layer)
    if blocker:
        return blocker
    if not prof.native:
        return prof.no_native_reason or f"{prof.runtime} does not execute the ONNX {_ops(layer)} op exactly"
    if prof.native_ops is not None and not set(_ops(layer).split("/")) <= prof.native_ops:
        return f"{prof.runtime} does not execute the ONNX {_ops(layer)} op exactly"
    if prof.native_activations is not None:
        for cell in layer.cells:
            if isinstance(cell, CustomCellSpec):
                continue  # native_blocker refused it above
            listed = (activation_attributes(cell) or {}).get("activations", [])
            names = {str(n) for n in listed} if isinstance(listed, list) else set()
            rejected = sorted(names - prof.native_activations)
            if rejected:
                how = "ignores the activations attribute" if not prof.native_activations else \
                    f"rejects {', '.join(rejected)} in the activations attribute"
                return f"{prof.runtime} {how}"
    reads_cell_state = layer.return_state or layer.stateful
    if not prof.lstm_cell_state_out and reads_cell_state and any(isinstance(c, LSTMCellSpec) for c in layer.cells):
        return f"{prof.runtime} gets an LSTM op whose final states are read wrong (return_state/stateful)"
    if layer.masked and not prof.sequence_lens:
        return f"{prof.runtime} does not apply the masked native lowering's sequence_lens exactly"
    return None


def _plan_for_runtime(layer: RecurrentLayerSpec, strategy: str, prof: TargetProfile,
                      timesteps: int | None) -> LayerPlan:
    """The runtime targets: the native op where that runtime runs it exactly, else Scan where
    it has Scan, else unroll (fixed time only); no If, flips instead of direction=reverse."""
    target = prof.name
    flip = "; go_backwards as a flipped input on the forward op" if layer.go_backwards and not prof.reverse else ""

    def unroll(why: str) -> LayerPlan:
        if timesteps is None:
            raise UnsupportedError(layer.name, f"target {target}: {why}, and unroll needs a fixed number of "
                                   "timesteps but the input's time dimension is dynamic (give the Keras Input a "
                                   "fixed length)")
        return LayerPlan(layer.name, "unroll", f"{why}: one step per timestep ({timesteps} steps)")

    if strategy == "unroll" or (strategy == "auto" and layer.unroll):
        return unroll("Keras unroll=True" if strategy == "auto" else "forced by --strategy unroll")
    blocker = target_blocker(layer, prof)
    if strategy == "native":
        if blocker:
            raise UnsupportedError(layer.name, f"target {target}: --strategy native cannot be exact: {blocker}")
        return LayerPlan(layer.name, "native", f"forced: ONNX {_ops(layer)} op{flip}")
    if strategy == "scan":
        if not prof.scan:
            raise UnsupportedError(layer.name, f"target {target}: --strategy scan, but {prof.runtime} has no Scan")
        return LayerPlan(layer.name, "scan", "forced by --strategy scan")
    if not blocker:
        return LayerPlan(layer.name, "native", f"target {target}: {prof.runtime} runs the ONNX {_ops(layer)} op "
                         f"exactly with these arguments{flip}")
    if prof.scan and not (prof.unroll_fixed_time and timesteps is not None):
        # portable: a dynamic time means Scan, so that layer's graph runs everywhere but OpenCV
        where = " (the time is dynamic; OpenCV, which has no Scan, cannot run it)" if prof.unroll_fixed_time else ""
        return LayerPlan(layer.name, "scan", f"target {target}: {blocker}, so a Scan loop of explicit nodes{where}")
    if prof.scan:
        return LayerPlan(layer.name, "unroll", f"target {target}: {blocker}; the time is fixed, so unrolled "
                         f"({timesteps} steps), which also runs where Scan does not")
    return unroll(f"{blocker} and {prof.runtime} has no Scan")
