"""The graph IR's two building blocks: a :class:`Ref` to a tensor and a :class:`Node`.

Every layer spec (recurrent, Bidirectional, mask, feed-forward alike) is a frozen
:class:`Node`: it names the tensors it reads in ``inputs`` and carries, in ``out``, the
:class:`~kerasrnn2onnx.spec.checks.TensorFacts` of each of its outputs (rank, width,
time, batch, mask), computed once as the model spec is made and read by every later stage
(the planner, the lowering), so no stage derives a shape fact again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # spec.checks is imported by the parsers, which import this module
    from .checks import TensorFacts


@dataclass(frozen=True)
class Ref:
    """A tensor flowing between layers: output ``index`` of the node (or model input)
    named ``layer``."""

    layer: str
    index: int = 0


@dataclass(frozen=True, eq=False)
class Node:
    """A node of the model graph: ``inputs`` are the data tensors it reads (a recurrent
    layer's constants, initial states and explicit mask are named by their own fields);
    ``out`` holds the facts of each output: what the parser knows, completed with batch and
time by :class:`~kerasrnn2onnx.spec.types.ModelSpec` when the model spec is made.

    ``output_time`` is how an output's time dim follows from the first input's (a fixed
    size, a dim name, or ``None`` for a new unknown one)."""

    name: str
    inputs: tuple[Ref, ...]
    out: tuple[TensorFacts, ...] = field(default=(), kw_only=True, repr=False)

    def out_time(self, time: Any) -> Any:
        """The first output's time dim (its first non-batch dim) from the first input's:
        kept unless the layer says otherwise."""
        return time

    def output_batch(self, batch: int | None, folded: bool) -> tuple[int | None, bool]:
        """The static batch size of the outputs and whether their batch axis is folded
        (:attr:`TensorFacts.folded`), from the first input's: kept unless the node merges the
        batch with another axis (TimeDistributed's fold, spec/folds.py)."""
        return batch, folded

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        """The time dim of output ``index`` of rank ``rank`` from the first input's ``time``:
        a layer with one output has one where the output is a sequence or more."""
        return self.out_time(time) if rank >= 3 else None
