"""Compare runtime outputs with the reference: per-output error figures and a verdict.

An element passes when ``|actual - expected| <= atol + rtol * |expected|`` (NumPy's
``allclose`` rule); the report also gives the worst absolute and relative errors so a
failing CI log says by how much, not only that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4


@dataclass(frozen=True)
class OutputParity:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    passed: bool
    problem: str = ""


@dataclass(frozen=True)
class ParityReport:
    outputs: tuple[OutputParity, ...]
    provider: str
    cases: str

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    def table(self) -> str:
        header = f"{'output':<28} {'shape':<16} {'max abs err':>12} {'max rel err':>12} {'tolerance':>20}  verdict"
        lines = [f"provider: {self.provider}; inputs: {self.cases}", header, "-" * len(header)]
        for o in self.outputs:
            tol = f"atol {o.atol:g} rtol {o.rtol:g}"
            verdict = "ok" if o.passed else ("MISMATCH" + (f" ({o.problem})" if o.problem else ""))
            lines.append(
                f"{o.name:<28} {str(o.shape):<16} {o.max_abs:>12.3e} {o.max_rel:>12.3e} {tol:>20}  {verdict}"
            )
        lines.append("parity: PASS" if self.passed else "parity: FAIL")
        return "\n".join(lines)


def compare_output(name: str, actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> OutputParity:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return OutputParity(name, actual.shape, np.inf, np.inf, atol, rtol, False,
                            f"shape {actual.shape} != expected {expected.shape}")
    if actual.size == 0:
        return OutputParity(name, actual.shape, 0.0, 0.0, atol, rtol, True)
    if not np.all(np.isfinite(actual)) or not np.all(np.isfinite(expected)):
        return OutputParity(name, actual.shape, np.inf, np.inf, atol, rtol, False, "non-finite values")
    diff = np.abs(actual - expected)
    rel = diff / np.maximum(np.abs(expected), np.finfo(np.float32).tiny)
    passed = bool(np.all(diff <= atol + rtol * np.abs(expected)))
    return OutputParity(name, actual.shape, float(diff.max()), float(rel.max()), atol, rtol, passed)


def compare_all(
    names: Sequence[str], actual: Sequence[np.ndarray], expected: Sequence[np.ndarray], atol: float, rtol: float
) -> list[OutputParity]:
    return [compare_output(n, a, e, atol, rtol) for n, a, e in zip(names, actual, expected)]
