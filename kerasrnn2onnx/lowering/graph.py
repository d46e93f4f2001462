"""A small ONNX graph builder: unique value names scoped by layer, constants as initializers.

Every Keras config is static, so graphs are built directly at conversion time; this
keeps node construction in one place and names readable (``lstm/W``, ``lstm/Y``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Collects nodes and initializers; ``value`` names are unique within the graph."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._constants: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def fresh(self, name: str) -> str:
        """A graph-unique name based on ``name``."""
        candidate, n = name, 0
        while candidate in self._names:
            n += 1
            candidate = f"{name}_{n}"
        self._names.add(candidate)
        return candidate

    def reserve(self, name: str) -> str:
        """Claim an exact name (graph inputs/outputs); a clash is a programming error."""
        if name in self._names:
            raise ValueError(f"duplicate ONNX value name {name!r}")
        self._names.add(name)
        return name

    def constant(self, name: str, array: np.ndarray) -> str:
        """An initializer; identical small constants (axes, steps) are shared."""
        array = np.asarray(array)
        key = (str(array.dtype), array.tobytes(), array.shape)
        if array.size <= 8 and key in self._constants:
            return self._constants[key]
        value = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(array, value))
        if array.size <= 8:
            self._constants[key] = value
        return value

    def node(self, op: str, inputs: Sequence[str], outputs: Sequence[str] | int, name: str, **attrs: Any) -> list[str]:
        """Add ``op``; ``outputs`` is a list of base names ('' for an unused optional
        output) or a count of outputs to name after ``name``. Returns the output names."""
        if isinstance(outputs, int):
            outputs = [f"{name}_out{i}" if outputs > 1 else name for i in range(outputs)]
        out_names = [self.fresh(o) if o else "" for o in outputs]
        while out_names and out_names[-1] == "":
            out_names.pop()
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op, list(inputs), out_names, name=self.fresh(f"{name}:{op}"), **attrs))
        return out_names

    # Small helpers for the ops the lowerings use repeatedly.
    def squeeze(self, value: str, axis: int, name: str) -> str:
        axes = self.constant("axes", np.array([axis], dtype=np.int64))
        return self.node("Squeeze", [value, axes], [name], name)[0]

    def transpose(self, value: str, perm: Sequence[int], name: str) -> str:
        return self.node("Transpose", [value], [name], name, perm=list(perm))[0]

    def flip_time(self, value: str, name: str, axis: int = 0) -> str:
        """Reverse ``value`` along ``axis`` with one Slice (negative step)."""
        starts = self.constant("minus_one", np.array([-1], dtype=np.int64))
        ends = self.constant("int64_min", np.array([np.iinfo(np.int64).min], dtype=np.int64))
        axes = self.constant("axes", np.array([axis], dtype=np.int64))
        return self.node("Slice", [value, starts, ends, axes, starts], [name], name)[0]


def value_info(name: str, dims: Sequence[int | str | None]) -> onnx.ValueInfoProto:
    """A float32 tensor value info; ``None`` dims become anonymous dynamic dims."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [d if d is not None else "?" for d in dims])
