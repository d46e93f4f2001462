"""The scripts under scripts/ (benchmarks' refusals), run as files, never timed."""
