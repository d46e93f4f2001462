"""Parity between a converted model and the NumPy reference."""

from .compare import DEFAULT_ATOL, DEFAULT_RTOL, OutputParity, ParityReport, compare_all, compare_output

__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "OutputParity", "ParityReport", "compare_all", "compare_output"]
