"""Lowering options a model cannot take, refused with one line naming the layer and the
option, exit 2: an opset below the oldest supported, a forced strategy the layer's activation
or time dimension rules out."""

from __future__ import annotations

from ..conftest import FIXTURES, convert_fails, lstm_weights, write_layer_json


def test_bad_opset(capsys, tmp_path):
    convert_fails(capsys, tmp_path, [FIXTURES / "k3_lstm.keras", "--opset", "7"], "--opset")


def test_forced_native_strategy_for_an_activation_the_op_lacks(capsys, tmp_path):
    model, npz = write_layer_json(tmp_path, "LSTM", {"name": "enc", "units": 3, "activation": "gelu"}, lstm_weights())
    convert_fails(capsys, tmp_path, [model, "--weights", npz, "--keras-version", "3", "--strategy", "native"],
                   "layer 'enc'", "--strategy native", "gelu")


def test_unroll_with_a_dynamic_time_dimension(capsys, tmp_path):
    convert_fails(capsys, tmp_path, [FIXTURES / "k3_lstm.keras", "--strategy", "unroll"],
                   "layer 'lstm'", "unroll", "fixed number of timesteps")
