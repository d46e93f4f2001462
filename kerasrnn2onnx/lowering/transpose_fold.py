"""Fold chains of Transpose nodes into one (or none) in a serialized graph.

The lowerings move values between batch-major and time-major layouts layer by layer, so a
graph holds pairs like ``Transpose(Transpose(x, [1, 0, 2]), [1, 0, 2])``. onnxruntime folds
them itself; OpenVINO 2026.4 computes such a pair wrong when the inner Transpose also feeds
a recurrent op (its LSTM layout pass rewrites the shared Transpose; the reproducer is
tests/runtime_bugs/reproducers.py ``transpose_pair_after_lstm_input``). Targets with
``fold_transposes`` get each chain replaced by one Transpose of the original value, or by an
Identity when the chain composes to no permutation, which is the same values by definition.
"""

from __future__ import annotations

import onnx
from onnx import helper

from .proto_walk import names_read


def _perm(node: onnx.NodeProto) -> list[int] | None:
    for attr in node.attribute:
        if attr.name == "perm":
            return list(attr.ints)
    return None  # the default (reversed axes) needs the rank: left alone



def fold_transposes(graph: onnx.GraphProto) -> None:
    """Rewrite, in place, every Transpose of a Transpose of the main graph (nodes are in
    topological order) and drop the inner ones nothing reads any more."""
    made_by: dict[str, tuple[str, list[int]]] = {}  # output -> (original value, composed perm)
    rewritten: list[onnx.NodeProto] = []
    for node in graph.node:
        perm = _perm(node) if node.op_type == "Transpose" else None
        if perm is not None and node.input[0] in made_by:
            source, inner = made_by[node.input[0]]
            composed = [inner[p] for p in perm]
            made_by[node.output[0]] = (source, composed)
            if composed == sorted(composed):
                node = helper.make_node("Identity", [source], list(node.output), name=node.name)
            else:
                node = helper.make_node("Transpose", [source], list(node.output), name=node.name, perm=composed)
        elif perm is not None:
            made_by[node.output[0]] = (node.input[0], perm)
        rewritten.append(node)
    while True:
        read = names_read(_with_nodes(graph, rewritten))
        kept = [n for n in rewritten if n.op_type not in ("Transpose", "Identity") or n.output[0] in read]
        if len(kept) == len(rewritten):
            break
        rewritten = kept
    del graph.node[:]
    graph.node.extend(rewritten)


def _with_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> onnx.GraphProto:
    view = onnx.GraphProto()
    view.output.extend(graph.output)
    view.node.extend(nodes)
    return view
