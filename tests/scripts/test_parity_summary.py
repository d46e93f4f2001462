"""The whole-model families of scripts/parity_summary.py (issue 14's list) each convert from a
Keras 3 ``.keras`` and a tf-keras ``.h5`` with ``kerasrnn2onnx convert``, and the script's
per-family errors are within the fixtures' tolerance (its table is what the docs show)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import onnx
import pytest

from kerasrnn2onnx.cli import main

from ..conftest import ATOL, script


@pytest.fixture(scope="module")
def summary() -> ModuleType:
    return script("parity_summary")


FAMILIES = ("crnn_ocr", "deepspeech", "lipnet", "char_tagger", "video_classifier", "seq2seq_luong",
            "seq2seq_bahdanau", "next_frame", "hierarchical_text")


@pytest.mark.parametrize("family", FAMILIES)
def test_family_converts_from_both_file_kinds_and_matches_keras(summary: ModuleType, family: str, tmp_path) -> None:
    fixtures = summary.family_fixtures(family)
    assert {".keras", ".h5"} <= {f.model.suffix for f in fixtures}, family
    for fixture in fixtures:
        out = tmp_path / f"{fixture.name}.onnx"
        assert main(["convert", str(fixture.model), "-o", str(out)]) == 0
        onnx.checker.check_model(onnx.load(str(out)), full_check=True)
        worst = summary.errors(fixture)
        assert set(worst) == {"ref f32", "ref f64", "onnxruntime"}
        assert max(worst.values()) < ATOL, (fixture.name, worst)
        assert all(np.isfinite(v) for v in worst.values())


def test_families_are_issue_14s(summary: ModuleType) -> None:
    assert tuple(summary.FAMILIES) == FAMILIES
