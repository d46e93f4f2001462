"""Summarise parity over the committed real-Keras fixtures: worst max-abs error per group.

Run by hand (`python scripts/parity_summary.py`); prints a markdown table for notes and the
README. Groups: the layer types of each fixture, by Keras major version.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kerasrnn2onnx  # noqa: E402
from kerasrnn2onnx.api import run_onnx  # noqa: E402
from kerasrnn2onnx.reference import run_model  # noqa: E402
from tests.conftest import MANIFEST, SAMPLES  # noqa: E402


def main() -> None:
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, int] = defaultdict(int)
    for fixture in MANIFEST:
        spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
        proto = kerasrnn2onnx.convert(spec)
        group = f"Keras {fixture.keras_version.split('.')[0]} " + "+".join(sorted(set(fixture.layers)))
        counts[group] += 1
        for ins, outs in fixture.cases:
            for label, actual in (("ref f32", run_model(spec, ins, np.float32)),
                                  ("ref f64", run_model(spec, ins, np.float64)),
                                  ("onnxruntime", run_onnx(proto, ins))):
                err = max(float(np.abs(np.asarray(a, np.float64) - e).max()) for a, e in zip(actual, outs, strict=True))
                rows[group][label] = max(rows[group][label], err)
    print("| group | fixtures | ref f32 vs Keras | ref f64 vs Keras | onnxruntime vs Keras |")
    print("|---|---|---|---|---|")
    for group in sorted(rows):
        r = rows[group]
        print(f"| {group} | {counts[group]} | {r['ref f32']:.2e} | {r['ref f64']:.2e} | {r['onnxruntime']:.2e} |")
    largest = max((p for p in SAMPLES.iterdir() if p.suffix in (".keras", ".h5")), key=lambda p: p.stat().st_size)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        kerasrnn2onnx.convert(largest)
        times.append(time.perf_counter() - start)
    print(f"\nconversion of the largest sample {largest.name}: median {np.median(times) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
