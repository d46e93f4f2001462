"""Command line: ``convert``, ``tune``, ``verify``, ``inspect``, ``run``. Thin: every step lives in ``api``.

Exit codes: 0 success / parity, 1 parity mismatch, 2 bad input (one line on stderr, no
traceback, no output file), 3 an internal error (a bug: set KERASRNN2ONNX_DEBUG=1 for the
traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence

from . import api
from ._version import __version__
from .errors import ConversionError
from .io.guard import Limits, current_limits, parse_size, use_limits
from .lowering import DEFAULT_OPSET, STRATEGIES, TARGETS
from .parity import DEFAULT_ATOL, DEFAULT_RTOL
from .runtime.quantize import QUANTIZE_MODES, QUANTIZED_ATOL, QUANTIZED_RTOL
from .runtime.runtimes import RUNTIMES


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="Keras model: .keras, .h5, or a JSON config (with --weights)")
    parser.add_argument("--weights", help="weights for a JSON config: .npz (get_weights() order) or Keras .h5")
    parser.add_argument("--keras-version", type=int, choices=(2, 3),
                        help="Keras major version, for files that do not record it")
    parser.add_argument("--weights-match", choices=("order", "name"), default=None,
                        help="how a Keras 2 HDF5 weights layout is paired with the config's layers (default: "
                             "Keras's own rule: by order, as model.load_weights does; name: as "
                             "load_weights(by_name=True)); Keras 3 weights are always matched by object path")


def _limit_args(parser: argparse.ArgumentParser) -> None:
    """One ``--max-...`` flag per :class:`Limits` field (untrusted-input bounds)."""
    group = parser.add_argument_group("limits for untrusted files (defaults fit any real model; "
                                      "also KERASRNN2ONNX_MAX_... variables)")
    for field in dataclasses.fields(Limits):
        group.add_argument("--" + field.name.replace("_", "-"), dest=field.name, metavar="N", default=None,
                           help=f"{field.metadata['help']} (default {field.default:,})")


def _limits(args: argparse.Namespace) -> Limits:
    given = {f.name: parse_size(getattr(args, f.name), "--" + f.name.replace("_", "-"))
             for f in dataclasses.fields(Limits) if getattr(args, f.name, None) is not None}
    return dataclasses.replace(current_limits(), **given)


def _lowering_args(parser: argparse.ArgumentParser, target: bool) -> None:
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="how recurrent layers are lowered (default auto: unroll where Keras unrolls, "
                        "else the native op where exact, else scan)")
    if target:
        parser.add_argument("--target", choices=TARGETS, default="cpu",
                            help="runtime the graph is made for: cpu/cuda (onnxruntime; cuda: only cuDNN-capable "
                            "native ops), openvino, tract, opencv, web (onnxruntime-web), portable (all of them); "
                            "what a target cannot run exactly is lowered another way or refused")


def _tune_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=1, help="batch size to tune for (default 1)")
    parser.add_argument("--timesteps", type=int,
                        help="timesteps to tune for (default: the model's, else 50)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default 7)")
    parser.add_argument("--margin", type=float, default=0.05,
                        help="leave the default only for a candidate this much faster by median (default 0.05)")
    parser.add_argument("--threads", type=int, nargs="*", help="intra-op thread counts to try (default 1..nproc)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kerasrnn2onnx", description="Convert Keras recurrent models to ONNX.")
    parser.add_argument("--version", action="version", version=f"kerasrnn2onnx {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert a Keras model to ONNX")
    _model_args(convert)
    convert.add_argument("-o", "--output", help="output .onnx path (default: the model's name with .onnx)")
    convert.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    convert.add_argument("--expose-states", action="store_true",
                         help="give every recurrent layer state inputs/outputs (stream long sequences in chunks)")
    _lowering_args(convert, target=True)
    _limit_args(convert)
    convert.add_argument("--quantize", choices=QUANTIZE_MODES,
                         help="opt-in: onnxruntime dynamic int8 quantization (native LSTM -> DynamicQuantizeLSTM; "
                         "changes the numbers, see verify; needs onnxruntime)")
    convert.add_argument("--tune", action="store_true",
                         help="time the legal lowerings and thread counts here with onnxruntime (see 'tune')")
    _tune_args(convert)

    tune = commands.add_parser("tune", help="convert, then keep the fastest lowering and thread count on this machine")
    _model_args(tune)
    tune.add_argument("-o", "--output", help="output .onnx path (default: the model's name with .onnx)")
    tune.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    tune.add_argument("--expose-states", action="store_true", help="as for convert")
    tune.add_argument("--target", choices=TARGETS, default="cpu", help="as for convert")
    _tune_args(tune)
    _limit_args(tune)

    verify = commands.add_parser("verify", help="check an ONNX model against the NumPy reference of the Keras model")
    _model_args(verify)
    verify.add_argument("onnx", nargs="?", help="converted .onnx (default: convert in memory)")
    verify.add_argument("--provider", choices=("cpu", "cuda"), default="cpu", help="onnxruntime's provider")
    verify.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime",
                        help="runtime to check on (default onnxruntime; others convert for their own --target, "
                        "and need the extras openvino, tract, opencv, or Node with scripts/install_ort_web.sh for web)")
    verify.add_argument("--inputs", help=".npz with inputs by input name (or arr_0, arr_1 ...)")
    verify.add_argument("--batch", type=int, default=2, help="batch size of generated inputs (default 2)")
    verify.add_argument("--timesteps", type=int, default=7, help="timesteps of generated inputs (default 7)")
    verify.add_argument("--seed", type=int, default=0, help="seed of generated inputs (default 0)")
    verify.add_argument("--atol", type=float, help=f"absolute tolerance (default {DEFAULT_ATOL:g}; "
                        f"{QUANTIZED_ATOL:g} for a quantized model)")
    verify.add_argument("--rtol", type=float, help=f"relative tolerance (default {DEFAULT_RTOL:g}; "
                        f"{QUANTIZED_RTOL:g} for a quantized model)")
    verify.add_argument("--quantize", choices=QUANTIZE_MODES,
                        help="verify the quantized conversion (in memory) and report its speed against the float one")

    _lowering_args(verify, target=False)
    _limit_args(verify)

    run = commands.add_parser("run", help="run a converted model (carrying states for stateful models)")
    run.add_argument("onnx", help="converted .onnx")
    run.add_argument("--inputs", required=True, help=".npz with inputs by input name (or arr_0, arr_1 ...)")
    run.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")
    run.add_argument("-o", "--output", help="write the outputs to this .npz (by output name)")
    run.add_argument("--chunks", type=int, default=1,
                     help="stream the inputs through the Session in N chunks along time (needs state inputs)")
    _limit_args(run)

    inspect = commands.add_parser("inspect", help="show layers, specs and the lowering chosen for each")
    _model_args(inspect)
    _lowering_args(inspect, target=True)
    _limit_args(inspect)
    return parser


def _default_output(model: str) -> str:
    base = os.path.basename(model)
    for suffix in (".keras", ".h5", ".json"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base + ".onnx"


def _run(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run_model(args)
    common = {"weights": args.weights, "keras_version": args.keras_version, "weights_match": args.weights_match}
    if args.command == "tune" or (args.command == "convert" and args.tune):
        output = args.output or _default_output(args.model)
        if args.command == "convert" and args.strategy != "auto":
            raise ConversionError("--tune chooses the strategy itself; drop --strategy")
        if getattr(args, "quantize", None):
            raise ConversionError("--tune times the float model; quantize the tuned model's source separately")
        result = api.tune(args.model, output, opset=args.opset, target=args.target, expose_states=args.expose_states,
                          batch=args.batch, timesteps=args.timesteps, rounds=args.rounds, margin=args.margin,
                          threads=args.threads, **common)
        print(result.table())
        print(f"wrote {output}")
        return 0
    if args.command == "convert":
        output = args.output or _default_output(args.model)
        api.convert(args.model, output, opset=args.opset, strategy=args.strategy, target=args.target,
                    expose_states=args.expose_states, quantize=args.quantize, **common)
        print(f"wrote {output}")
        return 0
    if args.command == "verify":
        if args.batch < 1 or args.timesteps < 1:
            raise ConversionError("--batch and --timesteps must be at least 1")
        report = api.verify(
            args.model, args.onnx, provider=args.provider, inputs=args.inputs, batch=args.batch,
            timesteps=args.timesteps, seed=args.seed, atol=args.atol, rtol=args.rtol, strategy=args.strategy,
            quantize=args.quantize, runtime=args.runtime, **common,
        )
        print(report.table())
        return 0 if report.passed else 1
    print(api.describe(args.model, strategy=args.strategy, target=args.target, **common))
    return 0


def _run_model(args: argparse.Namespace) -> int:
    from .runtime.streaming import run_chunked

    outputs = run_chunked(args.onnx, args.inputs, args.provider, args.chunks)
    for name, value in outputs.items():
        print(f"{name}: shape {value.shape}, mean {float(value.mean()):.6g}, max |x| {float(abs(value).max()):.6g}")
    if args.output:
        from .api import save_npz_atomically

        save_npz_atomically(outputs, args.output)
        print(f"wrote {args.output}")
    return 0


def _one_line(message: str) -> str:
    """A message naming values from a file stays one printable line: control characters
    (a layer named "a\nb") are escaped, and so are lone surrogates stderr cannot encode."""
    escaped = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with use_limits(_limits(args)):
            return _run(args)
    except ConversionError as exc:
        print(f"kerasrnn2onnx: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(_one_line(f"kerasrnn2onnx: error: {exc.filename or ''}: {exc.strerror or exc}"), file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if os.environ.get("KERASRNN2ONNX_DEBUG"):
            raise
        print(_one_line(f"kerasrnn2onnx: internal error ({type(exc).__name__}: {exc}); "
                        "please report it (KERASRNN2ONNX_DEBUG=1 shows the traceback)"), file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
