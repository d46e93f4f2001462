"""Tuning on the target machine: time each recurrent layer's legal lowerings and the
intra-op thread counts with onnxruntime at the caller's shapes, keep the fastest.

Why: ``auto``'s rules (the batch crossover, the one-thread rules) were measured on one
machine, and on another 2-core machine they were up to 2x off the fastest candidate. The
only rule that holds everywhere is to measure where the model will run. Noise is handled
the way the benchmarks do it: candidates are timed in interleaved rounds (each round in a
rotated order, so no candidate always runs first or right after a slow one), compared by
their medians, and the default is left only for a candidate at least ``margin`` faster, so
run-to-run jitter does not flip the choice. Every candidate is parity-checked against the
float64 NumPy reference before it is timed; one that is not exact is never chosen.

onnxruntime is imported here only: plain ``convert`` never loads this module.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from ..errors import ConversionError
from ..lowering import STRATEGIES
from ..parity import DEFAULT_ATOL, DEFAULT_RTOL, compare_all
from ..reference import run_model
from ..spec import ModelSpec
from .session import import_onnxruntime
from .timing import interleaved_rounds, seconds_per_call

# A candidate's timer: given the candidate and a zero-argument call that runs it once,
# the seconds one call takes (one sample). Injected by tests; the default times real calls.
Timer = Callable[["Candidate", Callable[[], object]], float]

DEFAULT_MARGIN = 0.05
# 7 rounds of samples of at least 0.1 s: on the project's shared 2-core machine single calls of
# one graph swung by 30% (80-152 ms) and 5 rounds of 0.05 s samples ranked two cells 10% apart
# in either order from run to run; a median of 7 tolerates 3 disturbed rounds.
DEFAULT_ROUNDS = 7
DEFAULT_MIN_SECONDS = 0.1
DEFAULT_TIMESTEPS = 50  # for a model whose time dimension is dynamic and no --timesteps


@dataclass(frozen=True)
class Candidate:
    """Per-layer strategy overrides (layers not named stay ``auto``) and a thread count."""

    overrides: tuple[tuple[str, str], ...]
    threads: int

    @property
    def label(self) -> str:
        shown = ", ".join(f"{layer}={strategy}" for layer, strategy in self.overrides) or "auto"
        return f"{shown} @ {self.threads}t"


@dataclass
class Measured:
    """One candidate's lowering as planned, its timing samples and its parity error."""

    candidate: Candidate
    lowering: dict[str, str]
    max_abs_err: float
    stage: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("inf")

    def record(self) -> dict[str, Any]:
        return {"stage": self.stage, "lowering": self.lowering, "threads": self.candidate.threads,
                "median_ms": round(self.median * 1e3, 4), "samples_ms": [round(s * 1e3, 4) for s in self.samples],
                "max_abs_err": float(f"{self.max_abs_err:.3g}")}


@dataclass(frozen=True)
class TuneResult:
    """The tuned model and the measurements that chose it."""

    proto: onnx.ModelProto
    chosen: Measured
    default: Measured
    measured: tuple[Measured, ...]
    machine: str

    def table(self) -> str:
        lines = [f"tuned on {self.machine}", f"{'stage':<20} {'lowering':<40} {'threads':>7} {'median ms':>10}  note"]
        for entry in self.measured:
            note = ("chosen" if entry is self.chosen else "") + (" default" if entry is self.default else "")
            shown = ", ".join(f"{k}={v}" for k, v in entry.lowering.items())
            lines.append(f"{entry.stage:<20} {shown:<40} {entry.candidate.threads:>7} {entry.median * 1e3:>10.3f}  "
                         f"{note.strip()}")
        speedup = self.default.median / self.chosen.median if self.chosen.median > 0 else 1.0
        lines.append(f"chosen: {self.chosen.candidate.label} ({speedup:.2f}x the default)")
        return "\n".join(lines)


