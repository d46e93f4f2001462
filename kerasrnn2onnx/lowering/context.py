"""The build context shared by every lowering: an onnxscript GraphBuilder over an onnx_ir
graph, with per-layer name scopes and a few helpers for the ops every strategy uses.

Every Keras config is static, so graphs are built at conversion time by tracing Python
(the onnxscript builder's model); initializers live in the root graph, where Scan bodies
can read them as outer-scope values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import onnx
import onnx_ir as ir
import onnx_ir.passes.common as common_passes
from onnxscript import GraphBuilder

from .constants import constants_as_initializers
from .proto_walk import names_read
from .scan_bodies import carry_outer_values, final_states_from_sequences, separate_scan_outputs
from .targets import TargetProfile, profile
from .transpose_fold import fold_transposes

INT64_MIN = np.iinfo(np.int64).min
DTYPES = {"float32": ir.DataType.FLOAT, "int32": ir.DataType.INT32, "int64": ir.DataType.INT64,
          "bool": ir.DataType.BOOL}


class LoweringContext:
    """One model under construction."""

    def __init__(self, name: str, opset: int, target: str = "cpu") -> None:
        self.opset = opset
        self.target: TargetProfile = profile(target)
        self.graph = ir.Graph(name=name, inputs=[], outputs=[], nodes=[], opset_imports={"": opset})
        self.builder = GraphBuilder(self.graph)
        self._ints: dict[tuple[int, ...], ir.Value] = {}

    @property
    def op(self):  # noqa: ANN201 - onnxscript's OpBuilder
        return self.builder.op

    @contextmanager
    def building(self, builder: GraphBuilder) -> Iterator[None]:
        """Emit into ``builder`` (a subgraph's, e.g. an If branch) instead; weights and
        constants still go to the main graph, which subgraphs can read."""
        outer, self.builder = self.builder, builder
        try:
            yield
        finally:
            self.builder = outer

    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Name nodes, values and weights of one layer (``lstm/...``)."""
        self.builder.push_module(name)
        try:
            yield
        finally:
            self.builder.pop_module()

    def weight(self, name: str, array: np.ndarray) -> ir.Value:
        """A float32 initializer named within the current scope."""
        return self.builder.initializer(ir.tensor(np.ascontiguousarray(array, dtype=np.float32), name=name))

    def ints(self, *values: int) -> ir.Value:
        """A shared int64 1-D constant (axes, starts, shapes)."""
        key = tuple(int(v) for v in values)
        if key not in self._ints:
            name = "const_i64_" + "_".join(str(v).replace("-", "m") for v in key)
            tensor = ir.tensor(np.array(key, dtype=np.int64), name=name)
            self._ints[key] = self.builder.initializer(tensor, name=name, qualify=False)
        return self._ints[key]

    def input(self, name: str, dtype: str, dims: Sequence[int | str | None]) -> ir.Value:
        return self.builder.input(name, DTYPES[dtype], list(dims))

    # Helpers used by several strategies -------------------------------------------
    def flip_time(self, value: ir.Value, axis: int = 0) -> ir.Value:
        """Reverse ``value`` along ``axis`` with one Slice (negative step), or, where the target
        cannot take that Slice after a Reshape (targets.py ``slice_flips``: tract's declutter
        fails pulling it over a Reshape that made the axis), a Gather of the indices
        (n - 1) - Range(0, n, 1). Why not Range(n - 1, -1, -1): tract 0.23 sizes a Range with a
        negative step wrong ("Failed analyse ... Range")."""
        if self.target.slice_flips:
            return self.op.Slice(value, self.ints(-1), self.ints(INT64_MIN), self.ints(axis), self.ints(-1))
        op = self.op
        length = op.Squeeze(self.dims(value, axis, axis + 1), self.ints(0))
        last = op.Sub(length, op.Constant(value=ir.tensor(np.array(1, np.int64))))
        upward = op.Range(op.Constant(value=ir.tensor(np.array(0, np.int64))), length,
                          op.Constant(value=ir.tensor(np.array(1, np.int64))))
        return op.Gather(value, op.Sub(last, upward), axis=axis)

    def scalar(self, number: float, dtype: ir.DataType) -> ir.Value:
        """A constant scalar of ``dtype``. Why not ``op.CastLike``: it needs opset 15."""
        return self.op.Constant(value=ir.tensor(np.array(number, dtype=dtype.numpy())))

    def scalar_like(self, number: float, like: ir.Value) -> ir.Value:
        """A constant scalar of ``like``'s element type (float32 when it is not recorded)."""
        return self.scalar(number, like.dtype if like.dtype is not None else ir.DataType.FLOAT)

    def reduce(self, kind: str, value: ir.Value, axis: int, keepdims: int) -> ir.Value:
        """``Reduce<kind>`` over one axis. Why a helper: ReduceSum takes its axes as an input
        from opset 13, ReduceMax/Min/Mean only from opset 18 (an attribute before)."""
        if kind == "Sum" or self.opset >= 18:
            return getattr(self.op, f"Reduce{kind}")(value, self.ints(axis), keepdims=keepdims)
        return getattr(self.op, f"Reduce{kind}")(value, axes=[axis], keepdims=keepdims)

    def squeeze(self, value: ir.Value, axis: int) -> ir.Value:
        return self.op.Squeeze(value, self.ints(axis))

    def unsqueeze(self, value: ir.Value, axis: int) -> ir.Value:
        return self.op.Unsqueeze(value, self.ints(axis))

    def dims(self, value: ir.Value, start: int, end: int) -> ir.Value:
        """``value``'s dims ``start:end`` as a 1-D int64 value (time-major sequences: 0 is
        time, 1 is batch)."""
        return self.op.Slice(self.op.Shape(value), self.ints(start), self.ints(end))

    def time_batch_dims(self, x_time_major: ir.Value) -> ir.Value:
        """The (time, batch) dims of a time-major sequence as a 1-D int64 value."""
        return self.dims(x_time_major, 0, 2)

    def zeros_state(self, x_time_major: ir.Value, units: int) -> ir.Value:
        """(batch, units) zeros for a time-major (time, batch, features) input."""
        batch = self.dims(x_time_major, 1, 2)
        shape = self.op.Concat(batch, self.ints(units), axis=0)
        return self.op.ConstantOfShape(shape, value=ir.tensor(np.zeros(1, np.float32)))

    def finish(self, outputs: Sequence[tuple[ir.Value, str, Sequence[int | str | None]]], producer_version: str,
               metadata: dict[str, str]) -> onnx.ModelProto:
        """Name the graph outputs, serialise, and trim what onnxruntime need not compute."""
        claimed: set[int] = set()
        for value, name, dims in outputs:
            if id(value) in claimed or value.is_graph_input() or value.is_graph_output():
                value = self.op.Identity(value)
            claimed.add(id(value))
            value.shape = ir.Shape(list(dims))
            value.type = ir.TensorType(ir.DataType.FLOAT)
            self.builder.add_output(value, name)
        model = ir.Model(self.graph, ir_version=onnx.helper.find_min_ir_version_for(
            [onnx.helper.make_opsetid("", self.opset)]), producer_name="kerasrnn2onnx",
            producer_version=producer_version)
        # Lowerings emit every value they might need; drop what no output reads.
        common_passes.RemoveUnusedNodesPass()(model)
        # a shared layer's calls carry the same weights: keep one copy
        common_passes.DeduplicateInitializersPass()(model)
        common_passes.ClearMetadataAndDocStringPass()(model)  # the builder's per-node scope notes
        # Value names come from per-graph node counters: make them unique across the main
        # graph and Scan bodies (ONNX requires SSA over the whole model).
        common_passes.NameFixPass()(model)
        proto = ir.serde.serialize_model(model)
        if self.target.blank_unused_outputs:
            _drop_unused_optional_outputs(proto.graph)
        if not self.target.value_info:
            _drop_value_info(proto.graph)
        if self.target.fold_transposes:
            fold_transposes(proto.graph)
        if not self.target.scan_final_states:
            final_states_from_sequences(proto.graph)  # before: it adds Identities of body outputs
        if not self.target.scan_output_feeds_body:
            separate_scan_outputs(proto.graph)
        if not self.target.scan_outer_values:
            carry_outer_values(proto.graph)
        if not self.target.constant_nodes:
            constants_as_initializers(proto.graph)
        _store_branch_weights(proto.graph)
        onnx.helper.set_model_props(proto, metadata)
        return proto


RECURRENT_OPS = ("LSTM", "GRU", "RNN")


def _drop_unused_optional_outputs(graph: onnx.GraphProto) -> None:
    """Blank the outputs of recurrent ops that nothing reads, so the kernel skips them (in
    subgraphs too: a layer switched on the batch size has its ops inside If branches)."""
    used = names_read(graph)

    def blank(g: onnx.GraphProto) -> None:
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    blank(attr.g)
            if node.op_type not in RECURRENT_OPS:
                continue
            names = [name if name in used else "" for name in node.output]
            while names and names[-1] == "":
                names.pop()
            del node.output[:]
            node.output.extend(names)

    blank(graph)


def _drop_value_info(graph: onnx.GraphProto, subgraph: bool = False) -> None:
    """Forget recorded intermediate shapes (optional in ONNX) in the graph and its subgraphs,
    and the named dims of subgraph inputs/outputs: a runtime that runs on concrete shapes
    infers them itself (tract fails to unify a named dim with the concrete size)."""
    del graph.value_info[:]
    if subgraph:
        for value in list(graph.input) + list(graph.output):
            for dim in value.type.tensor_type.shape.dim:
                if dim.HasField("dim_param"):
                    dim.ClearField("dim_param")
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _drop_value_info(attr.g, subgraph=True)



def _store_branch_weights(graph: onnx.GraphProto) -> None:
    """Move the initializers that only one If branch reads into that branch. Why: read from
    the main graph two scopes down (If, then Scan), onnxruntime ran a GRU Scan 5-8% slower
    than with the same weights stored in the branch (measured, 32x50x32x64)."""
    ifs = [node for node in graph.node if node.op_type == "If"]
    if not ifs:
        return
    readers: dict[str, list[onnx.GraphProto | None]] = {}
    for name in {i for node in graph.node if node.op_type != "If" for i in node.input}:
        readers.setdefault(name, []).append(None)
    for node in ifs:
        readers.setdefault(node.input[0], []).append(None)
        for attr in node.attribute:
            for name in names_read(attr.g):
                readers.setdefault(name, []).append(attr.g)
    kept = []
    for initializer in graph.initializer:
        owners = readers.get(initializer.name, [])
        if len(owners) == 1 and owners[0] is not None:
            owners[0].initializer.append(initializer)
        else:
            kept.append(initializer)
    del graph.initializer[:]
    graph.initializer.extend(kept)
