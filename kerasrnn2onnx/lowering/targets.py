"""What each target runtime executes exactly: one row per ``--target``.

The planner (strategy.py) and the lowerings read these facts instead of testing target
names, so a new runtime is one row. Every ``False`` here was measured on the runtime
(scripts/runtime_parity.py, the fixtures; minimal reproducers in tests/runtime/bugs/):

- ``native_activations``: the ONNX activation names the runtime honours in the LSTM/GRU/RNN
  ``activations`` attribute (``None``: all of them). tract ignores the attribute (wrong
  numbers, no error); OpenVINO rejects HardSigmoid/Affine/Elu/Softsign/Softplus there.
- ``native``/``native_ops``: the runtime's recurrent ops are usable at all, and which of them
  (``None``: all). OpenCV's importer runs LSTM (dynamic time included) but not GRU or RNN:
  their graphs need a Shape of a dynamic tensor, which its importer rejects.
- ``sequence_lens``: the masked native lowering (compaction + ``sequence_lens``) is exact
  (OpenVINO 2026.4: 14 of 56 masked/bidirectional fixtures off by more than 1e-5 with it,
  with the int32-safe sort key; so masked layers go to Scan there).
- ``reverse``: ``direction="reverse"`` is computed right; else the input is flipped for a
  forward op (OpenCV returns wrong final states from a reverse LSTM).
- ``scan``: the runtime has Scan; else loops are unrolled (fixed time only, else refused).
  ``unroll_fixed_time``: unroll wherever the time is fixed even so (``portable``: then the
  graph also runs on OpenCV, which has no Scan).
- ``batch_switch``: ``If`` on the batch size (onnxruntime CPU's measured rule) is allowed.
- ``blank_unused_outputs``: unread Y/Y_h/Y_c may be left unnamed (onnxruntime then skips
  computing them); OpenCV returns the wrong tensor for a recurrent op with blank outputs.
- ``lstm_cell_state_out``: an LSTM whose final cell state (Y_c) is read runs right (tract
  fails evaluating one, "Evaluating ... Scan", unless initial states are graph inputs).
- ``activation_forms``: the table of spec/activations.py ``FORM_TABLES`` whose forms replace
  the usual ones (``"exp"``: silu, mish, sigmoid, softplus, log_sigmoid through Exp, because
  tract's Sigmoid/Tanh/Softplus are approximations that an unbounded factor x magnifies;
  ``"exp_mish"``: OpenVINO fuses x * tanh(softplus(x)) into an approximate Mish).
- ``refused_activations``: activations the runtime computes inexactly with no exact ONNX
  alternative, with the reason (tract's Erf is up to 1.7e-6 off near 0, about 20 float32 ulp).
- ``fold_transposes``: Transpose chains are folded (OpenVINO computes a Transpose pair wrong
  when the inner one also feeds an LSTM; lowering/transpose_fold.py).
- ``scan_output_feeds_body``: a Scan body may read one of its own outputs (a custom step's
  ``output, Identity(output)``); tract fails analysing such a body ("Failed analyse for node
  ... Scan"), so those outputs are written by Identities there (lowering/scan_bodies.py).
- ``value_info``: symbolic shapes of intermediate values may be recorded (tract unifies
  them with the concrete input shapes it needs and fails on the first Transpose).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TargetProfile:
    name: str
    runtime: str
    native: bool = True
    native_ops: frozenset[str] | None = None
    native_activations: frozenset[str] | None = None
    cudnn_only: bool = False
    sequence_lens: bool = True
    reverse: bool = True
    scan: bool = True
    unroll_fixed_time: bool = False
    batch_switch: bool = False
    measured_cpu_rules: bool = False
    blank_unused_outputs: bool = False
    value_info: bool = True
    lstm_cell_state_out: bool = True
    activation_forms: str | None = None
    refused_activations: tuple[tuple[str, str], ...] = ()  # (Keras name, why)
    fold_transposes: bool = False
    scan_output_feeds_body: bool = True


DEFAULT_ACTIVATIONS_ONLY: frozenset[str] = frozenset()
TRACT_ERF = (("gelu", "tract's Erf is up to 1.7e-6 off near 0 (about 20 float32 ulp) and ONNX has no other erf"),)

PROFILES: dict[str, TargetProfile] = {p.name: p for p in (
    TargetProfile("cpu", "onnxruntime", batch_switch=True, measured_cpu_rules=True, blank_unused_outputs=True),
    TargetProfile("cuda", "onnxruntime (CUDA)", cudnn_only=True, blank_unused_outputs=True),
    TargetProfile("openvino", "OpenVINO", native_activations=frozenset({"Sigmoid", "Tanh", "Relu"}),
                  sequence_lens=False, reverse=False, activation_forms="exp_mish", fold_transposes=True),
    TargetProfile("tract", "tract", native_activations=DEFAULT_ACTIVATIONS_ONLY, sequence_lens=False, reverse=False,
                  value_info=False, lstm_cell_state_out=False, activation_forms="exp", refused_activations=TRACT_ERF,
                  scan_output_feeds_body=False),
    TargetProfile("opencv", "OpenCV DNN", native_ops=frozenset({"LSTM"}), native_activations=DEFAULT_ACTIVATIONS_ONLY,
                  sequence_lens=False, reverse=False, scan=False, value_info=False),
    TargetProfile("web", "onnxruntime-web (WebAssembly)"),
    TargetProfile("portable", "OpenCV (in the portable set)", native=False, unroll_fixed_time=True, reverse=False,
                  value_info=False, activation_forms="exp", refused_activations=TRACT_ERF, fold_transposes=True,
                  scan_output_feeds_body=False),
)}


def profile(target: str) -> TargetProfile:
    return PROFILES[target]
