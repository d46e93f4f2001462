"""ModelSpec -> onnx.ModelProto: wire layers together and transpose only at the edges.

Inside the graph, sequences stay time-major (what the ONNX recurrent ops and Scan take),
masks travel beside them as (time, batch, 1) booleans, and only model inputs and sequence
outputs are transposed. Batch and time dimensions the Keras file leaves open stay dynamic
and named (``batch``, ``time``); dimensions it fixes stay fixed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext as _no_scope
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from ..errors import ConversionError
from ..registry import Registry
from ..spec.activations import activation_forms
from ..spec.cells import LSTMCellSpec
from ..spec.checks import TensorFacts
from ..spec.folds import FoldSpec, UnfoldSpec
from ..spec.layers import (
    FEED_FORWARD,
    FeedForwardSpec,
)
from ..spec.masks import applied_mask, feed_forward_mask, leading_output_is_state, passed_mask
from ..spec.types import (
    BidirectionalSpec,
    EmbeddingSpec,
    MaskingSpec,
    MaskOpSpec,
    ModelSpec,
    RecurrentLayerSpec,
    Ref,
)
from .cells import cell_step
from .context import LoweringContext
from .layers import lower_feed_forward
from .loops import run_scan, run_unrolled
from .native import lower_native
from .options import DEFAULT_OPSET, MIN_OPSET
from .strategy import BY_BATCH, LayerPlan, plan_layer
from .target_checks import refuse_inexact_activations
from .targets import profile
from .tuning import ONE_THREAD_UNITS, SCAN_FROM_BATCH
from .values import LayerValues
from .wrappers import FOLD_LOWERINGS


@dataclass(frozen=True)
class _Tensor:
    """A value in the graph under construction, with the parser's facts of the Keras tensor
    it is: rank 3 is time-major (time, batch, features), rank 2 is (batch, features) or, for
    token ids, time-major (time, batch)."""

    value: Any
    mask: Any | None
    facts: TensorFacts

    @property
    def time(self) -> int | str | None:
        return self.facts.time

    @property
    def rank(self) -> int:
        return self.facts.rank


def max_opset() -> int:
    return onnx.defs.onnx_opset_version()


def plan_layers(spec: ModelSpec, strategy: str = "auto", target: str = "cpu",
                layer_strategies: Mapping[str, str] | None = None) -> list[LayerPlan]:
    """The lowering of every recurrent layer (raises for a forced strategy that cannot be exact).
    ``layer_strategies`` overrides ``strategy`` per layer (a Bidirectional half by its own
    name), which is how ``tune`` applies what it measured."""
    chosen = dict(layer_strategies or {})
    unknown = sorted(set(chosen) - {half.name for half in spec.recurrent_layers})
    if unknown:
        raise ConversionError(f"no recurrent layer named {', '.join(map(repr, unknown))}")
    shared = set() if profile(target).native_shared_input else _layers_sharing_an_input(spec)
    plans = []
    for half in spec.recurrent_layers:
        facts = spec.facts(half.inputs[0])  # a Bidirectional's halves read the wrapper's input
        time = facts.time if isinstance(facts.time, int) else None
        plan = plan_layer(half, chosen.get(half.name, strategy), target, time, facts.batch)
        if half.name in shared and plan.strategy == "native" and half.name not in chosen and strategy == "auto":
            plan = plan_layer(half, "scan", target, time, facts.batch)
            plan = dataclasses.replace(plan, reason=f"target {target}: another recurrent layer reads the same "
                                       f"input, and {profile(target).runtime} computes one of two recurrent ops "
                                       "on one input wrong, so a Scan loop")
        plans.append(plan)
    return plans


def _layers_sharing_an_input(spec: ModelSpec) -> set[str]:
    """The recurrent layers (by half name) whose input tensor, seen through TimeDistributed
    folds (a reshape only), is also the input of another recurrent layer or wrapper. A
    Bidirectional's own two halves count as one reader: its backward half reads a flip."""
    producers = {layer.name: layer for layer in spec.layers}

    def root(ref: Ref) -> Ref:
        node = producers.get(ref.layer)
        while isinstance(node, FoldSpec):
            ref = node.inputs[0]
            node = producers.get(ref.layer)
        return ref

    readers: dict[Ref, list[RecurrentLayerSpec | BidirectionalSpec]] = {}
    for layer in spec.layers:
        if isinstance(layer, (RecurrentLayerSpec, BidirectionalSpec)):
            readers.setdefault(root(layer.inputs[0]), []).append(layer)
    shared: set[str] = set()
    for group in readers.values():
        if len(group) > 1:
            for layer in group:
                halves = [layer.forward, layer.backward] if isinstance(layer, BidirectionalSpec) else [layer]
                shared.update(half.name for half in halves)
    return shared



