"""The Keras 3 op nodes that compute masks: which ones, with which arguments, and the facts of
the boolean tensors they make.

Keras 3 runs a layer's ``compute_mask`` on the symbolic tensors of a functional graph, so
the ops it calls there are recorded as graph nodes (module ``keras.src.ops.*``) whenever a
layer that takes ``mask=`` (a recurrent layer, Softmax) reads the result. Keras's own code
records exactly these idioms (keras/src/layers/...):

- ``Embedding.compute_mask``: ``not_equal(ids, 0)``;
- ``Masking.compute_mask``: ``any(not_equal(x, value), axis=-1)``;
- the elementwise merges (``Merge.compute_mask``): ``logical_or`` of the inputs' masks,
  chained for more than two inputs;
- ``Concatenate.compute_mask``: for each input a mask of its full shape
  (``logical_or(expand_dims(m, -1), zeros_like(x, dtype="bool"))``, or
  ``ones_like(x, dtype="bool")`` for an unmasked input), ``concatenate`` of those along the
  layer's axis, then ``any(axis=-1)``;
- ``Attention.compute_mask``: ``convert_to_tensor(query_mask)``.

Each op is parsed by a small function registered by its class name; the NumPy reference
and the lowering dispatch on the spec's ``op`` the same way. An op outside this list, or one
of them with arguments no mask idiom uses, is refused with the node, the op and the reason:
a guess at a general op would give silently wrong masks.

Boolean tensors keep the converter's layout facts: rank 2 is a (batch, time) mask
(``width`` is ``None``), rank 3 a (batch, time, width) mask of a sequence's full shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import UnsupportedError
from ..io.raw import RawLayer
from ..registry import Registry
from .checks import TensorFacts
from .node import Ref
from .types import MaskOpSpec

Sources = tuple[Ref, ...]
Infos = Sequence[TensorFacts]
Parsed = tuple[MaskOpSpec, TensorFacts]
MaskOpParser = Callable[[RawLayer, Sources, Infos], Parsed]
MASK_OP_PARSERS: Registry[str, MaskOpParser] = Registry("mask op parser")
"""Keras op class name -> its parser; an op node of another class is refused."""


def refuse(raw: RawLayer, why: str, key: str | None = None) -> UnsupportedError:
    """The error for an op node outside the mask idioms: node name, op and why."""
    return UnsupportedError(raw.name, f"Keras op {raw.class_name} {why}", key)


def _bool_facts(like: TensorFacts, width: int | None, rank: int, steps: int | None = None) -> TensorFacts:
    """A boolean result: no Keras mask of its own, the time of the tensor it came from."""
    return TensorFacts(width, rank, False, True, steps if steps is not None else like.steps)


def _one_input(raw: RawLayer, sources: Sources) -> None:
    if len(sources) != 1:
        raise refuse(raw, f"takes one tensor here, got {len(sources)}")


def _mask_layout(raw: RawLayer, info: TensorFacts, boolean: bool | None = True) -> None:
    """Mask tensors are (batch, time) or (batch, time, features); ``boolean``: the input must be
    one (True), must not be one (False), or either (None)."""
    if info.rank not in (2, 3) or info.time_major or (info.rank == 2 and info.width is not None):
        raise refuse(raw, f"is supported on (batch, time) or (batch, time, features) tensors only (a mask idiom), "
                     f"got a rank-{info.rank} tensor" + (" of (batch, features)" if info.rank == 2 else ""))
    if boolean is not None and info.boolean != boolean:
        raise refuse(raw, "is supported on boolean mask tensors only (a mask idiom)" if boolean else
                     "is supported on data tensors only (a mask idiom)")


def _compare(op: str) -> MaskOpParser:
    """``not_equal`` / ``equal`` against one number: Embedding's ``ids != 0``, Masking's
    ``x != mask_value`` (any rank the data has: the next op decides what the mask is)."""
    def parse(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
        scalars = [a for a in raw.call_args[1:] if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if len(sources) != 1 or len(scalars) != 1:
            raise refuse(raw, "is supported against one number only (a mask idiom)")
        info = infos[0]
        return MaskOpSpec(raw.name, sources, op, float(scalars[0])), _bool_facts(info, info.width, info.rank)
    return parse


def _reduce(op: str) -> MaskOpParser:
    """``any`` / ``all`` over the features of a (batch, time, features) tensor: Masking's and
    Concatenate's last step, which gives the (batch, time) mask."""
    def parse(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
        _one_input(raw, sources)
        info = infos[0]
        axis, keepdims = raw.config.get("axis"), raw.config.get("keepdims", False)
        if axis not in (-1, info.rank - 1) or keepdims or info.rank != 3 or info.time_major:
            raise refuse(raw, f"is supported over the last axis of a rank-3 tensor without keepdims only (a mask "
                         f"idiom), got axis={axis!r}, keepdims={keepdims!r} on rank {info.rank}", "axis")
        return MaskOpSpec(raw.name, sources, op), _bool_facts(info, None, 2)
    return parse


def _logical_not(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
    """``logical_not`` of a mask (user code inverting a padding flag)."""
    _one_input(raw, sources)
    info = infos[0]
    return MaskOpSpec(raw.name, sources, "logical_not"), _bool_facts(info, info.width, info.rank)


def _convert_to_tensor(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
    """Attention.compute_mask returns ``convert_to_tensor(query_mask)``: on a boolean tensor
    with no dtype it is the identity."""
    extra = [k for k in ("dtype", "sparse", "ragged") if raw.config.get(k)]
    if not infos[0].boolean or extra or len(sources) != 1:
        raise refuse(raw, "is supported on a boolean mask tensor without dtype, sparse or ragged only (a mask idiom)",
                     extra[0] if extra else None)
    info = infos[0]
    return MaskOpSpec(raw.name, sources, "identity"), _bool_facts(info, info.width, info.rank)


def _logical(op: str) -> MaskOpParser:
    """``logical_or`` / ``logical_and`` of two masks of one rank: the merges' OR of (batch,
    time) masks, Concatenate's OR of a (batch, time, 1) mask with a (batch, time, features)
    one (a width of 1 broadcasts, as in NumPy)."""
    def parse(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
        if len(sources) != 2:
            raise refuse(raw, f"takes two tensors, got {len(sources)}")
        for info in infos:
            _mask_layout(raw, info)
        a, b = infos
        if a.rank != b.rank:
            raise refuse(raw, f"is supported on two masks of one rank only (a mask idiom), got ranks {a.rank} and "
                         f"{b.rank}")
        width = _broadcast_width(raw, a, b) if a.rank == 3 else None
        return MaskOpSpec(raw.name, sources, op), _bool_facts(a, width, a.rank, a.steps or b.steps)
    return parse


def _broadcast_width(raw: RawLayer, a: TensorFacts, b: TensorFacts) -> int:
    """The width two (batch, time, width) masks broadcast to: equal, or one of them 1."""
    if a.width is not None and b.width is not None and (a.width == b.width or 1 in (a.width, b.width)):
        return a.width if b.width == 1 else b.width
    raise refuse(raw, f"is given masks of widths {a.width} and {b.width}, which do not broadcast (a mask idiom has "
                 "equal widths or a width of 1)")


def _expand_dims(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
    """``expand_dims(mask, -1)``: Concatenate widening a (batch, time) mask to (batch, time, 1)."""
    _one_input(raw, sources)
    info = infos[0]
    _mask_layout(raw, info)
    axis = raw.config.get("axis")
    if info.rank != 2 or axis not in (-1, 2):
        raise refuse(raw, f"is supported as a new last axis of a (batch, time) mask only (a mask idiom), got "
                     f"axis={axis!r} on rank {info.rank}", "axis")
    return MaskOpSpec(raw.name, sources, "expand_dims"), _bool_facts(info, 1, 3)


def _filled(op: str) -> MaskOpParser:
    """``zeros_like`` / ``ones_like`` with ``dtype="bool"`` of a sequence: the all-False
    tensor Concatenate ORs a widened mask with (for the shape), and the all-True mask of an
    unmasked input. Without the bool dtype the result is data, not a mask."""
    def parse(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
        _one_input(raw, sources)
        info = infos[0]
        _mask_layout(raw, info, boolean=None)
        if raw.config.get("dtype") != "bool":
            raise refuse(raw, f"is supported with dtype='bool' only (a mask idiom), got dtype="
                         f"{raw.config.get('dtype')!r}", "dtype")
        return MaskOpSpec(raw.name, sources, op), _bool_facts(info, info.width, info.rank)
    return parse


def _concatenate(raw: RawLayer, sources: Sources, infos: Infos) -> Parsed:
    """The op ``concatenate`` of full-shape masks, along Concatenate's axis: features (the
    result is reduced with ``any(axis=-1)`` next) or time (masks of sequences joined in time)."""
    if len(sources) < 2:
        raise refuse(raw, f"takes at least two tensors, got {len(sources)}")
    for info in infos:
        _mask_layout(raw, info)
    ranks = {i.rank for i in infos}
    if len(ranks) != 1:
        raise refuse(raw, f"is supported on masks of one rank only (a mask idiom), got ranks {sorted(ranks)}")
    rank = ranks.pop()
    axis = raw.config.get("axis", -1)
    if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank or axis % rank == 0:
        raise refuse(raw, f"is not supported along axis {axis!r} (time or features of a mask)", "axis")
    axis %= rank
    steps = [i.steps for i in infos]
    if axis == 1:  # time: equal widths, the lengths add up
        widths = {i.width for i in infos}
        if len(widths) != 1:
            raise refuse(raw, f"joins masks of different widths {sorted(map(str, widths))} in time")
        total = sum(s for s in steps if s is not None) if None not in steps else None
        return MaskOpSpec(raw.name, sources, "concatenate", axis=1), TensorFacts(widths.pop(), rank, False, True,
                                                                                 total)
    if any(i.width is None for i in infos):
        raise refuse(raw, "needs known widths to join masks along features")
    width = sum(i.width for i in infos if i.width is not None)
    known = next((s for s in steps if s is not None), None)
    return MaskOpSpec(raw.name, sources, "concatenate", axis=2), _bool_facts(infos[0], width, 3, known)


for _cls, _op in (("NotEqual", "not_equal"), ("Equal", "equal")):
    MASK_OP_PARSERS.add(_cls, _compare(_op))
for _cls, _op in (("Any", "any"), ("All", "all")):
    MASK_OP_PARSERS.add(_cls, _reduce(_op))
for _cls, _op in (("LogicalOr", "logical_or"), ("LogicalAnd", "logical_and")):
    MASK_OP_PARSERS.add(_cls, _logical(_op))
for _cls, _op in (("ZerosLike", "zeros_like"), ("OnesLike", "ones_like")):
    MASK_OP_PARSERS.add(_cls, _filled(_op))
MASK_OP_PARSERS.add("LogicalNot", _logical_not)
MASK_OP_PARSERS.add("ConvertToTensor", _convert_to_tensor)
MASK_OP_PARSERS.add("ExpandDims", _expand_dims)
MASK_OP_PARSERS.add("Concatenate", _concatenate)


def unsupported_op_message(raw: RawLayer) -> str:
    """Why an op node of an unknown class is refused (it names the op; the node is the
    error's layer)."""
    return (f"Keras op {raw.class_name} (recorded as a graph node, module keras.src.ops) is not supported: only the "
            f"boolean ops Keras records to compute masks are ({', '.join(sorted(MASK_OP_PARSERS))}); an op on data "
            "(keras.ops.* called in a functional model) has no conversion: use a Keras layer for it")
