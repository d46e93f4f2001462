"""Compare runtime outputs with the reference: per-output error figures and a verdict.

An element passes when ``|actual - expected| <= atol + rtol * |expected|`` (NumPy's
``allclose`` rule); the report also gives the worst absolute and relative errors so a
failing CI log says by how much, not only that.

Keras propagates NaN and inf from its inputs, so non-finite values are compared as
values: a NaN matches a NaN and an infinity the same infinity at the same position; the
error figures cover the finite positions, and the table counts the non-finite values of
each side, so a NaN-in, NaN-out model verifies without numpy warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    nonfinite: tuple[int, int] = (0, 0)  # non-finite values in (actual, expected)


@dataclass(frozen=True)
class ParityReport:
    outputs: tuple[OutputParity, ...]
    provider: str
    cases: str
    notes: tuple[str, ...] = ()  # e.g. a quantized model's speed against the float one

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    def table(self) -> str:
        header = (f"{'output':<28} {'shape':<16} {'max abs err':>12} {'max rel err':>12} {'tolerance':>20} "
                  f"{'non-finite onnx/ref':>20}  verdict")
        lines = [f"provider: {self.provider}; inputs: {self.cases}", header, "-" * len(header)]
        for o in self.outputs:
            tol = f"atol {o.atol:g} rtol {o.rtol:g}"
            verdict = "ok" if o.passed else ("MISMATCH" + (f" ({o.problem})" if o.problem else ""))
            counts = f"{o.nonfinite[0]}/{o.nonfinite[1]}"
            lines.append(
                f"{o.name:<28} {str(o.shape):<16} {o.max_abs:>12.3e} {o.max_rel:>12.3e} {tol:>20} {counts:>20}  "
                f"{verdict}"
            )
        lines.extend(self.notes)
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
    finite_a, finite_e = np.isfinite(actual), np.isfinite(expected)
    counts = (int(actual.size - finite_a.sum()), int(expected.size - finite_e.sum()))
    same_special = (np.isnan(actual) & np.isnan(expected)) | (np.isinf(actual) & (actual == expected))
    special_misses = int(((~finite_a | ~finite_e) & ~same_special).sum())
    both = finite_a & finite_e
    if both.any():
        with np.errstate(over="ignore", invalid="ignore"):  # two huge finite values may differ by inf
            diff = np.abs(actual[both] - expected[both])
            scale = np.abs(expected[both])
            rel = diff / np.maximum(scale, np.finfo(np.float32).tiny)
            passed_finite = bool(np.all(diff <= atol + rtol * scale))
        max_abs, max_rel = float(diff.max()), float(rel.max())
    else:
        max_abs, max_rel, passed_finite = 0.0, 0.0, True
    problem = ""
    if special_misses:
        problem = f"{special_misses} position(s) non-finite on one side only or with different values"
        max_abs = max_rel = np.inf
    return OutputParity(name, actual.shape, max_abs, max_rel, atol, rtol, passed_finite and not special_misses,
                        problem, counts)


def compare_all(
    names: Sequence[str], actual: Sequence[np.ndarray], expected: Sequence[np.ndarray], atol: float, rtol: float
) -> list[OutputParity]:
    return [compare_output(n, a, e, atol, rtol) for n, a, e in zip(names, actual, expected, strict=True)]