def _lower_loop(ctx: LoweringContext, layer: RecurrentLayerSpec, x: _Tensor, strategy: str,
                constants: list[Any], initial: list[Any] | None) -> LayerValues:
    """The scan or unroll lowering: one loop per cell, each fed the previous cell's sequence."""
    value, states = x.value, []
    last = None
    initial_iter = iter(initial) if initial is not None else None
    for index, cell_spec in enumerate(layer.cells):
        is_last = index == len(layer.cells) - 1
        want_sequence = not is_last or layer.return_sequences
        with ctx.scope(cell_spec.name if len(layer.cells) > 1 else "cell"):
            cell = cell_step(ctx, cell_spec, constants)
            cell_initial = [next(initial_iter) for _ in cell.state_units] if initial_iter is not None else None
            if strategy == "scan":
                run = run_scan(ctx, layer, cell, value, x.mask, want_sequence, cell_initial)
            else:
                steps = x.time if isinstance(x.time, int) else None
                run = run_unrolled(ctx, layer, cell, value, x.mask, want_sequence, steps, cell_initial)
        states.extend(run.states)
        if want_sequence:
            assert run.sequence is not None  # the loop returns the sequence it was asked for
            value = run.sequence
            if not is_last and layer.go_backwards:
                # the next cell walks the same steps backwards: give it input time order
                value = ctx.flip_time(value)
        if is_last:
            last = run.states[0]
    return LayerValues(value if layer.return_sequences else None, None if layer.return_sequences else last,
                       tuple(states))


@dataclass(frozen=True)
class StateIO:
    """One carried state of a layer: the graph input feeding it and the output returning it."""

    layer: str
    state: str
    input: str
    output: str
    width: int


def state_io(spec: ModelSpec, expose_states: bool) -> list[StateIO]:
    """State inputs/outputs: for stateful layers always, for every recurrent layer with
    ``expose_states``. Names: ``<layer>/<state>_in`` and ``<layer>/<state>_out``."""
    result = []
    for layer in spec.recurrent_layers:
        if layer.initial_state:
            continue  # its initial states come from tensors of the model (initial_state=)
        if spec.facts(layer.inputs[0]).folded:
            continue  # inside TimeDistributed: its rows are (batch * time), nothing to carry across calls
        if layer.stateful or expose_states:
            for state, width in zip(layer.state_names, layer.state_widths, strict=True):
                base = f"{layer.name}/{state}"
                result.append(StateIO(layer.name, state, f"{base}_in", f"{base}_out", width))
    return result


@dataclass
class _Build:
    """What lowering one layer reads and writes: the graph values of every Keras tensor so
    far, the graph inputs (``constants=`` read them batch-major), carried state inputs, and
    each recurrent layer's values (its final states feed the state outputs)."""

    ctx: LoweringContext
    spec: ModelSpec
    plans: dict[str, LayerPlan]
    tensors: dict[Ref, _Tensor] = field(default_factory=dict)
    graph_inputs: dict[str, Any] = field(default_factory=dict)
    state_inputs: dict[str, list[Any]] = field(default_factory=dict)
    layer_values: dict[str, LayerValues] = field(default_factory=dict)


