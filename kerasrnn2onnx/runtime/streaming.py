"""``kerasrnn2onnx run``: feed an .npz through a converted model, optionally in time chunks.

Chunking is what stateful serving does: each chunk continues from the states the previous
one left, so the concatenated outputs equal one call over the whole sequence.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np

from ..errors import RuntimeInputError
from ..inputs import load_npz_inputs
from .session import Session


def run_chunked(model: str | Path, inputs: str | Path, provider: str = "cpu", chunks: int = 1) -> dict[str, np.ndarray]:
    """Outputs by name; with ``chunks`` > 1 the time axis is split and streamed."""
    session = Session(model, provider)
    arrays = load_npz_inputs(inputs, session.input_names)
    if chunks < 1:
        raise RuntimeInputError("--chunks must be at least 1")
    if chunks == 1:
        return dict(zip(session.output_names, session.run(arrays), strict=True))
    if not session.state_names:
        raise RuntimeInputError(
            "--chunks needs a model with state inputs (stateful, or converted with --expose-states)")
    steps = arrays[0].shape[1]
    bounds = np.linspace(0, steps, chunks + 1).astype(int)
    pieces: list[list[np.ndarray]] = []
    for start, stop in pairwise(bounds):
        if stop > start:
            pieces.append(session.run([a[:, start:stop] if a.ndim >= 2 and a.shape[1] == steps else a for a in arrays]))
    result = {}
    for k, name in enumerate(session.output_names):
        parts = [p[k] for p in pieces]
        # sequence outputs (batch, time, units) concatenate; last outputs and states: the final chunk's
        result[name] = np.concatenate(parts, axis=1) if parts[0].ndim == 3 else parts[-1]
    return result
