"""``TimeDistributed`` of a recurrent layer, or of a model holding one, as graph nodes.

Both Keras versions compute such a wrapper as the wrapped layer over ``(batch * time, ...)``:
tf-keras reshapes time into the batch for built-in layers, Keras 3 calls the layer once per
step (a Python loop over a static time axis, ``vectorized_map`` over a dynamic one), which
gives the same numbers (measured on both, fixtures ``k?_td_rnn_*``). So the parser expands the
wrapper into a :class:`FoldSpec` (batch and time merged), the wrapped layers as ordinary
nodes over the folded tensor (a recurrent layer among them is planned, lowered and checked
like any other, under every strategy), and an :class:`UnfoldSpec` named as the wrapper that
splits the batch again. Which masks come in and go out is each version's own rule
(docs/semantics.md, measured with real Keras):

- a (batch, time) mask on the wrapper's input makes both versions fail (an IndexError in the
  wrapped recurrent layer): refused;
- tf-keras reshapes the (batch, time, ids) mask of a ``TimeDistributed(Embedding(mask_zero=True))``
  to (batch * time, ids) for the wrapped layer (Keras 3 has none there): the fold computes it
  from those ids (``mask_ids``);
- inside a wrapped model, masks flow as in any model (``Embedding(mask_zero=True)`` masks the
  words a wrapped GRU reads, in both versions);
- out of the wrapper: Keras 3's TimeDistributed has no ``compute_mask``, so its output keeps
  its input's mask (none here); tf-keras's asks the wrapped layer and hands its (batch, time,
  steps) sequence mask on (spec/element_masks.py follows it), or, when the wrapped output has
  none but the input had one, that input mask's ``any`` over its last axis: a (batch, time) mask
  (:class:`UnfoldSpec` ``mask_rule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .conv import Dims
from .node import Node
from .types import Ref


@dataclass(frozen=True, eq=False)
class FoldSpec(Node):
    """``(batch, time, *rest) -> (batch * time, *rest)``: the wrapped layers' input.

    ``in_shape`` is the input's non-batch dims (time first) for static reshapes; the folded
    tensor's own time axis is ``rest[0]``. With ``mask_ids`` its output's mask is ``ids != 0``
    of the (batch, time, steps) ids in ``inputs[1]``, folded (tf-keras's reshaped
    Embedding mask); otherwise it has none (a mask on the input is refused)."""

    name: str
    inputs: tuple[Ref, ...]
    in_shape: Dims
    mask_ids: bool = False
    mask = "read"  # any other mask reaching it is refused (spec/element_masks.py)

    @property
    def outer_time(self) -> int | None:
        steps = self.in_shape[0]
        return steps if isinstance(steps, int) else None

    def output_batch(self, batch: int | None, folded: bool) -> tuple[int | None, bool]:
        """batch * time when both are fixed; the batch axis is folded from here on."""
        if batch is None or self.outer_time is None:
            return None, True
        return batch * self.outer_time, True

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        """The folded tensor's first non-batch dim (the words of a sentence), also for the
        (batch * time, ids) token ids an Embedding reads."""
        inner = self.in_shape[1] if len(self.in_shape) > 1 else None
        return inner if isinstance(inner, int) else None

    def describe(self) -> str:
        masked = f", masked where {self.inputs[1].layer} != 0" if self.mask_ids else ""
        return f"TimeDistributed fold (batch, time, ...) -> (batch * time, ...){masked}"


@dataclass(frozen=True, eq=False)
class UnfoldSpec(Node):
    """``(batch * time, *rest) -> (batch, time, *rest)``, named as the TimeDistributed wrapper.

    ``inputs`` are the wrapper's input (first: its batch and time sizes, and the graph facts
    follow it), the wrapped layers' output, and for the ``*_ids`` rules the ids whose
    ``!= 0`` is the mask. ``out_shape`` is the result's non-batch dims. ``mask_rule``:

    - ``none``: no mask (Keras 3; tf-keras when neither the input nor the wrapped output has one);
    - ``any_ids``: tf-keras, the wrapped output has no mask: ``any(ids != 0)`` over the steps,
      a (batch, time) mask;
    - ``hand_on``: tf-keras hands the wrapped output's mask on, reshaped to (batch, time,
      steps): followed by spec/element_masks.py, read by no layer;
    - ``hand_on_ids``: the same, where that mask is the fold's ``ids != 0`` passed through a
      wrapped recurrent layer (a later TimeDistributed of a recurrent layer may read it)."""

    name: str
    inputs: tuple[Ref, ...]
    out_shape: Dims
    mask_rule: str = "none"
    mask = "drop"

    @property
    def hands_on_mask(self) -> bool:
        return self.mask_rule.startswith("hand_on")

    @property
    def inner_rank(self) -> int:
        """The wrapped output's rank, (batch * time) included."""
        return len(self.out_shape)

    def describe(self) -> str:
        masks = {"none": "", "any_ids": f", mask: any over steps of {self.inputs[-1].layer} != 0",
                 "hand_on": ", hands the wrapped sequence's mask on", "hand_on_ids": ", hands the wrapped sequence's "
                 f"mask ({self.inputs[-1].layer} != 0) on"}
        return f"TimeDistributed unfold (batch * time, ...) -> (batch, time, ...){masks[self.mask_rule]}"