LayerLowering = Callable[[_Build, Any], None]
LAYER_LOWERINGS: Registry[type, LayerLowering] = Registry("layer lowering")
"""How each kind of layer spec is lowered (feed-forward kinds: ``lowering/layers.py``)."""


def build_model(spec: ModelSpec, opset: int = DEFAULT_OPSET, converter_version: str = "0",
                strategy: str = "auto", target: str = "cpu", expose_states: bool = False,
                layer_strategies: Mapping[str, str] | None = None) -> onnx.ModelProto:
    """Lower ``spec`` to an ONNX model with named dims and provenance metadata; stateful
    layers (every layer with ``expose_states``) take their initial states as inputs and
    return their final states as outputs."""
    if not MIN_OPSET <= opset <= max_opset():
        raise ConversionError(f"--opset must be between {MIN_OPSET} and {max_opset()}, got {opset}")
    plans = {p.layer: p for p in plan_layers(spec, strategy, target, layer_strategies)}
    refuse_inexact_activations(spec, profile(target))
    build = _Build(LoweringContext(spec.name or "model", opset, target), spec, plans)
    with activation_forms(build.ctx.target.activation_forms):
        return _build(build, spec, plans, expose_states, converter_version, target)


def _build(build: _Build, spec: ModelSpec, plans: dict[str, LayerPlan], expose_states: bool,
           converter_version: str, target: str) -> onnx.ModelProto:
    _add_inputs(build)
    carried = state_io(spec, expose_states)
    batch_dims = {half.name: _batch_dim(spec.facts(half.inputs[0])) for half in spec.recurrent_layers}
    for io in carried:
        value = build.ctx.input(io.input, "float32", [batch_dims[io.layer], io.width])
        build.state_inputs.setdefault(io.layer, []).append(value)
    for layer in spec.layers:
        with build.ctx.scope(layer.name):
            LAYER_LOWERINGS[type(layer)](build, layer)
    outputs = _outputs(build)
    halves_by_name = {half.name: half for half in spec.recurrent_layers}
    for io in carried:
        index = halves_by_name[io.layer].state_names.index(io.state)
        outputs.append((build.layer_values[io.layer].states[index], io.output, [batch_dims[io.layer], io.width]))
    return build.ctx.finish(outputs, converter_version, _metadata(spec, plans, carried, converter_version, target))


def _add_inputs(build: _Build) -> None:
    """Graph inputs with the Keras names; sequences are made time-major at once."""
    ctx, op = build.ctx, build.ctx.op
    for inp in build.spec.inputs:
        facts = build.spec.facts(Ref(inp.name))
        batch_dim = facts.batch if facts.batch is not None else "batch"
        time_dim = facts.time
        if inp.kind == "sequence":
            value = ctx.input(inp.name, inp.dtype, [batch_dim, time_dim, inp.features])
            inner = op.Transpose(value, perm=[1, 0, 2])
        elif inp.kind == "tokens":
            value = ctx.input(inp.name, inp.dtype, [batch_dim, time_dim])
            inner = op.Transpose(value, perm=[1, 0])
        elif inp.kind == "tensor":  # rank 3 stays time-major like every sequence; ranks 4+ keep Keras's layout
            dims = [d if d is not None else f"{inp.name}_d{k}" for k, d in enumerate(inp.dims[1:], start=2)]
            value = ctx.input(inp.name, inp.dtype, [batch_dim, time_dim, *dims])
            inner = op.Transpose(value, perm=[1, 0, 2]) if facts.rank == 3 else value
        else:
            value = ctx.input(inp.name, inp.dtype, [batch_dim, inp.features])
            inner = value
        build.tensors[Ref(inp.name)] = _Tensor(inner, None, facts)
        build.graph_inputs[inp.name] = value  # batch-major, as constants= tensors are used


