"""load -> convert -> verify: the same steps the CLI runs, as Python functions."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnx

from . import lowering
from ._version import __version__
from .errors import ConversionError, RuntimeInputError
from .inputs import check_verify_size, make_inputs, read_inputs, verify_inputs
from .io import load_raw_model
from .io.atomic import save_atomically, save_npz_atomically
from .io.guard import Limits, use_limits
from .io.live import LiveModel, is_live_model, saved_model_file
from .io.onnx_file import load_onnx_model
from .lowering import DEFAULT_OPSET
from .parity import DEFAULT_ATOL, DEFAULT_RTOL, ParityReport, compare_all
from .parity.verify import run_onnx
from .reference import run_model
from .spec import ModelSpec, parse_model
from .spec.types import BidirectionalSpec, RecurrentLayerSpec

PathLike = str | os.PathLike
ModelSource = PathLike | ModelSpec | LiveModel

__all__ = ["convert", "describe", "load", "make_inputs", "read_inputs", "run_onnx", "save_atomically",
           "save_npz_atomically", "tune", "verify"]


def load(model: ModelSource, weights: PathLike | None = None, keras_version: int | None = None,
         limits: Limits | None = None, weights_match: str | None = None) -> ModelSpec:
    """Read a Keras file (``.keras``, ``.h5``, or JSON config + ``weights``) into a spec.

    ``model`` may also be a live ``keras.Model`` of the caller's process (Keras 3 or
    tf-keras): it is saved with the caller's Keras to a temporary file, read, and the file
    removed (see ``io/live.py``). ``weights_match`` (``"order"`` or ``"name"``) overrides how
    a Keras 2 HDF5 weights layout is paired with the config's layers (default: Keras's own
    rule for the file kind, see ``io/keras2_weights.py``).

    The file is untrusted: ``limits`` (default: :class:`Limits` from the environment)
    bounds what it may make the reader spend (see ``io/guard.py``)."""
    if isinstance(model, ModelSpec):
        return model
    if is_live_model(model):
        if weights is not None:
            raise ConversionError("a live model carries its own weights: leave weights= out")
        with saved_model_file(model) as path, use_limits(limits), \
                load_raw_model(path, None, keras_version, weights_match) as raw:
            return parse_model(raw)
    with use_limits(limits), load_raw_model(cast(PathLike, model), weights, keras_version, weights_match) as raw:
        return parse_model(raw)  # reads each weight once its declared shape matches the config


def convert(
    model: ModelSource,
    output: PathLike | None = None,
    *,
    weights: PathLike | None = None,
    keras_version: int | None = None,
    opset: int = DEFAULT_OPSET,
    strategy: str = "auto",
    target: str = "cpu",
    expose_states: bool = False,
    limits: Limits | None = None,
    layer_strategies: Mapping[str, str] | None = None,
    quantize: str | None = None,
    weights_match: str | None = None,
) -> onnx.ModelProto:
    """Convert to ONNX; with ``output``, write it atomically (never a half-written file).

    ``strategy`` (auto, native, scan, unroll) and ``target`` (cpu, cuda) choose how each
    recurrent layer is lowered; see :func:`describe` for the choice and its reason;
    ``layer_strategies`` overrides it per layer name (what :func:`tune` measured).
    ``quantize="int8"`` (opt-in, never the default) applies onnxruntime's dynamic int8
    quantization afterwards (needs onnxruntime; see :mod:`kerasrnn2onnx.runtime.quantize`).
    Stateful layers always get state inputs/outputs; ``expose_states`` gives them to every
    recurrent layer, so a long sequence can be streamed in chunks (see :class:`Session`).
    """
    with use_limits(limits):
        spec = load(model, weights, keras_version, weights_match=weights_match)
        proto = lowering.build_model(spec, opset=opset, converter_version=__version__, strategy=strategy,
                                     target=target, expose_states=expose_states, layer_strategies=layer_strategies)
    onnx.checker.check_model(proto, full_check=True)
    if quantize is not None:
        from .runtime.quantize import quantize as quantize_model

        proto = quantize_model(proto, quantize)
    if output is not None:
        save_atomically(proto, Path(output))
    return proto


def tune(
    model: ModelSource,
    output: PathLike | None = None,
    *,
    weights: PathLike | None = None,
    keras_version: int | None = None,
    batch: int = 1,
    timesteps: int | None = None,
    opset: int = DEFAULT_OPSET,
    target: str = "cpu",
    expose_states: bool = False,
    rounds: int | None = None,
    margin: float | None = None,
    threads: Sequence[int] | None = None,
    seed: int = 0,
    timer: Any = None,
    weights_match: str | None = None,
    limits: Limits | None = None,
) -> Any:
    """Convert, then time every legal lowering of each recurrent layer and every intra-op
    thread count with onnxruntime on this machine at ``batch`` x ``timesteps``, and keep
    the fastest (see :mod:`kerasrnn2onnx.runtime.tune`). Returns a ``TuneResult`` whose
    ``proto`` carries the choice (``recommended_intra_op_threads``, read by
    :class:`Session`) and the measurements (metadata ``tuning``); with ``output``, the
    model is written atomically. ``limits`` bounds the untrusted file as in :func:`load`.
    Needs onnxruntime; ``convert`` does not."""
    with use_limits(limits):
        return _tune(model, output, weights, keras_version, batch, timesteps, opset, target, expose_states, rounds,
                     margin, threads, seed, timer, weights_match)


def _tune(model: ModelSource, output: PathLike | None, weights: PathLike | None, keras_version: int | None,
          batch: int, timesteps: int | None, opset: int, target: str, expose_states: bool, rounds: int | None,
          margin: float | None, threads: Sequence[int] | None, seed: int, timer: Any,
          weights_match: str | None) -> Any:
    from .runtime import tune as tuning

    if batch < 1 or (timesteps is not None and timesteps < 1):
        raise ConversionError("--batch and --timesteps must be at least 1")
    spec = load(model, weights, keras_version, weights_match=weights_match)
    check_verify_size(spec, batch, timesteps or tuning.DEFAULT_TIMESTEPS, None, "tune")
    arrays = make_inputs(spec, batch, timesteps or tuning.DEFAULT_TIMESTEPS, seed)
    plans = {p.layer: p for p in lowering.plan_layers(spec, "auto", target)}
    from .lowering.model import recommended_threads

    def build(overrides: dict[str, str]) -> onnx.ModelProto:
        return convert(spec, opset=opset, target=target, expose_states=expose_states, layer_strategies=overrides)

    result = tuning.tune(spec, build, arrays, target=target, threads=threads,
                         default_threads=recommended_threads(spec, plans),
                         rounds=rounds or tuning.DEFAULT_ROUNDS,
                         margin=tuning.DEFAULT_MARGIN if margin is None else margin, timer=timer)
    if output is not None:
        save_atomically(result.proto, Path(output))
    return result


def verify(
    model: ModelSource,
    onnx_model: onnx.ModelProto | PathLike | None = None,
    *,
    weights: PathLike | None = None,
    keras_version: int | None = None,
    provider: str = "cpu",
    inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | PathLike | None = None,
    batch: int = 2,
    timesteps: int = 7,
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
    strategy: str = "auto",
    limits: Limits | None = None,
    quantize: str | None = None,
    weights_match: str | None = None,
    runtime: str = "onnxruntime",
) -> ParityReport:
    """Run the ONNX model (converted now, for the runtime's target, if not given) on
    ``runtime`` (onnxruntime on ``provider``, or openvino, tract, opencv, web) and the float64
    NumPy reference on the same inputs, and compare every output.

    For a quantized model (``quantize`` here, or a file ``convert --quantize`` wrote) the
    report also gives its speed against the float conversion, and the tolerance defaults
    to the int8 one (``QUANTIZED_ATOL``/``RTOL``) instead of float32's."""
    with use_limits(limits):
        spec = load(model, weights, keras_version, weights_match=weights_match)
        return _verify(spec, onnx_model, provider, inputs, batch, timesteps, seed, atol, rtol, strategy, quantize,
                       runtime)


def _verify(spec: ModelSpec, onnx_model: onnx.ModelProto | PathLike | None, provider: str,
            inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | PathLike | None, batch: int, timesteps: int,
            seed: int, atol: float | None, rtol: float | None, strategy: str, quantize: str | None,
            runtime: str) -> ParityReport:
    if onnx_model is None:
        target = provider if runtime == "onnxruntime" else runtime
        proto = convert(spec, strategy=strategy, target=target, quantize=quantize)
    elif isinstance(onnx_model, onnx.ModelProto):
        proto = onnx_model
    else:
        proto = load_onnx_model(onnx_model)
    arrays, cases = verify_inputs(spec, inputs, batch, timesteps, seed)
    shapes = ", ".join(f"{i.name} {a.shape}" for i, a in zip(spec.inputs, arrays, strict=True))
    with np.errstate(all="ignore"):  # NaN/inf inputs propagate as in Keras; no warnings on stderr
        expected = run_model(spec, arrays, np.float64, checked=True)  # verify_inputs checked the shapes
    actual = run_onnx(proto, arrays, provider, runtime)
    names = [o.name for o in spec.outputs]
    if len(actual) != len(expected):
        raise RuntimeInputError(f"the ONNX model has {len(actual)} outputs, the Keras model {len(expected)}")
    from .runtime.quantize import QUANTIZED_ATOL, QUANTIZED_RTOL, quantization_of

    quantized = quantization_of(proto)
    floor = (QUANTIZED_ATOL, QUANTIZED_RTOL) if quantized else (DEFAULT_ATOL, DEFAULT_RTOL)
    rows = compare_all(names, actual, expected, floor[0] if atol is None else atol, floor[1] if rtol is None else rtol)
    notes: tuple[str, ...] = ()
    if quantized:
        from .runtime.quantize import time_against

        reference = convert(spec, strategy=strategy, target=provider)
        mine, base = time_against(proto, reference, arrays, provider)
        notes = (f"quantized {quantized['mode']} ({quantized['scheme']}); quantized ops "
                 f"{quantized['quantized_ops'] or 'none'}, "
                 f"float recurrent ops {quantized['float_recurrent_ops'] or 'none'}",
                 f"speed: {mine * 1e3:.3f} ms per call quantized vs {base * 1e3:.3f} ms float ({base / mine:.2f}x), "
                 "medians of 5 interleaved rounds")
    from .runtime.runtimes import runtime_version

    where = provider if runtime == "onnxruntime" else f"{runtime} {runtime_version(runtime)}"
    return ParityReport(tuple(rows), where, f"{cases}: {shapes}", notes)


def describe(model: ModelSource, weights: PathLike | None = None, keras_version: int | None = None,
             strategy: str = "auto", target: str = "cpu", limits: Limits | None = None,
             weights_match: str | None = None) -> str:
    """A human-readable account of the model: inputs, layers with specs and lowering, outputs."""
    with use_limits(limits):
        spec = load(model, weights, keras_version, weights_match=weights_match)
        plans = {p.layer: p for p in lowering.plan_layers(spec, strategy, target)}
    lines = [
        f"model: {spec.name}  ({spec.format}, Keras {spec.keras_version or 'version unknown'})",
        "inputs:",
    ]
    time_dims = spec.time_dims()
    for inp in spec.inputs:
        batch = "batch" if inp.batch is None else inp.batch
        time = time_dims[inp.name]
        dims = {"sequence": f"({batch}, {time}, {inp.features})", "tokens": f"({batch}, {time}) token ids",
                "vector": f"({batch}, {inp.features})",
                "tensor": "(" + ", ".join(str(d) for d in (batch, time, *inp.dims[1:])) + ")"}[inp.kind]
        lines.append(f"  {inp.name}: {dims} {inp.dtype}")
    lines.append(f"layers (target {target}):")
    for layer in spec.layers:
        src = ", ".join(s.layer + (f"[{s.index}]" if s.index else "") for s in layer.inputs)
        lines.append(f"  {layer.name} <- {src}: {layer.describe()}")
        halves = [layer] if isinstance(layer, RecurrentLayerSpec) else (
            [layer.forward, layer.backward] if isinstance(layer, BidirectionalSpec) else [])
        for half in halves:
            plan = plans[half.name]
            prefix = "" if half is layer else f"{half.name.split('/')[-1]}: "
            lines.append(f"    {prefix}lowering: {plan.strategy} — {plan.reason}")
            if half.initial_state:
                shown = ", ".join(s.layer + (f"[{s.index}]" if s.index else "") for s in half.initial_state)
                lines.append(f"    initial_state from {shown}")
            if half.stateful:
                lines.append("    stateful: states are graph inputs/outputs (<layer>/<state>_in, _out)")
        if getattr(layer, "masked", False):
            lines.append("    receives a mask")
        ignored = sorted({k for half in halves for k in half.ignored})
        if ignored:
            lines.append(f"    training-only (no effect at inference): {', '.join(ignored)}")
    lines.append("outputs:")
    for out in spec.outputs:
        lines.append(f"  {out.name}")
    return "\n".join(lines)
