"""The CLI as a user runs it: convert / verify / inspect, exit codes, and life without
onnxruntime."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import kerasrnn2onnx
from kerasrnn2onnx.cli import main

from ..conftest import FIXTURES, SAMPLES, fixture_params


def test_convert_verify_inspect_on_a_sample(tmp_path, capsys):
    sample = SAMPLES / "lstm_keras3.keras"
    out = tmp_path / "model.onnx"
    assert main(["convert", str(sample), "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    assert main(["verify", str(sample), str(out)]) == 0
    report = capsys.readouterr().out
    assert "parity: PASS" in report and "max abs err" in report
    assert main(["inspect", str(sample)]) == 0
    shown = capsys.readouterr().out
    assert "lowering: native" in shown and "LSTMCell" in shown


def test_verify_with_fixture_inputs_and_custom_shapes(capsys):
    model = FIXTURES / "k3_rnn_stacked_state.keras"
    assert main(["verify", str(model), "--inputs", str(FIXTURES / "k3_rnn_stacked_state.io.npz")]) == 0
    assert main(["verify", str(model), "--batch", "1", "--timesteps", "1", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("parity: PASS") == 2
    assert "(1, 1, 3)" in out


def test_verify_fails_with_exit_1_on_a_wrong_model(tmp_path, capsys):
    model = FIXTURES / "k3_gru.keras"
    proto = kerasrnn2onnx.convert(model, strategy="native")
    tampered_count = 0
    for init in proto.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.ndim == 3 and array.dtype == np.float32:  # the op's W / R
            init.CopyFrom(numpy_helper.from_array(array + 0.05, init.name))
            tampered_count += 1
    assert tampered_count
    tampered = tmp_path / "tampered.onnx"
    onnx.save(proto, str(tampered))
    assert main(["verify", str(model), str(tampered)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "parity: FAIL" in out


def test_verify_tolerance_flags_decide(capsys):
    model = FIXTURES / "k3_lstm.keras"
    assert main(["verify", str(model), "--atol", "0", "--rtol", "0"]) == 1
    assert main(["verify", str(model), "--atol", "1e-3"]) == 0


def test_verify_input_shape_error(tmp_path, capsys):
    bad = tmp_path / "x.npz"
    np.savez(bad, np.zeros((2, 5, 9), np.float32))
    assert main(["verify", str(FIXTURES / "k3_lstm.keras"), "--inputs", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "input_layer" in err and "(2, 5, 9)" in err


def test_verify_cuda_without_cuda_says_so(capsys):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.xfail("this machine has CUDA; the message under test is for machines without it")
    assert main(["verify", str(FIXTURES / "k3_lstm.keras"), "--provider", "cuda"]) == 2
    assert "CUDAExecutionProvider" in capsys.readouterr().err


def test_default_output_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["convert", str(FIXTURES / "k2_lstm.h5")]) == 0
    assert (tmp_path / "k2_lstm.onnx").exists()


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert kerasrnn2onnx.__version__ in capsys.readouterr().out


BLOCK_ORT = "import sys; sys.modules['onnxruntime'] = None; "


def test_convert_works_without_onnxruntime_and_verify_explains(tmp_path):
    out = tmp_path / "m.onnx"
    code = (BLOCK_ORT + "from kerasrnn2onnx.cli import main; "
            f"sys.exit(main(['convert', {str(FIXTURES / 'k3_lstm.keras')!r}, '-o', {str(out)!r}]))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert out.exists()
    code = (BLOCK_ORT + "from kerasrnn2onnx.cli import main; "
            f"sys.exit(main(['verify', {str(FIXTURES / 'k3_lstm.keras')!r}, {str(out)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "kerasrnn2onnx[cpu]" in result.stderr and "Traceback" not in result.stderr


def test_console_script_and_module_entry_points(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kerasrnn2onnx", "convert", str(tmp_path / "none.keras")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("fixture", fixture_params())
def test_inspect_every_fixture(fixture):
    """inspect shows the whole graph: every layer, with a lowering line for each recurrent one."""
    text = kerasrnn2onnx.describe(fixture.model, **fixture.load_kwargs())
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    for layer in spec.layers:
        assert f"  {layer.name} <- " in text
    assert text.count("lowering: ") == len(spec.recurrent_layers)