def _batch_dim(facts: TensorFacts) -> int | str:
    """A static batch size, or the dim name ``batch``."""
    return facts.batch if facts.batch is not None else "batch"


def _outputs(build: _Build) -> list[tuple[Any, str, list[Any]]]:
    """The model outputs, batch-major again, with named dims where the file leaves them open."""
    outputs: list[tuple[Any, str, list[Any]]] = []
    for out in build.spec.outputs:
        tensor = build.tensors[out.tensor]
        facts = tensor.facts
        out_batch = facts.batch if facts.batch is not None else "batch"
        first = facts.dims()[0] if facts.rank > 2 else None  # time, or a lone ConvLSTM output's rows
        out_time = facts.time if facts.time is not None else first if first is not None else f"{out.name}_time"
        if facts.rank > 3:  # kept in Keras's layout
            rest = [d if d is not None else f"{out.name}_d{k}" for k, d in enumerate(facts.dims()[1:], start=2)]
            outputs.append((tensor.value, out.name, [out_batch, out_time, *rest]))
        elif facts.rank == 3:
            value = build.ctx.op.Transpose(tensor.value, perm=[1, 0, 2])
            width = facts.width if facts.width is not None else f"{out.name}_d2"  # e.g. attention scores' Tv
            outputs.append((value, out.name, [out_batch, out_time, width]))
        else:
            outputs.append((tensor.value, out.name, [out_batch, facts.width]))
    return outputs


def _metadata(spec: ModelSpec, plans: dict[str, LayerPlan], carried: list[StateIO], converter_version: str,
              target: str) -> dict[str, str]:
    metadata = {
        "keras_version": spec.keras_version or "unknown",
        "keras_major": str(spec.keras_major) if spec.keras_major is not None else "unknown",
        "source_format": spec.format,
        "converter": f"kerasrnn2onnx {converter_version}",
        "target": target,
        "lowering": json.dumps({name: p.strategy for name, p in plans.items()}),
    }
    if carried:
        metadata["states"] = json.dumps([io.__dict__ for io in carried])
    threads = recommended_threads(spec, plans)
    if threads is not None:
        metadata["recommended_intra_op_threads"] = str(threads)
    return metadata


def _lower_feed_forward_layer(build: _Build, layer: FeedForwardSpec) -> None:
    ins = [build.tensors[s] for s in layer.inputs]
    value = lower_feed_forward(build.ctx, layer, [t.value for t in ins], [t.mask for t in ins], [t.rank for t in ins])
    mask = feed_forward_mask(layer, [t.mask for t in ins], build.ctx.op.Or, build.ctx.op.And,
                             lambda masks: _join_masks_in_time(build.ctx, ins, masks))
    values = value if isinstance(value, tuple) else (value,)  # attention scores, ConvLSTM states: several
    for index, (item, facts) in enumerate(zip(values, layer.out, strict=True)):
        build.tensors[Ref(layer.name, index)] = _Tensor(item, mask if index == 0 else None, facts)


def _join_masks_in_time(ctx: LoweringContext, ins: list[_Tensor], masks: Sequence[Any | None]) -> Any:
    """(time, batch, 1) masks end to end along time; an unmasked input keeps all its steps."""
    parts = []
    for tensor, mask in zip(ins, masks, strict=True):
        if mask is None:
            shape = ctx.op.Concat(ctx.dims(tensor.value, 0, 2), ctx.ints(1), axis=0)
            mask = ctx.op.ConstantOfShape(shape, value=ir.tensor(np.array([True])))
        parts.append(mask)
    return ctx.op.Concat(*parts, axis=0)


for _kind in FEED_FORWARD:
    LAYER_LOWERINGS.add(_kind, _lower_feed_forward_layer)


