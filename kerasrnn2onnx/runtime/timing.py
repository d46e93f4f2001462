"""The timing loop shared by ``kerasrnn2onnx tune`` and the benchmarks in ``scripts/``.

Why one module: ``tune`` decides a model's lowering from these measurements and the
benchmarks judge those decisions; if they timed differently (one rotating the order of the
candidates, the other not), a benchmark could disagree with ``tune`` because of the loop and
not because of the lowering.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

Key = TypeVar("Key")


def seconds_per_call(run: Callable[[], object], min_seconds: float,
                     clock: Callable[[], float] = time.perf_counter) -> float:
    """One sample: seconds per call, from as many back-to-back calls as fill ``min_seconds``
    (at least one). Why not a fixed count: a 50 µs and a 500 ms candidate then both give a
    sample long enough to average out the timer's resolution and short preemptions."""
    reps, start = 0, clock()
    while True:
        run()
        reps += 1
        spent = clock() - start
        if spent >= min_seconds:
            return spent / reps


def interleaved_rounds(keys: Sequence[Key], rounds: int, sample: Callable[[Key], float],
                       pause: float = 0.0) -> dict[Key, list[float]]:
    """``rounds`` samples per key, one per round; round r starts at key r (mod n).

    Why interleaved and rotated: a machine's speed drifts (thermal state, other processes), so
    all samples of one candidate taken together would compare the drift, not the candidates;
    rotating the start removes the bias of always running one candidate right after another.
    ``pause`` seconds before each sample let the previous candidate's spinning worker threads
    go idle."""
    samples: dict[Key, list[float]] = {key: [] for key in keys}
    if not keys:
        return samples
    for r in range(rounds):
        start = r % len(keys)
        for key in list(keys[start:]) + list(keys[:start]):
            if pause:
                time.sleep(pause)
            samples[key].append(sample(key))
    return samples
