"""onnxruntime stays out of the conversion path: importing the package, converting, and the
CLI's plain convert never import it (it is an optional extra, needed only to run models)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..conftest import FIXTURES


def test_import_does_not_import_onnxruntime():
    code = "import sys, kerasrnn2onnx; kerasrnn2onnx.convert; print('onnxruntime' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_plain_cli_convert_never_imports_onnxruntime(tmp_path: Path) -> None:
    code = ("import sys; from kerasrnn2onnx.cli import main; "
            "main(['convert', sys.argv[1], '-o', sys.argv[2]]); print('onnxruntime' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "k3_lstm.keras"), str(tmp_path / "m.onnx")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith("False"), done.stdout


def test_plain_convert_never_imports_onnxruntime(tmp_path: Path) -> None:
    code = ("import sys, kerasrnn2onnx; kerasrnn2onnx.convert(sys.argv[1]); "
            "print('onnxruntime' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "k3_gru.keras")], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
