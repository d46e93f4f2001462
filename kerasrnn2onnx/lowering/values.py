"""What every lowering strategy of a recurrent layer returns, in one shape, so the model
wiring (``lowering/model.py``) and the masked-output rules never ask which one ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayerValues:
    """What a lowered recurrent layer produces.

    ``sequence``: the Keras output sequence, time-major (time, batch, units), in Keras's
    processing order, or ``None`` without ``return_sequences``; ``last``: (batch, units)
    without ``return_sequences``; ``states``: every final state, (batch, width) each, in
    Keras's order (unused ones are pruned from the graph).
    """

    sequence: Any | None
    last: Any | None
    states: tuple[Any, ...]
