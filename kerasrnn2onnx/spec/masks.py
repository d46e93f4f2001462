"""Keras's mask semantics, in one place: which mask each layer applies and passes on.

Every stage asks these questions the same way (the parser when it records a layer's facts,
the NumPy reference and the ONNX lowering when they run or emit it), so the answers live
here once, written over whatever a stage's mask values are (NumPy booleans, ONNX values):

- a **feed-forward layer** declares what it does with an incoming mask as its ``mask``
  class attribute: ``pass`` it on, ``drop`` it, ``consume`` it (GlobalAveragePooling1D
  averages kept steps only) or ``merge`` several (:func:`feed_forward_mask`);
- a **recurrent layer** applies an explicit ``mask=`` tensor, else its input's mask unless
  Keras dropped it (:func:`keeps_implicit_mask`, :func:`applied_mask`); its sequence
  outputs carry the mask on, even where the layer ignored it (:func:`passed_mask`);
- inside the time loop (``reference/loop.py``, ``lowering/loops.py``, the native
  lowering's compaction): a masked step carries every state unchanged and outputs the
  previous output (zeros with ``zero_output_for_mask``); what is output before a row's
  first unmasked step depends on the Keras version (:func:`leading_output_is_state`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

M = TypeVar("M")
V = TypeVar("V")


def feed_forward_mask(layer: Any, masks: Sequence[M | None], any_of: Callable[[M, M], M],
                      all_of: Callable[[M, M], M],
                      join_time: Callable[[Sequence[M | None]], M] | None = None) -> M | None:
    """The mask a feed-forward layer passes on. ``merge`` layers (base_merge.py and
    concatenate.py ``compute_mask``): Keras 3 keeps a step any input keeps and gives no mask
    when one input has none (its all-True mask keeps every step); tf-keras keeps a step every
    masked input keeps (unmasked inputs left out: ``all`` over their ones). Concatenate along
    features follows the same two rules (Keras 3 ORs the masks widened to each input's
    features, tf-keras ANDs them); along time the masks are joined in time
    (``join_time``, which fills a missing one with all-True). ``any_of``/``all_of`` are the
    stage's logical or/and."""
    rule = layer.mask  # a class's rule, or a version-dependent one set on the spec (AffineSpec)
    if rule == "pass":
        return masks[0]
    if rule == "merge":
        present = [m for m in masks if m is not None]
        if not present:
            return None
        if getattr(layer, "joins_time", False):
            assert join_time is not None  # a stage that runs Concatenate(axis=1) gives it
            return join_time(masks)
        if layer.any_or_none and len(present) < len(masks):
            return None  # a missing mask counts as all-kept, so the OR keeps every step (Keras 3: no mask)
        combine = any_of if layer.any_or_none else all_of
        out = present[0]
        for m in present[1:]:
            out = combine(out, m)
        return out
    return None


def keras3_masked_merge(op: str, xs: Sequence[V], masks: Sequence[M | None], combine: Callable[[V, V], V],
                        where: Callable[[M, V, V], V], constant: Callable[[float, V], V],
                        any_of: Callable[[M, M], M]) -> V:
    """The values of Keras 3's ``Multiply``, ``Maximum`` and ``Minimum`` of masked inputs:
    unlike the other merges they read their inputs' masks (multiply.py,
    base_merge.py ``_apply_merge_op_and_or_mask``), so masked steps change the numbers.
    Multiply counts a masked input as 1 and, when every input has a mask, zeroes the steps
    all of them mask. Maximum/Minimum fold the inputs in order: a masked step of the next
    input takes the running result's value, a masked step of the running result takes the
    input's, and the running mask is the OR of both (gone once an input has none). tf-keras
    reads no mask there. ``where(mask, a, b)`` broadcasts a mask over the features;
    ``constant(v, like)`` is ``v`` in ``like``'s type."""
    if op == "multiply":
        out: V | None = None
        for x, m in zip(xs, masks, strict=True):
            x = where(m, x, constant(1.0, x)) if m is not None else x
            out = x if out is None else combine(out, x)
        assert out is not None  # a merge has two inputs or more
        if all(m is not None for m in masks):
            keep = masks[0]
            for m in masks[1:]:
                keep = any_of(keep, m)  # type: ignore[arg-type]  # all present (checked above)
            out = where(keep, out, constant(0.0, out))  # type: ignore[arg-type]
        return out
    result, result_mask = xs[0], masks[0]
    for x, m in zip(xs[1:], masks[1:], strict=True):
        if m is not None:
            x = where(m, x, result)
        if result_mask is not None:
            result = where(result_mask, result, x)
        result_mask = any_of(result_mask, m) if m is not None and result_mask is not None else None
        result = combine(result, x)
    return result


def keeps_implicit_mask(keras_major: int | None, tensor_kwargs: Mapping[str, Any]) -> bool:
    """Keras 3 fills a recurrent layer's mask from its input only when the call has a single
    tensor argument; with ``initial_state=`` it has two, so the input's mask is dropped."""
    return not (keras_major == 3 and "initial_state" in tensor_kwargs)


def applied_mask(layer: Any, input_mask: M | None, explicit: M | None) -> M | None:
    """The mask a recurrent layer (or Bidirectional) applies: an explicit ``mask=``, else its
    input's unless Keras dropped it (``layer.masked`` is False then)."""
    if layer.mask_source is not None:
        return explicit
    return input_mask if layer.masked else None


def passed_mask(layer: Any, input_mask: M | None, explicit: M | None) -> M | None:
    """The mask a recurrent layer's sequence outputs carry: the explicit ``mask=``, else the
    input's, even where the layer ignored it (Keras 3 with ``initial_state=`` computes the
    output mask from the first argument's)."""
    return explicit if layer.mask_source is not None else input_mask


def leading_output_is_state(layer: Any, keras_major: int | None) -> bool:
    """Before a row's first unmasked step, Keras 3's non-unrolled loop outputs the last
    cell's first state (the *initial* state); Keras 2 and Keras 3 unrolled output zeros.
    Identical with zero initial states; differs once states are given or carried."""
    return keras_major == 3 and not layer.unroll