@LAYER_LOWERINGS.register(FoldSpec, UnfoldSpec)
def _lower_fold(build: _Build, layer: FoldSpec | UnfoldSpec) -> None:
    ins = [build.tensors[s] for s in layer.inputs]
    value, mask = FOLD_LOWERINGS[type(layer)](build.ctx, layer, [t.value for t in ins], [t.rank for t in ins])
    build.tensors[Ref(layer.name)] = _Tensor(value, mask, layer.out[0])


@LAYER_LOWERINGS.register(MaskingSpec)
def _lower_masking(build: _Build, layer: MaskingSpec) -> None:
    ctx, op = build.ctx, build.ctx.op
    x = build.tensors[layer.inputs[0]]
    differs = op.Not(op.Equal(x.value, ctx.scalar_like(layer.mask_value, x.value)))
    keep = ctx.reduce("Max", op.Cast(differs, to=ir.DataType.FLOAT), -1, 1)
    build.tensors[Ref(layer.name)] = _Tensor(x.value, op.Greater(keep, 0.0), layer.out[0])


@LAYER_LOWERINGS.register(EmbeddingSpec)
def _lower_embedding(build: _Build, layer: EmbeddingSpec) -> None:
    ctx, op = build.ctx, build.ctx.op
    x = build.tensors[layer.inputs[0]]
    # float ids: Cast truncates toward zero as Keras's cast to int32 does; the mask compares
    # the ids as given (Keras: not_equal(inputs, 0)), so 0.4 reads row 0 but is not masked
    ids = op.Cast(x.value, to=ir.DataType.INT64)
    is_float = x.value.dtype == ir.DataType.FLOAT
    zero = ctx.scalar_like(0, x.value) if is_float else ctx.ints(0)
    mask = ctx.unsqueeze(op.Not(op.Equal(x.value if is_float else ids, zero)), 2) if layer.mask_zero else None
    rows = op.Gather(ctx.weight("embeddings", layer.embeddings), ids, axis=0)
    build.tensors[Ref(layer.name)] = _Tensor(rows, mask, layer.out[0])


@LAYER_LOWERINGS.register(MaskOpSpec)
def _lower_mask_op_layer(build: _Build, layer: MaskOpSpec) -> None:
    xs = [build.tensors[s].value for s in layer.inputs]
    build.tensors[Ref(layer.name)] = _Tensor(MASK_OP_LOWERINGS[layer.op](build.ctx, layer, xs), None, layer.out[0])


@LAYER_LOWERINGS.register(RecurrentLayerSpec, BidirectionalSpec)
def _lower_recurrent_layer(build: _Build, layer: RecurrentLayerSpec | BidirectionalSpec) -> None:
    ctx, tensors = build.ctx, build.tensors
    x = tensors[layer.inputs[0]]
    # an explicit mask= is (batch, time) boolean; masks travel as (time, batch, 1)
    explicit = ctx.unsqueeze(tensors[layer.mask_source].value, 2) if layer.mask_source is not None else None
    out_mask = passed_mask(layer, x.mask, explicit)
    x = _Tensor(x.value, applied_mask(layer, x.mask, explicit), x.facts)
    halves = [layer] if isinstance(layer, RecurrentLayerSpec) else [layer.forward, layer.backward]
    results = []
    for half in halves:
        initial = build.state_inputs.get(half.name)
        if half.initial_state:  # an explicit initial_state= wins, as in Keras
            initial = [tensors[s].value for s in half.initial_state]
        values = _lower_recurrent(ctx, build.spec, half, x, build.plans[half.name], initial, build.graph_inputs)
        build.layer_values[half.name] = values
        results.append(values)
    for index, (value, is_sequence) in enumerate(_layer_outputs(ctx, layer, results)):
        tensors[Ref(layer.name, index)] = _Tensor(value, out_mask if is_sequence else None, layer.out[index])




