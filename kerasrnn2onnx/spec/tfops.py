"""Keras 2's ``TFOpLambda`` / ``SlicingOpLambda`` layers: TensorFlow functions a model called.

tf-keras records a call such as ``tf.transpose(x, [1, 0, 2])`` or ``x[:, -1]`` as a layer
whose config names the function (``compat.v1.transpose``, ``__operators__.getitem``) and
whose inbound node holds the call's arguments as data (tensors as ``[layer, node, index]``,
a constant first operand as ``["_CONSTANT_VALUE", -1, value]``). Nothing named there is
imported or looked up: :data:`FUNCTIONS` is a whitelist table from the recorded name to one
of our ops, and :data:`ARGUMENTS` says which keyword arguments each op reads. Any other
function is refused by its name.

Shapes are Keras's (batch first, ``None`` where unknown); the batch axis is never moved,
sliced or reduced, and every result is (batch, features) or (batch, time, features) like
the rest of the graph. The one exception is ``transpose(perm=[1, 0, 2])`` of a sequence:
it gives a *time-major* tensor, which only a ``time_major=True`` recurrent layer or the
transpose back may read (``TensorFacts.time_major``; the values stay in the graph's own
layout, so both transposes cost nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer, TensorRef
from .checks import BASE_KEYS, TensorFacts, check_keys
from .node import Node
from .types import Ref

# recorded function name (config "function") -> op; every name here was seen in real
# tf-keras 2.21 configs (scripts/make_fixtures.py builds one fixture per op)
FUNCTIONS: dict[str, str] = {
    "compat.v1.transpose": "transpose",
    "transpose": "transpose",
    "expand_dims": "expand_dims",
    "compat.v1.squeeze": "squeeze",
    "squeeze": "squeeze",
    "reshape": "reshape",
    "concat": "concat",
    "stack": "stack",
    "__operators__.add": "add",
    "math.add": "add",
    "math.subtract": "subtract",
    "math.multiply": "multiply",
    "math.truediv": "truediv",
    "math.divide": "truediv",
    "math.reduce_mean": "reduce_mean",
    "math.reduce_sum": "reduce_sum",
    "math.reduce_max": "reduce_max",
    "__operators__.getitem": "getitem",
}
# keyword arguments each op reads ("name" is the op's TF name: no effect on values)
ARGUMENTS: dict[str, frozenset[str]] = {
    "transpose": frozenset({"perm", "name", "conjugate"}),
    "expand_dims": frozenset({"axis", "name"}),
    "squeeze": frozenset({"axis", "name", "squeeze_dims"}),
    "reshape": frozenset({"shape", "name"}),
    "concat": frozenset({"axis", "name"}),
    "stack": frozenset({"axis", "name"}),
    "add": frozenset({"y", "name"}),
    "subtract": frozenset({"y", "name"}),
    "multiply": frozenset({"y", "name"}),
    "truediv": frozenset({"y", "name"}),
    "reduce_mean": frozenset({"axis", "keepdims", "name"}),
    "reduce_sum": frozenset({"axis", "keepdims", "name"}),
    "reduce_max": frozenset({"axis", "keepdims", "name"}),
    "getitem": frozenset({"slice_spec"}),
}
BINARY = ("add", "subtract", "multiply", "truediv")
REDUCE = ("reduce_mean", "reduce_sum", "reduce_max")
TFOP_CLASSES = ("TFOpLambda", "SlicingOpLambda")
CONSTANT = "_CONSTANT_VALUE"

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Operand:
    """One input of a binary op: a tensor (``source`` index into the layer's sources) or a
    constant array, in the order the call gave them."""

    source: int | None = None
    constant: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class TFOpSpec(Node):
    """One whitelisted TensorFlow function call, its arguments normalised at parse time.

    ``in_shapes`` / ``result_shape`` are Keras shapes (batch first, ``None`` unknown).
    ``params`` by op: ``perm``; ``axis`` (non-negative; of the output for expand_dims and
    stack); ``axes`` + ``keepdims`` (reductions); ``shape`` (reshape, non-batch dims);
    ``operands`` (binary ops); ``index`` (getitem: per axis after the batch, an int or a
    (start, stop, step) triple with ``None`` for defaults). ``layout_only``: the
    time-major transpose, which changes no values (see the module docstring).
    ``keeps_time``: output axis 1 is input 0's time axis, unchanged."""

    name: str
    inputs: tuple[Ref, ...]
    function: str
    op: str
    params: Mapping[str, Any]
    in_shapes: tuple[Shape, ...]
    result_shape: Shape
    layout_only: bool = False
    keeps_time: bool = False
    mask = "drop"

    @property
    def out_rank(self) -> int:
        return len(self.result_shape)

    def out_time(self, time: Any) -> Any:
        if self.out_rank == 3 and isinstance(self.result_shape[1], int):
            return self.result_shape[1]
        return time if self.keeps_time else None

    def describe(self) -> str:
        """``tf.concat(axis=1) -> (batch, 6, 4)``: the call as read and the result's shape."""
        if "operands" in self.params:
            args = ", ".join(f"<{self.inputs[o.source].layer}>" if o.source is not None
                             else str(np.asarray(o.constant).tolist()) for o in self.params["operands"])
        else:
            args = ", ".join(f"{key}={value}" for key, value in self.params.items())
        dims = ", ".join("batch" if k == 0 else ("?" if d is None else str(d)) for k, d in enumerate(self.result_shape))
        note = " (a time-major view: no values change)" if self.layout_only else ""
        return f"tf.{self.function}({args}) -> ({dims}){note}"


def _shape(info: TensorFacts) -> Shape:
    return (None, info.width) if info.rank == 2 else (None, info.steps, info.width)


def _int(value: Any, layer: str, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LayerError(layer, f"expected an integer, got {value!r}", key)
    return value


def _axis(value: Any, rank: int, layer: str, key: str = "axis") -> int:
    """A non-negative, non-batch axis of a rank-``rank`` tensor."""
    axis = _int(value, layer, key)
    if not -rank <= axis < rank:
        raise LayerError(layer, f"axis {axis} is out of range for rank {rank}", key)
    axis %= rank
    if axis == 0:
        raise UnsupportedError(layer, "an operation over the batch axis is not supported", key)
    return axis


def _constant(value: Any, layer: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise LayerError(layer, f"constant operand {value!r} is not a number or a list of numbers", "y") from None
    if not np.all(np.isfinite(array)):
        raise LayerError(layer, "constant operand is not finite", "y")
    array = array.astype(np.float32)
    array.setflags(write=False)
    return array


def _broadcast(shapes: Sequence[Shape], layer: str) -> Shape:
    """NumPy/TF broadcasting of equal-rank Keras shapes (``None``: unknown, assumed to fit)."""
    out: list[int | None] = []
    for dims in zip(*shapes, strict=True):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise LayerError(layer, f"operand shapes {list(shapes)} do not broadcast")
        if known:
            out.append(known.pop())
        elif None in dims:
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _slices(spec: Any, shape: Shape, layer: str) -> tuple[tuple[Any, ...], Shape]:
    """getitem's ``slice_spec`` -> one entry per non-batch axis and the result's shape."""
    entries = list(spec) if isinstance(spec, list) else [spec]
    rank = len(shape)
    ellipses = [k for k, e in enumerate(entries) if isinstance(e, Mapping) and e.get("class_name") == "__ellipsis__"]
    full: dict[str, Any] = {"start": None, "stop": None, "step": None}
    if len(ellipses) > 1:
        raise LayerError(layer, "more than one ellipsis in a slice", "slice_spec")
    if ellipses:
        k = ellipses[0]
        entries = entries[:k] + [full] * (rank - len(entries) + 1) + entries[k + 1:]
    if len(entries) > rank:
        raise LayerError(layer, f"{len(entries)} indices for a rank-{rank} tensor", "slice_spec")
    entries += [full] * (rank - len(entries))
    first = entries[0]
    if not (isinstance(first, Mapping) and all(first.get(k) is None for k in ("start", "stop", "step"))):
        raise UnsupportedError(layer, "slicing the batch axis is not supported", "slice_spec")
    index: list[Any] = []
    out: list[int | None] = [None]
    for entry, size in zip(entries[1:], shape[1:], strict=True):
        if isinstance(entry, int) and not isinstance(entry, bool):
            if size is not None and not -size <= entry < size:
                raise LayerError(layer, f"index {entry} is out of range for an axis of size {size}", "slice_spec")
            index.append(entry)
            continue
        if not isinstance(entry, Mapping) or set(entry) - {"start", "stop", "step"}:
            raise UnsupportedError(layer, f"slice entry {entry!r} is not supported (integers, start:stop:step and "
                                   "... are)", "slice_spec")
        triple = tuple(entry.get(k) for k in ("start", "stop", "step"))
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in triple):
            raise UnsupportedError(layer, f"slice bounds {triple} must be integers", "slice_spec")
        if triple[2] == 0:
            raise LayerError(layer, "slice step cannot be zero", "slice_spec")
        index.append(triple)
        out.append(len(range(*slice(*triple).indices(size))) if size is not None else None)
    return tuple(index), tuple(out)


def _reshape(target: Any, shape: Shape, layer: str) -> Shape:
    if not isinstance(target, list) or not target or target[0] not in (-1, None):
        raise UnsupportedError(layer, f"reshape to {target!r}: the batch axis must stay first (-1)", "shape")
    dims = [_int(d, layer, "shape") for d in target[1:]]
    if dims.count(-1) > 1 or any(d < -1 or d == 0 for d in dims):
        raise LayerError(layer, f"invalid shape {target!r}", "shape")
    size: int | None = 1
    for d in shape[1:]:
        size = size * d if (d is not None and size is not None) else None
    if -1 in dims:
        rest = int(np.prod([d for d in dims if d != -1]))
        if size is None:
            raise UnsupportedError(layer, "reshape with -1 needs a fixed number of timesteps", "shape")
        if size % rest:
            raise LayerError(layer, f"cannot reshape {size} values to {target!r}", "shape")
        dims[dims.index(-1)] = size // rest
    elif size is not None and int(np.prod(dims)) != size:
        raise LayerError(layer, f"cannot reshape {size} values to {target!r}", "shape")
    return (None, *dims)


def _call(raw: RawLayer) -> tuple[list[Any], Mapping[str, Any]]:
    """The recorded call: positional operands (TensorRef or constants) and keywords."""
    return list(raw.call_args), dict(raw.call_kwargs)


def parse_tfop(raw: RawLayer, tensors: Mapping[TensorRef, TensorFacts]) -> tuple[TFOpSpec, TensorFacts]:
    """Check one TFOpLambda/SlicingOpLambda call against the whitelist and infer its shape."""
    config = raw.config
    check_keys(config, BASE_KEYS | {"function"}, raw.name)
    function = config.get("function")
    if not isinstance(function, str) or function not in FUNCTIONS:
        raise UnsupportedError(raw.name, f"TensorFlow function {function!r} is not supported (supported: "
                               f"{', '.join(sorted(FUNCTIONS))}); nothing named in a model file is run",
                               "function")
    op = FUNCTIONS[function]
    args, kwargs = _call(raw)
    unknown = sorted(set(kwargs) - ARGUMENTS[op])
    if unknown:
        raise UnsupportedError(raw.name, f"argument(s) {', '.join(unknown)} of tf.{function} are not supported",
                               unknown[0])
    if op == "transpose" and kwargs.get("conjugate"):
        raise UnsupportedError(raw.name, "conjugate transpose is not supported", "conjugate")
    sources: list[Ref] = []
    infos: list[TensorFacts] = []
    operands: list[Operand] = []

    def tensor(ref: TensorRef) -> int:
        info = tensors.get(TensorRef(ref.layer, 0, ref.index))
        if info is None:
            raise LayerError(raw.name, f"its input '{ref.layer}' (output {ref.index}) is not produced by any layer")
        if info.boolean or info.width is None or info.rank not in (2, 3):
            raise UnsupportedError(raw.name, f"tf.{function} is supported on float (batch, features) and (batch, "
                                   "time, features) tensors only")
        if info.masked:
            raise UnsupportedError(raw.name, f"a masked tensor reaches tf.{function}: TensorFlow functions do not "
                                   "carry Keras masks")
        sources.append(Ref(ref.layer, ref.index))
        infos.append(info)
        return len(sources) - 1

    for arg in args:
        operands.append(Operand(source=tensor(arg)) if isinstance(arg, TensorRef) else
                        Operand(constant=_constant(arg, raw.name)))
    if op in BINARY:
        if "y" not in kwargs:
            raise LayerError(raw.name, f"tf.{function} has no second operand", "y")
        y = kwargs["y"]
        operands.append(Operand(source=tensor(y)) if isinstance(y, TensorRef) else
                        Operand(constant=_constant(y, raw.name)))
        if len(operands) != 2:
            raise LayerError(raw.name, f"tf.{function} takes two operands, got {len(operands)}")
    elif any(o.source is None for o in operands) or not operands:
        raise UnsupportedError(raw.name, f"tf.{function} of a constant is not supported")
    if not sources:
        raise UnsupportedError(raw.name, f"tf.{function} of constants only is not supported")
    shapes = tuple(_shape(i) for i in infos)
    params, result_shape, layout_only, keeps_time = _infer(raw.name, function, op, kwargs, operands, shapes, infos)
    spec = TFOpSpec(raw.name, tuple(sources), function, op, params, shapes, result_shape, layout_only, keeps_time)
    if any(i.time_major for i in infos) and not layout_only:
        raise UnsupportedError(raw.name, f"tf.{function} of a time-major tensor: only the transpose back to "
                               "(batch, time, features) and time_major=True recurrent layers read one")
    time_major = not infos[0].time_major if layout_only else False  # the transpose flips the layout
    return spec, _info(raw.name, result_shape, time_major)


def _info(layer: str, shape: Shape, time_major: bool) -> TensorFacts:
    if len(shape) not in (2, 3):
        raise UnsupportedError(layer, f"the result would have rank {len(shape)}: (batch, features) and (batch, time, "
                               "features) are supported")
    if shape[-1] is None:
        raise UnsupportedError(layer, "the result's last axis would be a number of timesteps: it must be fixed")
    width = shape[-1]
    return TensorFacts(width, len(shape), False, steps=shape[1] if len(shape) == 3 else None, time_major=time_major)


def _infer(layer: str, function: str, op: str, kwargs: Mapping[str, Any], operands: list[Operand],
           shapes: tuple[Shape, ...], infos: list[TensorFacts]) -> tuple[dict[str, Any], Shape, bool, bool]:
    """``(params, result_shape, layout_only, keeps_time)`` of one call."""
    shape = shapes[0]
    rank = len(shape)
    if op == "transpose":
        perm = kwargs.get("perm")
        if not isinstance(perm, list) or sorted(perm) != list(range(rank)):
            raise LayerError(layer, f"perm {perm!r} is not a permutation of {rank} axes", "perm")
        if perm == list(range(rank)):
            return {"perm": tuple(perm)}, shape, False, rank == 3
        if rank == 3 and perm == [1, 0, 2]:
            return {"perm": (1, 0, 2)}, shape, True, True
        if perm[0] != 0:
            raise UnsupportedError(layer, f"transpose with perm {perm} moves the batch axis", "perm")
        return {"perm": tuple(perm)}, tuple(shape[p] for p in perm), False, False
    if op == "expand_dims":
        axis = _axis(kwargs.get("axis"), rank + 1, layer)
        out = shape[:axis] + (1,) + shape[axis:]
        return {"axis": axis}, out, False, False
    if op == "squeeze":
        value = kwargs.get("axis", kwargs.get("squeeze_dims"))
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None:
            raise UnsupportedError(layer, "tf.squeeze without an axis is not supported (give axis=)", "axis")
        axis = _axis(value, rank, layer)
        if shape[axis] != 1:
            raise LayerError(layer, f"cannot squeeze axis {axis} of size {shape[axis]}", "axis")
        return {"axis": axis}, shape[:axis] + shape[axis + 1:], False, False
    if op == "reshape":
        out = _reshape(kwargs.get("shape"), shape, layer)
        return {"shape": tuple(out[1:])}, out, False, False
    if op in ("concat", "stack"):
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise LayerError(layer, f"tf.{function} of tensors of different ranks")
        if op == "concat":
            axis = _axis(kwargs.get("axis", 0), rank, layer)
            for k in range(rank):
                if k != axis and len({s[k] for s in shapes if s[k] is not None}) > 1:
                    raise LayerError(layer, f"tf.concat inputs differ on axis {k}")
            sizes = [s[axis] for s in shapes]
            joined = sum(sizes) if None not in sizes else None  # type: ignore[arg-type]
            merged = _broadcast(shapes, layer) if len(shapes) > 1 else shape
            out = merged[:axis] + (joined,) + merged[axis + 1:]
            return {"axis": axis}, out, False, rank == 3 and axis == 2
        axis = _axis(kwargs.get("axis", 0), rank + 1, layer)
        merged = _broadcast(shapes, layer)
        if any(1 in s for s in shapes) and len(set(shapes)) > 1:
            raise LayerError(layer, f"tf.stack inputs have different shapes {list(shapes)}")
        return {"axis": axis}, merged[:axis] + (len(shapes),) + merged[axis:], False, False
    if op in BINARY:
        operand_shapes = []
        for operand in operands:
            if operand.source is not None:
                operand_shapes.append(shapes[operand.source])
            else:
                assert operand.constant is not None
                if operand.constant.ndim >= rank:
                    raise UnsupportedError(layer, "a constant operand must not span the batch axis", "y")
                operand_shapes.append((1,) * (rank - operand.constant.ndim) + operand.constant.shape)
        if len({len(s) for s in operand_shapes}) != 1:
            raise UnsupportedError(layer, f"tf.{function} of tensors of different ranks is not supported")
        out = _broadcast(operand_shapes, layer)
        out = (None,) + out[1:]
        return {"operands": tuple(operands)}, out, False, rank == 3
    if op in REDUCE:
        value = kwargs.get("axis")
        if value is None:
            raise UnsupportedError(layer, f"tf.{function} over every axis (the batch too) is not supported", "axis")
        values = value if isinstance(value, list) else [value]
        axes = tuple(sorted({_axis(v, rank, layer) for v in values}))
        keepdims = kwargs.get("keepdims", False)
        if not isinstance(keepdims, bool):
            raise LayerError(layer, f"keepdims must be true or false, got {keepdims!r}", "keepdims")
        out = tuple(1 if k in axes else d for k, d in enumerate(shape)) if keepdims else tuple(
            d for k, d in enumerate(shape) if k not in axes)
        return {"axes": axes, "keepdims": keepdims}, out, False, rank == 3 and 1 not in axes and len(out) == 3
    # getitem
    index, out = _slices(kwargs.get("slice_spec"), shape, layer)
    keeps = rank == 3 and len(out) == 3 and index[0] == (None, None, None)
    return {"index": index}, out, False, keeps
