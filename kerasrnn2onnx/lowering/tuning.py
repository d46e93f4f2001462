"""Measured tuning, in one table. Each constant was set from benchmarks on this project's
machine: a 2-core x86_64 container without a GPU, onnxruntime 1.32.0, November 2026
(scripts/bench_isolated.py and scripts/bench.py; the numbers, machine and date are in
docs/performance.md). Rerun those scripts on the target machine before changing one."""

SCAN_FROM_BATCH = 16
"""GRU and masked SimpleRNN: the native op wins below this batch, Scan from it (``auto``
switches on the batch with one If when the model leaves the batch open)."""

ONE_THREAD_UNITS = 64
"""GRUs up to this width run faster on one intra-op thread (``recommended_intra_op_threads``)."""

ONE_THREAD_SIMPLE_RNN_UNITS = 256
"""SimpleRNNs on Scan up to this width run faster on one intra-op thread at batch 1."""

WIDE_LSTM_UNITS = 256
"""LSTM Scan from this width: one gate block (one Gemm, then Split) instead of two."""