def recommended_threads(spec: ModelSpec, plans: dict[str, LayerPlan]) -> int | None:
    """One intra-op thread where a second one only adds synchronisation: every recurrent
    layer at most ``ONE_THREAD_UNITS`` wide, none an LSTM (its native kernel gains from two)
    or unrolled. The evidence on each machine is in lowering/tuning.py (``one_thread_units``:
    a 256-unit SimpleRNN on one thread was 1.26x faster at batch 1 on one machine and 2.00x
    slower at batch 32 on another, so it gets two; the runs are in docs/performance.md).
    ``None``: onnxruntime's default."""
    layers = spec.recurrent_layers
    if not layers:
        return None
    for layer in layers:
        plan = plans[layer.name]
        if plan.strategy == "unroll" or any(isinstance(c, LSTMCellSpec) for c in layer.cells):
            return None
        if layer.units > ONE_THREAD_UNITS:
            return None
    return 1


def _compare(ctx: LoweringContext, layer: MaskOpSpec, xs: list[Any]) -> Any:
    assert layer.value is not None  # the parser reads it for these two ops
    equal = ctx.op.Equal(xs[0], ctx.scalar_like(layer.value, xs[0]))
    return ctx.op.Not(equal) if layer.op == "not_equal" else equal


def _reduce_last(ctx: LoweringContext, layer: MaskOpSpec, xs: list[Any]) -> Any:
    """any / all as Max / Min of 0/1: ReduceMax has no boolean form."""
    as_float = ctx.op.Cast(xs[0], to=ir.DataType.FLOAT)
    return ctx.op.Greater(ctx.reduce("Max" if layer.op == "any" else "Min", as_float, -1, 0), 0.0)


def _filled(ctx: LoweringContext, layer: MaskOpSpec, xs: list[Any]) -> Any:
    """A boolean tensor of ``xs[0]``'s shape, read from the tensor (its dims may be dynamic)."""
    fill = np.array([layer.op == "ones_like"], dtype=bool)
    return ctx.op.ConstantOfShape(ctx.op.Shape(xs[0]), value=ir.tensor(fill))


def _concatenate_masks(ctx: LoweringContext, layer: MaskOpSpec, xs: list[Any]) -> Any:
    """Keras axis 1 (time) is the time-major graph's axis 0; the features stay last."""
    return ctx.op.Concat(*xs, axis=0 if layer.joins_time else -1)


MASK_OP_LOWERINGS: dict[str, Callable[[LoweringContext, MaskOpSpec, list[Any]], Any]] = {
    "not_equal": _compare,
    "equal": _compare,
    "any": _reduce_last,
    "all": _reduce_last,
    "identity": lambda ctx, layer, xs: ctx.op.Identity(xs[0]),
    "logical_not": lambda ctx, layer, xs: ctx.op.Not(xs[0]),
    "logical_or": lambda ctx, layer, xs: ctx.op.Or(xs[0], xs[1]),  # broadcasts a width of 1 as Keras does
    "logical_and": lambda ctx, layer, xs: ctx.op.And(xs[0], xs[1]),
    "expand_dims": lambda ctx, layer, xs: ctx.unsqueeze(xs[0], -1),  # (time, batch) -> (time, batch, 1)
    "zeros_like": _filled,
    "ones_like": _filled,
    "concatenate": _concatenate_masks,
}
"""Each mask op of Keras 3's recorded mask idioms (spec/mask_ops.py), on time-major tensors:
(time, batch) masks and (time, batch, features) sequences."""


def _zero_masked_last_output(ctx: LoweringContext, layer: RecurrentLayerSpec, values: LayerValues,
                             mask: Any | None) -> LayerValues:
    """With ``zero_output_for_mask`` and no ``return_sequences``, Keras returns zeros for a
    row whose last processed step is masked (its output at that step is zeroed; the states
    are not). Keras 3's TF and torch backends and Keras 2 do this unrolled or not; Keras 3's
    JAX backend skips it when unrolled, a backend quirk not followed here."""
    if mask is None or not layer.zero_output_for_mask or layer.return_sequences:
        return values
    last_step = ctx.squeeze(ctx.op.Gather(mask, ctx.ints(0 if layer.go_backwards else -1), axis=0), 0)
    zeroed = ctx.op.Where(last_step, values.last, ctx.op.Mul(values.last, 0.0))
    return LayerValues(values.sequence, zeroed, values.states)


