"""Walks over a finished ONNX graph proto, shared by the passes that rewrite one
(context.py's trimming, scan_bodies.py, transpose_fold.py)."""

from __future__ import annotations

import onnx


def names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value name ``graph`` reads: its nodes' inputs and its outputs, nested subgraphs
    included (a Scan body or If branch may read a value of the graph around it)."""
    names = {o.name for o in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                names |= names_read(attr.g)
    return names
