"""ConvLSTM1D / ConvLSTM2D / ConvLSTM3D: Keras's convolutional LSTM on the project's own loop.

Why this shape: the recurrent machinery (Scan and unroll, go_backwards, stateful state
inputs, initial states, the reference time loop) works on (batch, width) states. A
convolutional state (batch, *spatial, filters) is carried there *flattened* in
channels-first order (filters, *spatial), so one layer becomes three specs:

1. :class:`ConvFramesSpec` flattens each step's frame (batch, time, *spatial, channels) to
   (batch, time, channels * prod(spatial));
2. a :class:`~kerasrnn2onnx.spec.types.RecurrentLayerSpec` named ``<layer>/loop`` over one
   :class:`~kerasrnn2onnx.spec.cells.CustomCellSpec` whose converter is a
   :class:`ConvLSTMStep` (the convolutional cell, in NumPy and as ONNX Conv nodes);
3. :class:`ConvUnflattenSpec`, named as the Keras layer, gives its outputs back their
   Keras shapes (sequence (batch, time, *spatial', filters), states (batch, *spatial', filters)).

The cell: ``x_c = conv(x, kernel, strides, padding, dilation) + bias`` and
``h_c = conv(h, recurrent_kernel, 'same')`` per gate (i, f, c, o), then LSTM's equations.
Stateful layers carry the flat state: their state inputs are (batch, filters * prod(spatial')).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from math import prod
from typing import Any

import numpy as np

from ..custom import CustomCell
from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer, RawModel
from .activations import ActivationSpec
from .cells import CustomCellSpec
from .checks import (
    BASE_KEYS,
    TRAINING_ONLY,
    TensorFacts,
    WeightFeed,
    check_dtype,
    check_keys,
    flag,
    read_activation,
    read_weight,
)
from .node import Node
from .types import RecurrentLayerSpec, Ref

CONV_RNN_CLASSES = {"ConvLSTM1D": 1, "ConvLSTM2D": 2, "ConvLSTM3D": 3}
CONV_LSTM_KEYS = frozenset({"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                            "activation", "recurrent_activation", "use_bias", "return_sequences", "return_state",
                            "go_backwards", "stateful", "unroll", "time_major", "zero_output_for_mask"})


def conv_out_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """One spatial output size (TF's rule: 'same' is ceil(size / stride))."""
    if padding == "same":
        return -(-size // stride)
    return (size - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True, eq=False)
class ConvLSTMStep:
    """One ConvLSTM timestep over flat channels-first vectors, as NumPy and as ONNX ops.

    Used as a :class:`CustomCellSpec` converter: ``step_parameters``/``onnx_step`` for the
    loop lowerings, ``numpy_step`` for the reference (which works on Keras's own kernel
    layout, (*kernel_size, in, 4 * filters), not on the ONNX one)."""

    keras_name: str
    filters: int
    channels: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: str
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    activation: ActivationSpec
    recurrent_activation: ActivationSpec
    use_bias: bool

    # -- ONNX ---------------------------------------------------------------------------
    def converter(self, state: int) -> CustomCell:
        """This step as a :class:`CustomCell` (weights bound by name, as for users' cells)."""
        names = ("kernel", "recurrent_kernel", "onnx_kernel", "onnx_recurrent_kernel")
        return CustomCell(keras_name=self.keras_name, weights=names + (("bias",) if self.use_bias else ()),
                          state_sizes=lambda config: [state, state],
                          onnx_step=self.onnx_step_with_bias if self.use_bias else self.onnx_step_no_bias,
                          numpy_step=self.numpy_step)

    def onnx_step_no_bias(self, op: Any, x_t: Any, h: Any, c: Any, onnx_kernel: Any,
                          onnx_recurrent_kernel: Any) -> tuple[Any, Any, Any]:
        return self.onnx_step(op, x_t, h, c, onnx_kernel, onnx_recurrent_kernel, None)

    def onnx_step_with_bias(self, op: Any, x_t: Any, h: Any, c: Any, onnx_kernel: Any, onnx_recurrent_kernel: Any,
                            bias: Any) -> tuple[Any, Any, Any]:
        return self.onnx_step(op, x_t, h, c, onnx_kernel, onnx_recurrent_kernel, bias)

    def onnx_step(self, op: Any, x_t: Any, h: Any, c: Any, onnx_kernel: Any, onnx_recurrent_kernel: Any,
                  bias: Any | None) -> tuple[Any, Any, Any]:
        import onnx_ir as ir

        def shape(*dims: int) -> Any:
            return op.Constant(value=ir.tensor(np.array(dims, dtype=np.int64)))

        rank = len(self.kernel_size)
        x = op.Reshape(x_t, shape(0, self.channels, *self.in_spatial))
        pads = self._pads()
        inputs = [x, onnx_kernel] + ([bias] if bias is not None else [])
        x_conv = op.Conv(*inputs, kernel_shape=list(self.kernel_size), strides=list(self.strides),
                         dilations=list(self.dilation), pads=pads)
        state = op.Reshape(h, shape(0, self.filters, *self.out_spatial))
        h_conv = op.Conv(state, onnx_recurrent_kernel, kernel_shape=list(self.kernel_size), strides=[1] * rank,
                         pads=_same_pads(self.kernel_size, [1] * rank, self.out_spatial, self.out_spatial))
        pre = op.Add(x_conv, h_conv)  # (batch, 4 * filters, *spatial')
        i, f, g, o = op.Split(pre, shape(*[self.filters] * 4), axis=1, _outputs=4)
        ra = self.recurrent_activation
        carry = op.Reshape(c, shape(0, self.filters, *self.out_spatial))
        new_c = op.Add(op.Mul(ra.emit(op, f), carry), op.Mul(ra.emit(op, i), self.activation.emit(op, g)))
        new_h = op.Mul(ra.emit(op, o), self.activation.emit(op, new_c))
        flat_h, flat_c = op.Flatten(new_h, axis=1), op.Flatten(new_c, axis=1)
        return flat_h, flat_h, flat_c

    def _pads(self) -> list[int]:
        rank = len(self.kernel_size)
        if self.padding == "valid":
            return [0] * (2 * rank)
        return _same_pads(self.kernel_size, self.strides, self.in_spatial, self.out_spatial, self.dilation)

    # -- NumPy --------------------------------------------------------------------------
    def numpy_step(self, x_t: np.ndarray, states: Sequence[np.ndarray], constants: Sequence[np.ndarray],
                   w: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch = x_t.shape[0]
        x = np.moveaxis(x_t.reshape(batch, self.channels, *self.in_spatial), 1, -1)  # channels last
        h = np.moveaxis(states[0].reshape(batch, self.filters, *self.out_spatial), 1, -1)
        c = np.moveaxis(states[1].reshape(batch, self.filters, *self.out_spatial), 1, -1)
        pre = conv_nd(x, w["kernel"], self.strides, self.dilation, self.padding)
        if self.use_bias:
            pre = pre + w["bias"]
        ones = (1,) * len(self.kernel_size)
        pre = pre + conv_nd(h, w["recurrent_kernel"], ones, ones, "same")
        f_ = self.filters
        i, f, g, o = (pre[..., k * f_:(k + 1) * f_] for k in range(4))
        ra = self.recurrent_activation
        new_c = ra.numpy(f) * c + ra.numpy(i) * self.activation.numpy(g)
        new_h = ra.numpy(o) * self.activation.numpy(new_c)
        flat_h = np.moveaxis(new_h, -1, 1).reshape(batch, -1)
        flat_c = np.moveaxis(new_c, -1, 1).reshape(batch, -1)
        return flat_h, flat_h, flat_c


def _same_pads(kernel: Sequence[int], strides: Sequence[int], sizes: Sequence[int], outs: Sequence[int],
               dilation: Sequence[int] | None = None) -> list[int]:
    """TF's 'same' padding, the odd element at the end: ONNX ``pads`` (begins, then ends)."""
    dilation = dilation or [1] * len(kernel)
    totals = [max((o - 1) * s + d * (k - 1) + 1 - n, 0)
              for k, s, n, o, d in zip(kernel, strides, sizes, outs, dilation, strict=True)]
    return [t // 2 for t in totals] + [t - t // 2 for t in totals]


def conv_nd(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int], dilation: Sequence[int],
            padding: str) -> np.ndarray:
    """Keras's channels-last N-d convolution: x (batch, *spatial, in), kernel (*k, in, out)."""
    rank = kernel.ndim - 2
    sizes = x.shape[1:-1]
    outs = [conv_out_size(n, k, s, d, padding)
            for n, k, s, d in zip(sizes, kernel.shape[:rank], strides, dilation, strict=True)]
    if padding == "same":
        pads = _same_pads(kernel.shape[:rank], strides, sizes, outs, dilation)
        x = np.pad(x, [(0, 0)] + [(pads[a], pads[a + rank]) for a in range(rank)] + [(0, 0)])
    out = np.zeros((x.shape[0], *outs, kernel.shape[-1]), dtype=x.dtype)
    for offset in np.ndindex(*kernel.shape[:rank]):
        index = tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                      for o, d, n, s in zip(offset, dilation, outs, strides, strict=True))
        window = (slice(None), *index, slice(None))
        out = out + x[window] @ kernel[offset]
    return out


@dataclass(frozen=True, eq=False)
class ConvFramesSpec(Node):
    """Each step's frame flattened channels-first: (batch, time, *spatial, channels) (or
    channels_first (batch, time, channels, *spatial)) -> (batch, time, channels * prod(spatial))."""

    name: str
    inputs: tuple[Ref, ...]
    channels_first: bool
    out_shape: tuple[int | None, ...]  # (time, width)
    mask = "pass"  # the loop applies it where Keras does (RecurrentLayerSpec.masked)

    def out_time(self, time: Any) -> Any:
        return time

    def describe(self) -> str:
        return "ConvLSTM frames -> step vectors"


@dataclass(frozen=True, eq=False)
class ConvUnflattenSpec(Node):
    """The ConvLSTM layer's outputs in Keras's shapes, from the loop's flat ones: the output
    (a sequence when ``sequence``) and, with ``return_state``, h and c."""

    name: str
    inputs: tuple[Ref, ...]
    channels_first: bool
    filters: int
    out_spatial: tuple[int, ...]
    sequence: bool
    class_name: str
    mask = "drop"

    @property
    def output_ranks(self) -> tuple[int, ...]:
        spatial = len(self.out_spatial)
        return tuple(spatial + (3 if (k == 0 and self.sequence) else 2) for k in range(len(self.inputs)))

    @property
    def output_timed(self) -> tuple[bool, ...]:
        return tuple(k == 0 and self.sequence for k in range(len(self.inputs)))

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        """The first non-batch dim of output ``index``: time for the sequence, else the
        frame's first dim. A lone output (no states) has had the generic rule: time for
        the sequence, else a new unknown dim (the frame's first dim is static, but the
        graph has always named it)."""
        if len(self.inputs) == 1:
            return super().output_time(index, time, rank)
        return time if self.output_timed[index] else self.frame_shape()[0]

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("", "state_h", "state_c")[: len(self.inputs)]

    def frame_shape(self) -> tuple[int, ...]:
        return (self.filters, *self.out_spatial) if self.channels_first else (*self.out_spatial, self.filters)

    @property
    def out_shape(self) -> tuple[int | None, ...]:
        return ((None,) if self.sequence else ()) + self.frame_shape()

    def out_time(self, time: Any) -> Any:
        return time if self.sequence else None

    def describe(self) -> str:
        return f"{self.class_name} outputs"


@dataclass(frozen=True, eq=False)
class ConvUnflattenSequenceSpec(ConvUnflattenSpec):
    """:class:`ConvUnflattenSpec` of a ``return_sequences`` layer: its sequence carries the
    layer's mask on (Keras's ConvLSTM compute_mask returns the input mask then)."""

    mask = "pass"


@dataclass(frozen=True, eq=False)
class ConvStateFlattenSpec(Node):
    """An ``initial_state=`` tensor in Keras's shape (batch, *spatial, filters) (or
    channels_first (batch, filters, *spatial)) flattened channels-first to the loop's
    (batch, filters * prod(spatial))."""

    name: str
    inputs: tuple[Ref, ...]
    channels_first: bool
    out_shape: tuple[int | None, ...]  # (width,)
    mask = "drop"

    def out_time(self, time: Any) -> Any:
        return None

    def describe(self) -> str:
        return "ConvLSTM initial state -> flat state"


def _tuple(value: Any, rank: int, layer: str, key: str) -> tuple[int, ...]:
    items = list(value) if isinstance(value, (list, tuple)) else [value] * rank
    if len(items) != rank or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items):
        raise LayerError(layer, f"must be {rank} positive integer(s), got {value!r}", key)
    return tuple(items)


def parse_conv_rnn(raw: RawLayer, source: Ref, info: TensorFacts, model: RawModel, feed: WeightFeed,
                   initial: tuple[Ref, ...] = (), initial_infos: Sequence[TensorFacts] = (),
                   explicit_mask: Ref | None = None,
                   implicit_mask: bool = False) -> list[tuple[Any, list[TensorFacts]]]:
    """The specs of one ConvLSTM layer (frames, a flattening per ``initial_state=`` tensor,
    the loop, the outputs) and the infos of its Keras outputs.

    ``explicit_mask`` is a ``mask=`` (batch, time) boolean; ``implicit_mask`` says the layer
    applies its input's own (batch, time) mask (see :func:`check_conv_rnn_mask`)."""
    name, config, rank = raw.name, raw.config, CONV_RNN_CLASSES[raw.class_name]
    ignored = check_keys(config, BASE_KEYS | TRAINING_ONLY | CONV_LSTM_KEYS, name)
    check_dtype(config, name)
    dims = info.shape if getattr(info, "shape", None) else None
    masked = implicit_mask or explicit_mask is not None
    if dims is None or len(dims) != rank + 2 or info.boolean:
        raise UnsupportedError(name, f"{raw.class_name} needs a (batch, time, {rank} spatial dims, channels) input")
    data_format = config.get("data_format") or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise LayerError(name, f"unknown data_format {data_format!r}", "data_format")
    channels_first = data_format == "channels_first"
    spatial = dims[2:] if channels_first else dims[1:-1]
    channels = dims[1] if channels_first else dims[-1]
    if channels is None or any(d is None for d in spatial):
        raise UnsupportedError(name, f"{raw.class_name} needs fixed spatial and channel sizes (Keras does too)")
    in_spatial = tuple(int(d) for d in spatial if d is not None)
    filters = config.get("filters")
    if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
        raise LayerError(name, f"must be a positive integer, got {filters!r}", "filters")
    kernel_size = _tuple(config.get("kernel_size"), rank, name, "kernel_size")
    strides = _tuple(config.get("strides", 1), rank, name, "strides")
    dilation = _tuple(config.get("dilation_rate", 1), rank, name, "dilation_rate")
    if max(strides) > 1 and max(dilation) > 1:
        # Keras 3's ConvLSTMCell refuses this at construction, tf-keras at its first call (TF's
        # convolution: "`strides > 1` not supported in conjunction with `dilation_rate > 1`")
        raise LayerError(name, f"strides {strides} with dilation_rate {dilation}: Keras refuses strides > 1 "
                         "together with dilation_rate > 1", "dilation_rate")
    padding = str(config.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise UnsupportedError(name, f"padding {padding!r} is not supported (valid, same)", "padding")
    if config.get("time_major"):
        raise UnsupportedError(name, "time_major=True is not supported", "time_major")
    out_spatial = tuple(conv_out_size(n, k, s, d, padding)
                        for n, k, s, d in zip(in_spatial, kernel_size, strides, dilation, strict=True))
    if min(out_spatial) < 1:
        raise LayerError(name, f"the kernel is larger than the input {in_spatial}", "kernel_size")
    activation = read_activation(config, "activation", "tanh", model.keras_major, name)
    recurrent_activation = read_activation(config, "recurrent_activation",
                                           "hard_sigmoid" if model.keras_major == 2 else "sigmoid",
                                           model.keras_major, name)
    use_bias = flag(config, "use_bias", True, name)
    it = feed.for_layer(raw)
    kernel = read_weight(feed, it, name, name, "kernel", (*kernel_size, int(channels), 4 * filters))
    recurrent = read_weight(feed, it, name, name, "recurrent_kernel", (*kernel_size, filters, 4 * filters))
    bias = read_weight(feed, it, name, name, "bias", (4 * filters,)) if use_bias else None
    if feed.is_per_layer and next(it, None) is not None:
        raise LayerError(name, "the file holds more weights than the layer uses")
    step = ConvLSTMStep(f"built-in {raw.class_name}", filters, int(channels), kernel_size, strides, dilation, padding,
                        in_spatial, out_spatial, activation, recurrent_activation, use_bias)
    weights: dict[str, np.ndarray] = {
        "kernel": kernel, "recurrent_kernel": recurrent,
        "onnx_kernel": _onnx_kernel(kernel), "onnx_recurrent_kernel": _onnx_kernel(recurrent)}
    if bias is not None:
        weights["bias"] = bias
    state = filters * prod(out_spatial)
    width = int(channels) * prod(in_spatial)
    cell = CustomCellSpec(f"{name}/cell", raw.class_name, step.converter(state), dict(config), width, state,
                          (state, state), weights)
    frames = ConvFramesSpec(f"{name}/frames", (source,), channels_first, (info.steps, cell.input_size))
    return_sequences = flag(config, "return_sequences", False, name)
    return_state = flag(config, "return_state", False, name)
    stateful = flag(config, "stateful", False, name)
    # tf-keras's ConvRNN.call runs backend.rnn without zero_output_for_mask (so False), whatever
    # the config says; Keras 3's ConvLSTM inherits RNN.call, which passes it on
    zero_output = flag(config, "zero_output_for_mask", False, name) and model.keras_major != 2
    if masked:
        check_conv_rnn_mask(name, raw.class_name, model.keras_major, bool(initial), stateful)
    state_frame = (filters, *out_spatial) if channels_first else (*out_spatial, filters)
    flats = [_initial_state_spec(name, k, ref, ref_info, channels_first, state_frame, raw.class_name)
             for k, (ref, ref_info) in enumerate(zip(initial, initial_infos, strict=True))]
    if initial and len(initial) != 2:
        raise LayerError(name, f"initial_state has {len(initial)} tensor(s), {raw.class_name} has 2 states (h, c)",
                         "initial_state")
    loop = RecurrentLayerSpec(
        name=f"{name}/loop", class_name=raw.class_name, cells=(cell,), inputs=(Ref(frames.name),),
        return_sequences=return_sequences, return_state=return_state,
        go_backwards=flag(config, "go_backwards", False, name), stateful=stateful,
        unroll=flag(config, "unroll", False, name), zero_output_for_mask=zero_output,
        ignored=tuple(ignored), masked=masked, mask_source=explicit_mask,
        initial_state=tuple(Ref(f.name) for f in flats))
    outputs = tuple(Ref(loop.name, k) for k in range(loop.output_count))
    unflatten_class = ConvUnflattenSequenceSpec if return_sequences else ConvUnflattenSpec
    unflatten = unflatten_class(name, outputs, channels_first, filters, out_spatial, return_sequences,
                                raw.class_name)
    frame = unflatten.frame_shape()
    infos = [TensorFacts(frame[-1], len(frame) + 1 + int(k == 0 and return_sequences), False,
                        steps=info.steps if (k == 0 and return_sequences) else (frame[0] if len(frame) == 2
                                                                                  else None),
                        shape=((info.steps,) if (k == 0 and return_sequences) else ()) + frame)
             for k in range(len(outputs))]
    out_mask = masked or info.masked  # Keras passes the input's mask on even where the layer ignored it
    infos = [replace(i, masked=out_mask and k == 0 and return_sequences) for k, i in enumerate(infos)]
    frames_out = TensorFacts(cell.input_size, 3, info.masked, steps=info.steps)
    flats_out = [[TensorFacts(flat.out_shape[0], 2, False)] for flat in flats]
    loop_out = [TensorFacts(width, 3 if (k == 0 and return_sequences) else 2, out_mask and k == 0 and return_sequences,
                            steps=info.steps) for k, width in enumerate(loop.output_widths)]
    return [(frames, [frames_out]), *zip(flats, flats_out, strict=True), (loop, loop_out), (unflatten, infos)]


def check_conv_rnn_mask(name: str, class_name: str, keras_major: int | None, initial: bool, stateful: bool) -> None:
    """A (batch, time) mask on a ConvLSTM: Keras carries every state pixel at a masked step
    and repeats the previous output (zeros before any unmasked step; Keras 3 with
    ``zero_output_for_mask`` emits zeros). Refused where Keras's own backends disagree:
    before a row's first unmasked step, Keras 3's JAX loop outputs the carried state h and its
    TensorFlow loop outputs zeros, which differ once the state starts non-zero (``initial_state=``
    with ``mask=``, or a stateful layer's carried state). Keras 3's JAX backend masks a
    ConvLSTM only at batch 1 (its (batch, 1) step mask does not broadcast against the
    (batch, *spatial, filters) state); the TensorFlow backend and tf-keras tile it."""
    if keras_major != 2 and (initial or stateful):
        what = "initial_state=" if initial else "stateful=True"
        raise UnsupportedError(name, f"a mask with {what} on {class_name}: Keras 3's JAX and TensorFlow backends "
                               "differ on what the steps before a row's first unmasked one output (the carried "
                               "state or zeros), so the result depends on the backend the file was made with",
                               "mask")


def _initial_state_spec(layer: str, index: int, ref: Ref, info: TensorFacts, channels_first: bool,
                        frame: tuple[int, ...], class_name: str) -> ConvStateFlattenSpec:
    """One ``initial_state=`` tensor (batch, *frame) as the loop's flat channels-first state."""
    got = info.dims()  # a rank-3 tensor (ConvLSTM1D's states) tracks (steps, width) only
    if len(got) != len(frame) or any(g is not None and g != f for g, f in zip(got, frame, strict=True)) \
            or info.boolean or info.time_major:
        raise LayerError(layer, f"initial state {index} from '{ref.layer}' has shape {got}, {class_name} states are "
                         f"(batch, {', '.join(map(str, frame))})", "initial_state")
    return ConvStateFlattenSpec(f"{layer}/initial_state_{index}", (ref,), channels_first, (prod(frame),))


def _onnx_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (*k, in, out) -> ONNX Conv's (out, in, *k)."""
    rank = kernel.ndim - 2
    array = np.ascontiguousarray(np.transpose(kernel, (rank + 1, rank, *range(rank))))
    array.setflags(write=False)
    return array
