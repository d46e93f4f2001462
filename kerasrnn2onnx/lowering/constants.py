"""Constant nodes of the main graph as initializers, for OpenCV.

OpenCV 5.0's importer keeps the axis of a Gather whose scalar index comes from a Constant
node (``x[:, -1]`` gives (batch, 1, features), and the Concat after it fails), while the same
index as an initializer is right (reproducer: tests/runtime/bugs/reproducers.py
``gather_scalar_constant_node``). Targets without ``constant_nodes`` get every tensor-valued
Constant node of the main graph moved to an initializer of the same name: the same values.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

_SCALAR_ATTRIBUTES = {"value_float": np.float32, "value_int": np.int64}


def constants_as_initializers(graph: onnx.GraphProto) -> None:
    """Rewrite ``graph`` in place (Scan bodies keep theirs: they are read per step)."""
    kept = []
    for node in graph.node:
        tensor = _constant_tensor(node) if node.op_type == "Constant" else None
        if tensor is None:
            kept.append(node)
            continue
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
    del graph.node[:]
    graph.node.extend(kept)


def _constant_tensor(node: onnx.NodeProto) -> onnx.TensorProto | None:
    if len(node.attribute) != 1:
        return None
    attr = node.attribute[0]
    if attr.name == "value":
        copy = onnx.TensorProto()
        copy.CopyFrom(attr.t)
        return copy
    if attr.name in _SCALAR_ATTRIBUTES:
        return numpy_helper.from_array(np.array(helper.get_attribute_value(attr), _SCALAR_ATTRIBUTES[attr.name]))
    return None  # value_floats/value_ints/sparse: left as nodes
