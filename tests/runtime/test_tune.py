"""``tune`` keeps the candidate its own measurements rank first, and respects its margin.

The timer is injected (a table of seconds per lowering and thread count, with a little
per-round jitter), so nothing here depends on this machine's speed: the tests check the
choosing, the parity gate and the metadata, never a timing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

import kerasrnn2onnx
from kerasrnn2onnx.lowering import plan_layers
from kerasrnn2onnx.runtime.tune import Candidate

from ..conftest import FIXTURES

GRU = FIXTURES / "k3_gru.keras"  # a real Keras 3 file: GRU layer named "gru"


def lowering_of(candidate: Candidate) -> str:
    """What the GRU runs under the candidate's overrides (``auto`` plans the native op)."""
    spec = kerasrnn2onnx.load(GRU)
    return {p.layer: p.strategy for p in plan_layers(spec, "auto", "cpu", dict(candidate.overrides))}["gru"]


def table_timer(seconds: dict[tuple[str, int], float]) -> Callable[[Candidate, Callable[[], object]], float]:
    """Seconds per (the GRU's lowering, threads); the n-th call of a candidate is scaled by
    0.97, 1.0 or 1.03 in turn, so medians (not single samples) must rank them."""
    calls: dict[Candidate, int] = {}

    def timer(candidate: Candidate, run: Callable[[], object]) -> float:
        count = calls[candidate] = calls.get(candidate, 0) + 1
        return seconds[(lowering_of(candidate), candidate.threads)] * (0.97, 1.0, 1.03)[count % 3]

    return timer


def metadata(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


TIMES = {("native", 1): 1.7, ("native", 2): 1.6, ("scan", 1): 1.2, ("scan", 2): 1.0}


@pytest.mark.parametrize("fastest", [("scan", 2), ("native", 1), ("scan", 1)])
def test_tune_picks_what_its_measurements_rank_first(fastest: tuple[str, int]) -> None:
    times = dict(TIMES)
    times[fastest] = 0.5
    result = kerasrnn2onnx.tune(GRU, batch=4, timesteps=6, threads=[1, 2], rounds=5, timer=table_timer(times))
    ranked = min(result.measured, key=lambda entry: entry.median)
    assert result.chosen is ranked
    assert (result.chosen.lowering["gru"], result.chosen.candidate.threads) == fastest
    props = metadata(result.proto)
    assert props["recommended_intra_op_threads"] == str(fastest[1])
    assert json.loads(props["lowering"])["gru"] == fastest[0]
    record = json.loads(props["tuning"])
    assert record["chosen"]["median_ms"] == min(entry["median_ms"] for entry in record["measured"])
    assert record["batch"] == 4 and [shape[:2] for shape in record["inputs"].values()] == [[4, 6]]
    assert {(e["lowering"]["gru"], e["threads"]) for e in record["measured"]} >= {
        ("native", 1), ("native", 2), ("scan", 1), ("scan", 2)}
    session = kerasrnn2onnx.Session(result.proto)
    assert session.intra_op_threads == fastest[1]


@pytest.mark.parametrize(("speedup", "leaves_default"), [(0.97, False), (0.96, False), (0.94, True), (0.5, True)])
def test_tune_leaves_the_default_only_past_the_margin(speedup: float, leaves_default: bool) -> None:
    default = 1.0  # auto (the native op) at 1 thread is the default here (GRU <= 64 units: one thread)
    times = {key: 3.0 for key in TIMES}
    times[("native", 1)] = default
    times[("scan", 2)] = default * speedup
    result = kerasrnn2onnx.tune(GRU, batch=4, timesteps=6, threads=[1, 2], rounds=3, margin=0.05,
                                timer=table_timer(times))
    assert result.default.candidate == Candidate((), 1)
    assert (result.chosen is not result.default) == leaves_default
    if leaves_default:
        assert result.chosen.candidate == Candidate((("gru", "scan"),), 2)


def test_tune_output_matches_keras_and_cli(tmp_path: Path) -> None:
    out = tmp_path / "tuned.onnx"
    from kerasrnn2onnx.cli import main

    assert main(["tune", str(GRU), "--batch", "2", "--timesteps", "5", "--rounds", "1", "--threads", "1",
                 "-o", str(out)]) == 0
    props = metadata(onnx.load(str(out)))
    assert "tuning" in props and props["recommended_intra_op_threads"] == "1"
    assert kerasrnn2onnx.verify(GRU, out).passed
    assert main(["convert", str(GRU), "--tune", "--strategy", "scan", "-o", str(tmp_path / "x.onnx")]) == 2


def test_interleaved_rounds_rotate_the_start_so_no_candidate_always_follows_the_same_one():
    from kerasrnn2onnx.runtime.timing import interleaved_rounds

    calls: list[str] = []

    def sample(key: str) -> float:
        calls.append(key)
        return float(len(calls))

    samples = interleaved_rounds(["a", "b", "c"], 4, sample)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert samples == {"a": [1.0, 6.0, 8.0, 10.0], "b": [2.0, 4.0, 9.0, 11.0], "c": [3.0, 5.0, 7.0, 12.0]}
    assert interleaved_rounds([], 3, sample) == {}


def test_seconds_per_call_takes_at_least_one_call_and_divides_by_the_count():
    from kerasrnn2onnx.runtime.timing import seconds_per_call

    ticks = iter([0.0, 0.4, 0.8, 1.2])
    count: list[int] = []
    assert seconds_per_call(lambda: count.append(1), 1.0, clock=lambda: next(ticks)) == 1.2 / 3
    assert len(count) == 3
    one = iter([0.0, 5.0])
    assert seconds_per_call(lambda: None, 1.0, clock=lambda: next(one)) == 5.0


def test_tune_applies_the_limits_it_is_given() -> None:
    """The file is read under the caller's limits, as convert/verify/describe read it: a
    weights budget below the GRU's own weights stops tune before anything is timed."""
    timer = table_timer(dict(TIMES))
    with pytest.raises(kerasrnn2onnx.ModelFileError, match="weights"):
        kerasrnn2onnx.tune(GRU, batch=2, timesteps=3, threads=[1], rounds=1, timer=timer,
                           limits=kerasrnn2onnx.Limits(max_weights_bytes=256))
    result = kerasrnn2onnx.tune(GRU, batch=2, timesteps=3, threads=[1], rounds=1, timer=timer,
                                limits=kerasrnn2onnx.Limits())
    assert result.chosen.candidate.threads == 1