def machine_description() -> str:
    """CPU model, logical CPUs usable here, and the onnxruntime version (for the metadata)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ort = import_onnxruntime()
    return f"{model}, {usable_cpus()} CPUs, onnxruntime {ort.__version__}"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def elapsed_timer(min_seconds: float) -> Timer:
    """Seconds per call, from as many calls as fill ``min_seconds`` (one sample)."""

    def timer(candidate: Candidate, run: Callable[[], object]) -> float:
        return seconds_per_call(run, min_seconds)

    return timer


def pick(default: Measured, entries: Sequence[Measured], margin: float) -> Measured:
    """The fastest by median, unless it beats ``default`` by less than ``margin``."""
    best = min(entries, key=lambda entry: entry.median)
    if best is not default and best.median > default.median * (1.0 - margin):
        return default
    return best


class _Tuner:
    """Converts candidates (one graph per set of overrides), checks their parity once, and
    times them in interleaved rounds."""

    def __init__(self, spec: ModelSpec, arrays: list[np.ndarray], convert: Callable[..., onnx.ModelProto],
                 target: str, timer: Timer, rounds: int, pause: float, warm_seconds: float, atol: float,
                 rtol: float) -> None:
        self.spec, self.arrays, self.convert, self.target = spec, arrays, convert, target
        self.timer, self.rounds, self.pause = timer, rounds, pause
        self.warm_seconds = warm_seconds
        self.atol, self.rtol = atol, rtol
        self.expected = run_model(spec, arrays, np.float64)
        self.ort = import_onnxruntime()
        self.protos: dict[tuple[tuple[str, str], ...], onnx.ModelProto] = {}
        self.runs: dict[Candidate, Callable[[], object]] = {}

    def lowering(self, overrides: Mapping[str, str]) -> dict[str, str] | None:
        """What each layer runs under these overrides; None if one cannot be exact."""
        from ..lowering import plan_layers

        try:
            return {p.layer: p.strategy for p in plan_layers(self.spec, "auto", self.target, overrides)}
        except ConversionError:
            return None

    def prepare(self, candidate: Candidate, stage: str) -> Measured | None:
        """The candidate run once and compared with the reference; None if not exact."""
        key = candidate.overrides
        if key not in self.protos:
            self.protos[key] = self.convert(dict(key))
        proto = self.protos[key]
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = candidate.threads
        session = self.ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feeds = self._feeds(proto, session)
        names = [o.name for o in session.get_outputs()][: len(self.expected)]
        got = session.run(names, feeds)
        rows = compare_all(names, got, self.expected, self.atol, self.rtol)
        lowering = self.lowering(dict(key)) or {}
        measured = Measured(candidate, lowering, max(r.max_abs for r in rows), stage)
        if not all(r.passed for r in rows):
            return None
        self.runs[candidate] = lambda: session.run(names, feeds)
        return measured

    def _feeds(self, proto: onnx.ModelProto, session: Any) -> dict[str, np.ndarray]:
        metadata = {p.key: p.value for p in proto.metadata_props}
        widths = {entry["input"]: entry["width"] for entry in json.loads(metadata.get("states", "[]"))}
        feeds = {inp.name: array for inp, array in zip(self.spec.inputs, self.arrays, strict=True)}
        batch = self.arrays[0].shape[0]
        for inp in session.get_inputs():
            if inp.name in widths:  # a carried state starts from zeros, as Keras's first call
                feeds[inp.name] = np.zeros((batch, widths[inp.name]), np.float32)
        return feeds

    def time(self, entries: Sequence[Measured]) -> None:
        """``rounds`` samples per entry, interleaved and rotated (``timing.interleaved_rounds``)."""
        def sample(index: int) -> float:
            candidate = entries[index].candidate
            return self.timer(candidate, self.runs[candidate])

        if self.warm_seconds:  # a fresh session's first calls grow its arena: not a sample
            for entry in entries:
                seconds_per_call(self.runs[entry.candidate], self.warm_seconds)

        for index, taken in interleaved_rounds(range(len(entries)), self.rounds, sample, self.pause).items():
            entries[index].samples.extend(taken)


def tune(
    spec: ModelSpec,
    convert: Callable[[dict[str, str]], onnx.ModelProto],
    arrays: list[np.ndarray],
    *,
    target: str = "cpu",
    threads: Sequence[int] | None = None,
    default_threads: int | None = None,
    rounds: int = DEFAULT_ROUNDS,
    margin: float = DEFAULT_MARGIN,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    timer: Timer | None = None,
    atol: float = DEFAULT_ATOL * 10,
    rtol: float = DEFAULT_RTOL * 10,
) -> TuneResult:
    """Greedy over the recurrent layers, in order: for each, every legal strategy (as
    ``auto`` plans it, then each forced one that is exact and differs) times every thread
    count, with the other layers at their choice so far; the incumbent is left only for a
    candidate ``margin`` faster by median. ``convert`` builds the model for a dict of
    per-layer overrides; ``arrays`` are the inputs at the shapes to tune for.

    The parity tolerance is 10x verify's default: the candidates are compared with the
    float64 reference on random inputs, where the native ops' float32 kernels drift a
    little more than on Keras's own outputs; ``verify`` remains the parity verdict."""
    if rounds < 1:
        raise ConversionError("tune needs at least one round")
    if not 0.0 <= margin < 1.0:
        raise ConversionError(f"the margin must be in [0, 1), got {margin}")
    counts = sorted(set(threads)) if threads else list(range(1, usable_cpus() + 1))
    if any(t < 1 for t in counts):
        raise ConversionError("thread counts must be at least 1")
    default_count = default_threads if default_threads is not None else max(counts)
    real = timer is None  # an injected timer (tests) gets no pause and no warm-up calls
    tuner = _Tuner(spec, arrays, convert, target, timer or elapsed_timer(min_seconds), rounds,
                   0.01 if real else 0.0, min_seconds if real else 0.0, atol, rtol)
    first = tuner.prepare(Candidate((), default_count), "default")
    if first is None:
        raise ConversionError("the default lowering does not match the NumPy reference on the tuning inputs; "
                              "run verify to see the error")
    chosen, default, measured = first, None, []
    layers = [half.name for half in spec.recurrent_layers]
    for layer in layers or ["(threads)"]:
        # the incumbent is timed afresh in each stage: a stage compares samples of its own rounds
        base = Measured(chosen.candidate, chosen.lowering, chosen.max_abs_err, layer)
        default = default or base
        stage = [base]
        seen = {(json.dumps(base.lowering, sort_keys=True), base.candidate.threads)}
        current = dict(base.candidate.overrides)
        for strategy in STRATEGIES if layers else ("auto",):
            overrides = {**current, layer: strategy} if layers else {}
            if strategy == "auto":
                overrides.pop(layer, None)
            lowering = tuner.lowering(overrides)
            if lowering is None:
                continue  # e.g. native where the op cannot be exact, unroll with a dynamic time dim
            for count in counts:
                key = (json.dumps(lowering, sort_keys=True), count)
                if key in seen:
                    continue
                seen.add(key)
                entry = tuner.prepare(Candidate(tuple(sorted(overrides.items())), count), layer)
                if entry is not None:
                    stage.append(entry)
        tuner.time(stage)
        measured += stage
        chosen = pick(base, stage, margin)
    assert default is not None
    incumbent = chosen
    proto = tuner.protos[incumbent.candidate.overrides]
    tuned = onnx.ModelProto()
    tuned.CopyFrom(proto)
    machine = machine_description()
    record = {"machine": machine, "batch": int(arrays[0].shape[0]),
              "inputs": {inp.name: list(array.shape) for inp, array in zip(spec.inputs, arrays, strict=True)},
              "rounds": rounds,
              "margin": margin, "chosen": incumbent.record(), "default": default.record(),
              "measured": [entry.record() for entry in measured]}
    _set_metadata(tuned, {"recommended_intra_op_threads": str(incumbent.candidate.threads),
                          "tuning": json.dumps(record)})
    return TuneResult(tuned, incumbent, default, tuple(measured), machine)


def _set_metadata(proto: onnx.ModelProto, values: Mapping[str, str]) -> None:
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    for key, value in [*kept, *values.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_SECONDS",
    "DEFAULT_ROUNDS",
    "DEFAULT_TIMESTEPS",
    "Candidate",
    "Measured",
    "Timer",
    "TuneResult",
    "elapsed_timer",
    "machine_description",
    "pick",
    "tune",
]
