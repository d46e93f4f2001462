"""Scan bodies whose outputs nothing inside the body reads, for tract.

A step may return a value that is both a body output and read by another body node (a
custom cell's step returns ``output, Identity(output)``; a masked step's state feeds the
output's Where). tract 0.23 fails to analyse such a body ("Failed analyse for node ...
Scan"; reproducer: tests/runtime_bugs/reproducers.py ``scan_output_read_in_body``). Targets
without ``scan_output_feeds_body`` get each such output written by an Identity of a renamed
value, which the body's nodes read instead: the same values.
"""

from __future__ import annotations

import onnx
from onnx import helper


def _bodies(graph: onnx.GraphProto):
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                if node.op_type == "Scan":
                    yield attr.g
                yield from _bodies(attr.g)


def separate_scan_outputs(graph: onnx.GraphProto) -> None:
    """Rewrite, in place, every Scan body (nested ones too) of ``graph``."""
    for body in _bodies(graph):
        outputs = {o.name for o in body.output}
        read = {name for node in body.node for name in node.input} & outputs
        if not read:
            continue
        renamed = {name: f"{name}__value" for name in read}
        for node in body.node:
            node.input[:] = [renamed.get(n, n) for n in node.input]
            node.output[:] = [renamed.get(n, n) for n in node.output]
        body.node.extend(helper.make_node("Identity", [renamed[n]], [n]) for n in sorted(read))
