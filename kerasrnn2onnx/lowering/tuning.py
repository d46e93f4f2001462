"""The measured constants behind ``auto``'s CPU choices, each with the machines it was
measured on and the numbers that decided it.

Why one table: these numbers do not transfer between machines (a second 2-core x86_64
machine put ``auto`` at up to 2.00x the fastest candidate with the first machine's rules),
so each rule is chosen for the smallest worst case over every machine measured, not the best
case on one, and the evidence sits next to the value so the next run can revise it. For a
model's own machine and shapes, ``kerasrnn2onnx tune`` measures instead of guessing.

Machines (all onnxruntime 1.32.0, 2 intra-op threads at most):

- ``A``: the README's run, a 2-core x86_64 container, float32 GEMM 302 GFLOP/s
  (scripts/bench_isolated.py and scripts/bench.py, README "Performance").
- ``B``: issue 16's run, another 2-core x86_64 machine, float32 GEMM 70-106 GFLOP/s.
- ``C``: a 2-core AMD EPYC container. Under 8 busy agents (load average 12-16) too noisy to
  decide anything; its quiet runs (load average below 1.6, scripts/bench_isolated.py, five runs on
  2026-12-02) count as a third machine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """One measured constant: its value, what it decides, and the evidence per machine."""

    value: int
    decides: str
    evidence: tuple[str, ...]


RULES: dict[str, Rule] = {
    "gru_native_on_cpu": Rule(
        1,  # 1: unmasked GRU runs onnxruntime's GRU op at every batch (no switch on the batch)
        "unmasked GRU on the CPU: the native GRU op at every batch, instead of an If switching to Scan from "
        "batch 16",
        ("A: Scan wins from batch 32 by 1.10x (32x50x32x64 1t: 1.224 vs 1.116 ms), 1.20x (32x200x128x256 2t: "
         "30.4 vs 25.4 ms), 1.12x (64x100x256x512 2t: 82.1 vs 73.1 ms); native wins at batch 1 by up to 4x",
         "B: at batch 32-64 the native op wins: GRU 32x200x128x256 51 vs 73 ms for Scan (1.43x), GRU(reset_after="
         "False) 64x100x256x512 1.71x",
         "C, five quiet runs (load < 1.6, 2026-12-02): Scan 2t fastest at GRU 64x100x256x512 in 4 of 5 (native 2t "
         "at 1.05-1.46x of it); at 32x200x128x256 native and Scan each fastest in some runs (auto 1.00-1.47x); "
         "2-thread cells swing up to 2.1x between runs 30 s apart",
         "worst case: native everywhere 1.46x (C), 1.20x (A); the batch switch 1.71x (B); native also saves the If "
         "(about 3 us a call) and the second copy of the weights"),
    ),
    "scan_from_batch": Rule(
        16,
        "masked SimpleRNN on the CPU: the native RNN op with compaction below this batch, Scan with the mask "
        "from it (one If on the batch size when the batch is dynamic)",
        ("A: native with compaction 2x faster than Scan at batch 1; 2.3-2.7x slower at batch 32+ "
         "(scripts/bench_isolated.py --masked)",
         "B: not measured masked; C: agrees in direction (noisy)"),
    ),
    "one_thread_units": Rule(
        64,
        "one intra-op thread (recommended_intra_op_threads = 1) when every recurrent layer has at most this many "
        "units and none is an LSTM or unrolled; applies to SimpleRNN on Scan too",
        ("A: GRU 64 units native 27-36% faster on one thread at batch 1 and 32 (1x50x32x64 0.067 vs 0.073 ms, "
         "32x50x32x64 1.224 vs 1.697 ms); SimpleRNN 64 units Scan 1t 0.285 vs 2t 0.482 ms at batch 32",
         "A: SimpleRNN 256 units on one thread: 1.26x faster at batch 1 (1x200x128x256 0.871 vs 1.101 ms) but "
         "1.23x slower at batch 32 (32x200x128x256 11.89 vs 9.64 ms)",
         "B: SimpleRNN 256 units on one thread 2.00x slower at batch 32 (32x200x128x256 23.0 vs 11.5 ms)",
         "worst case for SimpleRNN 65-256 units: one thread 2.00x (B), two threads 1.26x (A): two threads"),
    ),
}

GRU_NATIVE_ON_CPU = bool(RULES["gru_native_on_cpu"].value)
SCAN_FROM_BATCH = RULES["scan_from_batch"].value
ONE_THREAD_UNITS = RULES["one_thread_units"].value
ONE_THREAD_SIMPLE_RNN_UNITS = ONE_THREAD_UNITS
"""SimpleRNNs on Scan: the same limit as every other layer since the second machine's run
(it was 256 from the README machine alone; see ``one_thread_units`` above)."""

WIDE_LSTM_UNITS = 256
"""LSTM Scan from this width: one gate block (one Gemm, then Split) instead of two
(README machine, November 2026; not remeasured on the second machine)."""
