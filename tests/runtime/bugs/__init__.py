"""Minimal reproducers of the runtime bugs the targets work around (run by test_runtime_bugs.py)."""
