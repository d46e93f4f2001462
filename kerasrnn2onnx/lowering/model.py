"""ModelSpec -> onnx.ModelProto: wire layers together and transpose only at the edges.

Inside the graph, sequences stay time-major (what the ONNX recurrent ops take), so a
stack of layers has no Transpose between layers; model inputs are transposed once and
sequence outputs once. Batch and time dimensions the Keras file leaves open stay
dynamic and named (``batch``, ``time``); dimensions it fixes stay fixed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import onnx
from onnx import helper

from ..errors import ConversionError
from ..spec.types import ModelSpec, TensorSpec
from .graph import GraphBuilder, value_info
from .native import LayerValues, check_native, lower_native

DEFAULT_OPSET = 18
MIN_OPSET = 14  # LSTM/GRU/RNN-14 (layout attribute) and Squeeze with an axes input


@dataclass(frozen=True)
class LayerPlan:
    """The lowering chosen for one layer and why (shown by ``inspect``)."""

    layer: str
    strategy: str
    reason: str


def plan_layers(spec: ModelSpec) -> list[LayerPlan]:
    """Choose a lowering per layer; raises for layers no available lowering expresses exactly."""
    plans = []
    for layer in spec.layers:
        check_native(layer)
        ops = ", ".join(sorted({c.kind.replace("Cell", "").replace("SimpleRNN", "RNN") for c in layer.cells}))
        reason = f"ONNX {ops} op expresses every argument exactly"
        if layer.unroll:
            reason += " (unroll=True computes the same steps; lowered as a loop)"
        plans.append(LayerPlan(layer.name, "native", reason))
    return plans


def max_opset() -> int:
    return onnx.defs.onnx_opset_version()


def _dims(batch: int | None, time: int | None, width: int) -> list[int | str]:
    return [batch if batch is not None else "batch", time if time is not None else "time", width]


def build_model(spec: ModelSpec, opset: int = DEFAULT_OPSET, converter_version: str = "0") -> onnx.ModelProto:
    """Lower ``spec`` to a checked ONNX model with named dims and provenance metadata."""
    if not MIN_OPSET <= opset <= max_opset():
        raise ConversionError(f"--opset must be between {MIN_OPSET} and {max_opset()}, got {opset}")
    plans = plan_layers(spec)
    builder = GraphBuilder()
    output_names = [builder.reserve(out.name) for out in spec.outputs]  # before any internal name
    graph_inputs = []
    time_major: dict[TensorSpec, str] = {}
    static: dict[str, tuple[int | None, int | None]] = {}
    for inp in spec.inputs:
        name = builder.reserve(inp.name)
        graph_inputs.append(value_info(name, _dims(inp.batch, inp.timesteps, inp.features)))
        time_major[TensorSpec(inp.name)] = builder.transpose(name, (1, 0, 2), f"{inp.name}/time_major")
        static[inp.name] = (inp.batch, inp.timesteps)
    values: dict[str, LayerValues] = {}
    for layer in spec.layers:
        source = layer.source
        x = time_major[source]
        static[layer.name] = static[source.layer]
        produced = lower_native(builder, layer, x)
        values[layer.name] = produced
        if produced.sequence is not None:
            time_major[TensorSpec(layer.name, 0)] = produced.sequence
    graph_outputs = []
    final_nodes = []
    for out, name in zip(spec.outputs, output_names):
        layer = spec.layer(out.tensor.layer)
        produced = values[layer.name]
        batch, time = static[layer.name]
        if out.tensor.index == 0 and layer.return_sequences:
            source, perm, dims = produced.sequence, (1, 0, 2), _dims(batch, time, layer.units)
        else:
            source = produced.last if out.tensor.index == 0 else produced.states[out.tensor.index - 1]
            width = layer.units if out.tensor.index == 0 else _state_width(layer, out.tensor.index)
            perm, dims = None, [batch if batch is not None else "batch", width]
        if perm is not None:
            final_nodes.append(("Transpose", source, name, {"perm": list(perm)}))
        else:
            final_nodes.append(("Identity", source, name, {}))
        graph_outputs.append(value_info(name, dims))
    for op, source, name, attrs in final_nodes:
        builder.nodes.append(helper.make_node(op, [source], [name], name=builder.fresh(f"{name}:{op}"), **attrs))
    _fold_output_identities(builder)
    graph = helper.make_graph(builder.nodes, spec.name or "model", graph_inputs, graph_outputs, builder.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="kerasrnn2onnx",
        producer_version=converter_version,
    )
    model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    metadata = {
        "keras_version": spec.keras_version or "unknown",
        "keras_major": str(spec.keras_major) if spec.keras_major is not None else "unknown",
        "source_format": spec.format,
        "converter": f"kerasrnn2onnx {converter_version}",
        "lowering": json.dumps({p.layer: p.strategy for p in plans}),
    }
    helper.set_model_props(model, metadata)
    return model


def _state_width(layer, index: int) -> int:
    k = 0
    for cell in layer.cells:
        for _ in cell.state_names:
            k += 1
            if k == index:
                return cell.units
    raise IndexError(index)


def _fold_output_identities(builder: GraphBuilder) -> None:
    """Rename a producer's output to the graph output instead of adding an Identity, where
    the value is used by nothing else (keeps graphs free of needless nodes)."""
    uses: dict[str, int] = {}
    for node in builder.nodes:
        for value in node.input:
            uses[value] = uses.get(value, 0) + 1
    producers = {out: node for node in builder.nodes for out in node.output}
    kept = []
    for node in builder.nodes:
        if node.op_type == "Identity" and uses.get(node.input[0], 0) == 1 and node.input[0] in producers:
            producer = producers[node.input[0]]
            for i, out in enumerate(producer.output):
                if out == node.input[0]:
                    producer.output[i] = node.output[0]
            continue
        kept.append(node)
    builder.nodes[:] = kept