RecurrentLowering = Callable[[LoweringContext, RecurrentLayerSpec, _Tensor, list[Any], list[Any] | None], LayerValues]
STRATEGY_LOWERINGS: Registry[str, RecurrentLowering] = Registry("strategy lowering")
"""Each strategy a plan can name (``lowering/strategy.py``) -> its lowering of one recurrent
layer: ``(ctx, layer, x, constants, initial states) -> LayerValues``."""


@STRATEGY_LOWERINGS.register("native")
def _lower_native(ctx: LoweringContext, layer: RecurrentLayerSpec, x: _Tensor, constants: list[Any],
                  initial: list[Any] | None) -> LayerValues:
    return lower_native(ctx, layer, x.value, x.mask, initial)


@STRATEGY_LOWERINGS.register("scan")
def _lower_scan(ctx: LoweringContext, layer: RecurrentLayerSpec, x: _Tensor, constants: list[Any],
                initial: list[Any] | None) -> LayerValues:
    return _lower_loop(ctx, layer, x, "scan", constants, initial)


@STRATEGY_LOWERINGS.register("unroll")
def _lower_unroll(ctx: LoweringContext, layer: RecurrentLayerSpec, x: _Tensor, constants: list[Any],
                  initial: list[Any] | None) -> LayerValues:
    return _lower_loop(ctx, layer, x, "unroll", constants, initial)


def _lower_recurrent(ctx: LoweringContext, spec: ModelSpec, layer: RecurrentLayerSpec, x: _Tensor, plan: LayerPlan,
                     initial: list[Any] | None, graph_inputs: dict[str, Any]) -> LayerValues:
    """One recurrent layer under its planned strategy, with Keras's masked-output rules."""
    with ctx.scope(layer.name.split("/")[-1]) if "/" in layer.name else _no_scope():
        constants = [graph_inputs[c.layer] for c in layer.constants]
        values = STRATEGY_LOWERINGS[plan.strategy](ctx, layer, x, constants, initial)
        if initial is not None and x.mask is not None:
            values = _leading_masked_rule(ctx, layer, values, x.mask, initial, spec.keras_major)
        return _zero_masked_last_output(ctx, layer, values, x.mask)


@STRATEGY_LOWERINGS.register(BY_BATCH)
def _lower_by_batch(ctx: LoweringContext, layer: RecurrentLayerSpec, x: _Tensor, constants: list[Any],
                    initial: list[Any] | None) -> LayerValues:
    """Both lowerings, one If on the batch size: native below ``SCAN_FROM_BATCH`` rows, Scan
    from there (see strategy.py for the measurements). onnxruntime runs one branch per call."""
    op = ctx.op
    batch = ctx.dims(x.value, 1, 2)  # x is time-major
    use_scan = op.GreaterOrEqual(batch, ctx.ints(SCAN_FROM_BATCH))

    def branch(strategy: str):
        def trace(sub_op: Any) -> list[Any]:
            with ctx.building(sub_op.builder), ctx.scope(layer.name.replace("/", "_")), ctx.scope(strategy):
                if strategy == "native":
                    values = lower_native(ctx, layer, x.value, x.mask, initial)
                else:
                    values = _lower_loop(ctx, layer, x, "scan", [], initial)
                head = values.sequence if layer.return_sequences else values.last
                flat = [head, *values.states]
                # a branch output must be a value of its own, computed in the branch
                outer = [x.value, x.mask, *(initial or [])]
                return [sub_op.Identity(v) if any(v is u for u in flat[:k] + outer) else v
                        for k, v in enumerate(flat)]
        return trace

    count = 1 + len(layer.state_widths)  # the sequence or the last output, then every state
    base = layer.name.replace("/", "_")
    scan_graph = ctx.builder.subgraph(branch("scan"), inputs=[], name=f"{base}_scan",
                                      outputs=[ir.val(f"{base}_scan_out{k}") for k in range(count)])
    native_graph = ctx.builder.subgraph(branch("native"), inputs=[], name=f"{base}_native",
                                        outputs=[ir.val(f"{base}_native_out{k}") for k in range(count)])
    results = op.If(use_scan, then_branch=scan_graph, else_branch=native_graph, _outputs=count)
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    head = results[0]
    return LayerValues(head if layer.return_sequences else None, None if layer.return_sequences else head,
                       tuple(results[1:]))


