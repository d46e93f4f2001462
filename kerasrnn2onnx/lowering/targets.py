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
  the usual ones (``"exp"``: silu, mish, sigmoid, softplus, log_sigmoid and gelu's erf through Exp, because
  tract's Sigmoid/Tanh/Softplus are approximations that an unbounded factor x magnifies;
  ``"exp_mish"``: OpenVINO fuses x * tanh(softplus(x)) into an approximate Mish; ``"relu6"``:
  OpenCV fuses Mul(HardSigmoid(x; 1/6, 1/2), y) into HardSwish(x), dropping y, so Keras 3's
  hard_sigmoid is written relu6(x + 3) / 6; ``"exp_relu6"``: both, for ``portable``).
- ``refused_activations``: activations the runtime computes inexactly with no exact ONNX
  alternative, with the reason (none today: tract's inexact Erf is avoided by the ``"exp"`` forms).
- ``fold_transposes``: Transpose chains are folded (OpenVINO computes a Transpose pair wrong
  when the inner one also feeds an LSTM; lowering/transpose_fold.py).
- ``scan_output_feeds_body``: a Scan body may read one of its own outputs (a custom step's
  ``output, Identity(output)``); tract fails analysing such a body ("Failed analyse for node
  ... Scan"), so those outputs are written by Identities there (lowering/scan_bodies.py).
- ``static_reshapes``: reshapes whose every non-batch dim is known get constant shapes
  (OpenCV's importer fails on a Reshape to a shape computed from Shape: "outTotal ==
  inpTotal"); elsewhere the shapes are read from the tensors.
- ``reshape_stacks_steps``: an unrolled loop may stack its per-step outputs with one Concat
  and a Reshape to (time, batch, -1). tract's declutter fails pulling a flip (a Slice with
  step -1: Bidirectional's backward half turned back) over a Reshape that splits an axis
  ("Pulling ... Downsample over ... Reshape: Invalid axis"), and OpenCV mis-sizes a Reshape to
  a shape read from a ConvLSTM's frames; there each step gets an Unsqueeze and one Concat
  stacks them (lowering/loops.py).
- ``slice_flips``: a time axis may be reversed with a Slice of step -1; tract's declutter fails
  pulling that Slice over a Reshape that made the axis (a Keras ``Reshape((-1, 3))`` before a
  go_backwards layer: "Pulling ... Downsample over ... Reshape: Invalid axis"), so tract's
  flips are a Gather of computed indices (lowering/context.py ``flip_time``).
- ``prelu``: the PRelu op broadcasts its slope as the spec says (OpenCV takes it per channel
  of axis 1 and fails on Keras's trailing-axis slopes: "cn1 <= scale.total()"); else
  max(x, 0) + alpha * min(x, 0).
- ``multi_axis_reduce``: a ReduceMax/ReduceMean over several axes is right (OpenCV 5.0 is
  wrong over axes 1-3 of a rank-5 tensor, GlobalMaxPooling3D); else one axis at a time.
- ``constant_nodes``: Constant nodes are read right (OpenCV keeps the axis of a Gather
  whose scalar index is a Constant node); else they become initializers (lowering/constants.py).
- ``scan_outer_values``: a Scan body may read main-graph values that are not initializers
  (a custom cell's constants); OpenVINO's frontend rejects that ("body outputs (2) is less
  than num_initial_values (3)"), so they are carried as unchanged loop states there.
- ``scan_final_states``: a Scan whose graph reads two or more final states runs (tract fails
  evaluating one: ConvLSTM return_state); else they are read from the last step of scan
  outputs (lowering/scan_bodies.py).
- ``native_shared_input``: two recurrent layers reading one tensor (directly or each through
  its own TimeDistributed fold) may both be native ops; OpenVINO 2026.4 computes one of two
  recurrent ops that read the same X wrong (up to 1.8 off, no error) once the other's Y is
  read, so there those layers run Scan (k3_td_rnn_char_words; reproducer
  recurrent_ops_share_input).
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
    static_reshapes: bool = False
    reshape_stacks_steps: bool = True
    slice_flips: bool = True
    prelu: bool = True
    multi_axis_reduce: bool = True
    constant_nodes: bool = True
    scan_outer_values: bool = True
    scan_final_states: bool = True
    no_native_reason: str | None = None  # why ``native`` is False, for inspect and refusals
    native_shared_input: bool = True  # two recurrent layers may both run native ops on one input


DEFAULT_ACTIVATIONS_ONLY: frozenset[str] = frozenset()

PROFILES: dict[str, TargetProfile] = {p.name: p for p in (
    TargetProfile("cpu", "onnxruntime", batch_switch=True, measured_cpu_rules=True, blank_unused_outputs=True),
    TargetProfile("cuda", "onnxruntime (CUDA)", cudnn_only=True, blank_unused_outputs=True),
    TargetProfile("openvino", "OpenVINO", native_activations=frozenset({"Sigmoid", "Tanh", "Relu"}),
                  sequence_lens=False, reverse=False, activation_forms="exp_mish", fold_transposes=True,
                  scan_outer_values=False, native_shared_input=False),
    TargetProfile("tract", "tract", native_activations=DEFAULT_ACTIVATIONS_ONLY, sequence_lens=False, reverse=False,
                  value_info=False, lstm_cell_state_out=False, activation_forms="exp",
                  scan_output_feeds_body=False, scan_final_states=False, reshape_stacks_steps=False,
                  slice_flips=False),
    TargetProfile("opencv", "OpenCV DNN", native_ops=frozenset({"LSTM"}), native_activations=DEFAULT_ACTIVATIONS_ONLY,
                  sequence_lens=False, reverse=False, scan=False, value_info=False, static_reshapes=True,
                  reshape_stacks_steps=False, prelu=False, multi_axis_reduce=False, constant_nodes=False,
                  activation_forms="relu6"),
    TargetProfile("web", "onnxruntime-web (WebAssembly)"),
    TargetProfile("portable", "OpenCV (in the portable set)", native=False, unroll_fixed_time=True, reverse=False,
                  value_info=False, activation_forms="exp_relu6", fold_transposes=True,
                  scan_output_feeds_body=False, static_reshapes=True, reshape_stacks_steps=False, prelu=False,
                  multi_axis_reduce=False,
                  constant_nodes=False, scan_outer_values=False, scan_final_states=False,
                  no_native_reason="the portable target emits no ONNX recurrent op, since its runtimes disagree on "
                  "them (tract ignores the activations attribute and misreads a final cell state, OpenCV has no "
                  "GRU/RNN op, OpenVINO and OpenCV compute direction=reverse wrong)"),
)}


def profile(target: str) -> TargetProfile:
    return PROFILES[target]
