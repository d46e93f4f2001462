"""``kerasrnn2onnx run``: feed an .npz through a converted model, optionally in time chunks.

Chunking is what stateful serving does: each chunk continues from the states the previous
one left, so the concatenated outputs equal one call over the whole sequence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelFileError, RuntimeInputError
from .stateful import Session


def _load_inputs(session: Session, path: str | Path) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {k: np.asarray(data[k]) for k in data.keys()}
    except (OSError, ValueError) as exc:
        raise ModelFileError(path, f"cannot read inputs .npz ({exc})") from None
    arrays = []
    for i, name in enumerate(session.input_names):
        for key in (name, f"arr_{i}", f"c0_in{i}"):
            if key in stored:
                arrays.append(stored[key])
                break
        else:
            raise RuntimeInputError(f"{path}: no array for input '{name}' (keys: {', '.join(stored)})")
    return arrays


def run_chunked(model: str | Path, inputs: str | Path, provider: str = "cpu", chunks: int = 1) -> dict[str, np.ndarray]:
    """Outputs by name; with ``chunks`` > 1 the time axis is split and streamed."""
    session = Session(model, provider)
    arrays = _load_inputs(session, inputs)
    if chunks < 1:
        raise RuntimeInputError("--chunks must be at least 1")
    if chunks == 1:
        return dict(zip(session.output_names, session.run(arrays)))
    if not session.state_names:
        raise RuntimeInputError("--chunks needs a model with state inputs (stateful, or converted with --expose-states)")
    steps = arrays[0].shape[1]
    bounds = np.linspace(0, steps, chunks + 1).astype(int)
    pieces: list[list[np.ndarray]] = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop > start:
            pieces.append(session.run([a[:, start:stop] if a.ndim >= 2 and a.shape[1] == steps else a for a in arrays]))
    result = {}
    for k, name in enumerate(session.output_names):
        parts = [p[k] for p in pieces]
        # sequence outputs (batch, time, units) concatenate; last outputs and states: the final chunk's
        result[name] = np.concatenate(parts, axis=1) if parts[0].ndim == 3 else parts[-1]
    return result
