"""Summarise parity over the committed real-Keras fixtures.

Run by hand; prints markdown tables for notes and the docs:

    python scripts/parity_summary.py              # worst max-abs error per group of layer types
    python scripts/parity_summary.py --families   # per whole-model family (issue 14's list)
    python scripts/parity_summary.py --layers     # the fixtures that hold each layer class

Errors are against Keras's own outputs stored with each fixture, through onnxruntime (the
converted graph) and through the NumPy reference in float32 and float64.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run by hand: the checkout's tests package holds the fixture manifest
    sys.path.insert(0, str(ROOT))

import kerasrnn2onnx  # noqa: E402
from kerasrnn2onnx.api import run_onnx  # noqa: E402
from kerasrnn2onnx.reference import run_model  # noqa: E402
from tests.conftest import MANIFEST, SAMPLES, Fixture  # noqa: E402

# The whole-model families users build (issue 14), by fixture name; one .keras (Keras 3) and one
# .h5 (tf-keras) each, some with a second variant.
FAMILIES = {
    "crnn_ocr": ("k?_crnn_ocr",),
    "deepspeech": ("k?_deepspeech",),
    "lipnet": ("k?_lipnet",),
    "char_tagger": ("k?_char_tagger",),
    "video_classifier": ("k?_video_classifier", "k?_video_td_sequential"),
    "seq2seq_luong": ("k?_seq2seq_luong",),
    "seq2seq_bahdanau": ("k?_seq2seq_bahdanau",),
    "next_frame": ("k?_next_frame", "k?_next_frame_conv3d"),
    "hierarchical_text": ("k?_td_rnn_hierarchical", "k?_td_rnn_char_words"),
}
LABELS = ("ref f32", "ref f64", "onnxruntime")
HEADER = "ref f32 vs Keras | ref f64 vs Keras | onnxruntime vs Keras"
TAG_CLASSES = {"embedding": "Embedding", "time_distributed": "TimeDistributed"}  # tags that name a class


def family_fixtures(family: str) -> list[Fixture]:
    globs = FAMILIES[family]
    return [f for f in MANIFEST if any(fnmatch.fnmatchcase(f.name, g) for g in globs)]


def errors(fixture: Fixture) -> dict[str, float]:
    """Largest |ours - Keras| over every case and output, per computation."""
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    proto = kerasrnn2onnx.convert(spec)
    worst = dict.fromkeys(LABELS, 0.0)
    for (_, outs), ref32, ref64, ort in zip(fixture.cases, fixture.run_reference(spec, np.float32),
                                              fixture.run_reference(spec, np.float64),
                                              fixture.run_session(proto), strict=True):
        for label, actual in zip(LABELS, (ref32, ref64, ort), strict=True):
            err = max(float(np.abs(np.asarray(a, np.float64) - e).max()) for a, e in zip(actual, outs, strict=True))
            worst[label] = max(worst[label], err)
    return worst


def families_table() -> str:
    lines = [f"| family | fixtures | {HEADER} |", "|---|---|---|---|---|"]
    for family in FAMILIES:
        fixtures = family_fixtures(family)
        worst = dict.fromkeys(LABELS, 0.0)
        for fixture in fixtures:
            for label, err in errors(fixture).items():
                worst[label] = max(worst[label], err)
        names = ", ".join(f"`{f.name}` ({f.model.suffix})" for f in fixtures)
        lines.append(f"| {family} | {names} | " + " | ".join(f"{worst[x]:.2e}" for x in LABELS) + " |")
    return "\n".join(lines)


def layers_table() -> str:
    """Fixtures per layer class: the recurrent layers each fixture names, and its layer: tags."""
    holders: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"2": [], "3": []})
    for fixture in MANIFEST:
        major = fixture.keras_version.split(".")[0]
        classes = {t.split(":", 1)[1] for t in fixture.tags if t.startswith("layer:")}
        classes |= {TAG_CLASSES[t] for t in fixture.tags if t in TAG_CLASSES}
        classes |= {name.split("(", 1)[0] for name in fixture.layers}
        for cls in classes:
            holders[cls][major].append(fixture.name)
    def cell(names: list[str]) -> str:
        shown = ", ".join(f"`{n}`" for n in sorted(names)[:4])
        return f"{len(names)}: {shown}" + (", ..." if len(names) > 4 else "") if names else "0"

    lines = ["| layer | Keras 3 fixtures | Keras 2 fixtures |", "|---|---|---|"]
    for cls in sorted(holders):
        lines.append(f"| `{cls}` | {cell(holders[cls]['3'])} | {cell(holders[cls]['2'])} |")
    return "\n".join(lines)


def groups_table() -> str:
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
    lines = [f"| group | fixtures | {HEADER} |", "|---|---|---|---|---|"]
    for group in sorted(rows):
        r = rows[group]
        cells = " | ".join(f"{r[x]:.2e}" for x in LABELS)
        lines.append(f"| {group} | {counts[group]} | {cells} |")
    largest = max((p for p in SAMPLES.iterdir() if p.suffix in (".keras", ".h5")), key=lambda p: p.stat().st_size)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        kerasrnn2onnx.convert(largest)
        times.append(time.perf_counter() - start)
    lines.append(f"\nconversion of the largest sample {largest.name}: median {np.median(times) * 1e3:.1f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", action="store_true", help="largest error per whole-model family")
    parser.add_argument("--layers", action="store_true", help="fixtures per layer class")
    args = parser.parse_args()
    if args.families:
        print(families_table())
    elif args.layers:
        print(layers_table())
    else:
        print(groups_table())


if __name__ == "__main__":
    main()