def _layer_outputs(ctx: LoweringContext, layer: RecurrentLayerSpec | BidirectionalSpec,
                   results: list[LayerValues]) -> list[tuple[Any, bool]]:
    """The layer's Keras outputs in order, each with whether it is a time-major sequence."""
    op = ctx.op
    if isinstance(layer, RecurrentLayerSpec):
        (values,) = results
        head = (values.sequence, True) if layer.return_sequences else (values.last, False)
        return [head] + ([(s, False) for s in values.states] if layer.return_state else [])
    forward, backward = results
    y: Any
    y_rev: Any
    if layer.return_sequences:
        assert backward.sequence is not None  # return_sequences: every lowering returns it
        y, y_rev = forward.sequence, ctx.flip_time(backward.sequence)  # backward: processing order -> input order
    else:
        y, y_rev = forward.last, backward.last
    seq = layer.return_sequences
    if layer.merge_mode is None:
        heads = [(y, seq), (y_rev, seq)]
    else:
        merged = {
            "concat": lambda: op.Concat(y, y_rev, axis=-1),
            "sum": lambda: op.Add(y, y_rev),
            "ave": lambda: op.Div(op.Add(y, y_rev), 2.0),
            "mul": lambda: op.Mul(y, y_rev),
        }[layer.merge_mode]()
        heads = [(merged, seq)]
    states = [(s, False) for s in forward.states + backward.states] if layer.return_state else []
    return heads + states


def _leading_masked_rule(ctx: LoweringContext, layer: RecurrentLayerSpec, values: LayerValues, mask: Any,
                         initial: list[Any], keras_major: int | None) -> LayerValues:
    """With given initial states and a mask, steps before a row's first unmasked step output
    the last cell's initial first state (Keras 3, not unrolled) or zeros (Keras 2, Keras 3
    unrolled), and a fully masked row's last output follows the same rule. Applied after
    any strategy, so all of them agree (see reference/loop.py)."""
    if layer.zero_output_for_mask:
        return values  # masked steps are zeros anyway
    op = ctx.op
    from_state = leading_output_is_state(layer, keras_major)
    last_cell_first_state = initial[len(initial) - len(layer.cells[-1].state_names)]
    processing_mask = ctx.flip_time(mask) if layer.go_backwards else mask
    # counted in float32 (exact below 2**24 steps): tract evaluates an int64 CumSum of a
    # dynamic-shaped tensor as symbolic dims and fails ("TDim is not a number")
    seen = op.CumSum(op.Cast(processing_mask, to=ir.DataType.FLOAT), ctx.scalar(0, ir.DataType.INT64))
    started = op.Greater(seen, 0.0)  # (time, batch, 1)
    sequence, last = values.sequence, values.last
    if sequence is not None:
        fallback = last_cell_first_state if from_state else op.Mul(sequence, 0.0)
        sequence = op.Where(started, sequence, fallback)
    if last is not None:
        any_kept = ctx.squeeze(op.Gather(started, ctx.ints(-1), axis=0), 0)  # (batch, 1)
        last = op.Where(any_kept, last, last_cell_first_state if from_state else op.Mul(last, 0.0))
    return LayerValues(sequence, last, values.states)
