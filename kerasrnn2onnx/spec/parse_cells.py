"""Cell configs -> cell specs: one parser per Keras cell class, in ``CELL_PARSERS``.

What every built-in cell reads the same way (its keys, ``units``, the dropout rates, the
version-dependent defaults, ``activation``, ``use_bias``, the two kernels) is read once by
:func:`parse_cell`; each registered :class:`CellParser` adds what only its cell has (GRU's
``reset_after`` and two-row bias, LSTM's bias, CuDNN's stored layouts). A users' cell class
goes through its registered :class:`~kerasrnn2onnx.custom.CustomCell` instead
(:func:`parse_custom_cell`): nothing a file names is ever imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..custom import find_cell
from ..errors import LayerError, UnsupportedError
from ..io.handles import WeightHandle
from ..io.raw import RawLayer, RawModel
from ..registry import Registry
from .activations import ActivationSpec
from .cells import CellSpec, CustomCellSpec, GRUCellSpec, LSTMCellSpec, SimpleRNNCellSpec
from .checks import (
    BASE_KEYS,
    TRAINING_ONLY,
    WeightFeed,
    as_object,
    check_declared,
    check_dtype,
    check_keys,
    check_weight,
    flag,
    read_activation,
    read_weight,
)

# Keras 2's CuDNN layers: fixed sigmoid/tanh, GRU in reset_after form, separate input and
# recurrent biases (8u for LSTM, 6u for GRU) which the cells' own bias layout absorbs.
CUDNN_FIXED = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True, "reset_after": True}
LAYER_TO_CELL = {"SimpleRNN": "SimpleRNNCell", "GRU": "GRUCell", "LSTM": "LSTMCell",
                 "CuDNNLSTM": "LSTMCell", "CuDNNGRU": "GRUCell"}
"""The Keras layers that are one built-in cell (their config is the cell's)."""


@dataclass(frozen=True)
class CellRead:
    """What :func:`parse_cell` has read of a built-in cell before its own parser runs."""

    layer: str
    name: str
    units: int
    input_size: int
    config: Mapping[str, Any]
    model: RawModel
    feed: WeightFeed
    weights: Iterator[WeightHandle]
    cudnn: bool
    defaults: Mapping[str, Any]
    activation: ActivationSpec
    use_bias: bool
    kernel: np.ndarray
    recurrent: np.ndarray

    def recurrent_activation(self) -> ActivationSpec:
        return read_activation(self.config, "recurrent_activation", self.defaults["recurrent_activation"],
                               self.model.keras_major, self.layer)

    def bias(self, shape: tuple[int, ...]) -> np.ndarray:
        return read_weight(self.feed, self.weights, self.layer, self.name, "bias", shape)

    def take_bias(self) -> WeightHandle:
        return self.feed.take(self.weights, self.layer, f"bias of cell '{self.name}'")

    def check_bias(self, handle: WeightHandle, shape: tuple[int, ...]) -> np.ndarray:
        return check_weight(self.feed, handle, self.layer, self.name, "bias", shape)


@dataclass(frozen=True)
class CellParser:
    """One Keras cell class: its config keys beyond the base ones, its number of gate
    blocks, the defaults its Keras versions give (``old``: Keras <= 2.2; ``known``: the
    writing version is known), and the function that finishes its spec."""

    keys: frozenset[str]
    gates: int
    defaults: Callable[[bool, bool], dict[str, Any]]
    finish: Callable[[CellRead], CellSpec]


CELL_PARSERS: Registry[str, CellParser] = Registry("cell parser")
"""Keras cell class name -> its parser."""


def _recurrent_activation_default(old: bool, known: bool) -> Any:
    """Keras <= 2.2 defaulted ``recurrent_activation`` to hard_sigmoid; Keras 2.3+, tf.keras
    2.x and Keras 3 use sigmoid (``None``: unknown, the config must say)."""
    return "hard_sigmoid" if old else ("sigmoid" if known else None)


def _simple_rnn(read: CellRead) -> SimpleRNNCellSpec:
    bias = read.bias((read.units,)) if read.use_bias else None
    return SimpleRNNCellSpec(name=read.name, units=read.units, input_size=read.input_size,
                             activation=read.activation, use_bias=read.use_bias, kernel=read.kernel,
                             recurrent_kernel=read.recurrent, bias=bias)


def _gru(read: CellRead) -> GRUCellSpec:
    units, kernel, recurrent = read.units, read.kernel, read.recurrent
    recurrent_activation = read.recurrent_activation()
    reset_after = flag(read.config, "reset_after", bool(read.defaults["reset_after"]), read.layer)
    bias: np.ndarray | None
    if read.cudnn:  # [input bias, recurrent bias] stored flat
        bias = read.bias((6 * units,)).reshape(2, 3 * units)
    elif read.use_bias:
        taken = read.take_bias()
        if reset_after and read.feed.converts_cudnn_layout and taken.shape == (6 * units,):
            # CuDNNGRU weights in a GRU(reset_after=True): Keras 2's loader converts them
            kernel, recurrent = from_cudnn_layout(kernel, recurrent, 3)
            bias = read.check_bias(taken, (6 * units,)).reshape(2, 3 * units)
        else:
            bias = read.check_bias(taken, (2, 3 * units) if reset_after else (3 * units,))
    else:
        bias = None
    return GRUCellSpec(name=read.name, units=units, input_size=read.input_size, activation=read.activation,
                       recurrent_activation=recurrent_activation, use_bias=read.use_bias, reset_after=reset_after,
                       kernel=kernel, recurrent_kernel=recurrent, bias=bias)


def _summed_biases(pair: np.ndarray, units: int) -> np.ndarray:
    """An input bias and a recurrent bias added to the same pre-activation: one bias."""
    bias = np.ascontiguousarray(pair[: 4 * units] + pair[4 * units :])
    bias.setflags(write=False)
    return bias


def _lstm(read: CellRead) -> LSTMCellSpec:
    units, kernel, recurrent = read.units, read.kernel, read.recurrent
    recurrent_activation = read.recurrent_activation()
    bias: np.ndarray | None
    if read.cudnn:
        bias = _summed_biases(read.bias((8 * units,)), units)
    elif read.use_bias:
        taken = read.take_bias()
        if read.feed.converts_cudnn_layout and taken.shape == (8 * units,):
            # CuDNNLSTM weights in an LSTM (a model trained on a GPU, run on a CPU): Keras 2's
            # loader undoes the cuDNN kernel layout and sums the input and recurrent biases
            kernel, recurrent = from_cudnn_layout(kernel, recurrent, 4)
            bias = _summed_biases(read.check_bias(taken, (8 * units,)), units)
        else:
            bias = read.check_bias(taken, (4 * units,))
    else:
        bias = None
    return LSTMCellSpec(name=read.name, units=units, input_size=read.input_size, activation=read.activation,
                        recurrent_activation=recurrent_activation, use_bias=read.use_bias, kernel=kernel,
                        recurrent_kernel=recurrent, bias=bias)


CELL_PARSERS.add("SimpleRNNCell", CellParser(frozenset({"units", "activation", "use_bias"}), 1,
                                             lambda old, known: {}, _simple_rnn))
CELL_PARSERS.add("GRUCell", CellParser(
    frozenset({"units", "activation", "recurrent_activation", "use_bias", "reset_after"}), 3,
    # Keras <= 2.2 defaulted reset_after to False, later versions to True
    lambda old, known: {"recurrent_activation": _recurrent_activation_default(old, known),
                        "reset_after": False if old else (True if known else None)},
    _gru))
CELL_PARSERS.add("LSTMCell", CellParser(
    frozenset({"units", "activation", "recurrent_activation", "use_bias"}), 4,
    lambda old, known: {"recurrent_activation": _recurrent_activation_default(old, known)}, _lstm))


def _is_pre_23(model: RawModel) -> bool:
    """Written by Keras 2.0-2.2 (the RawModel's version, checked against its major by io)."""
    if model.keras_version is None or model.keras_major != 2:
        return False
    parts = model.keras_version.split(".")
    try:
        return int(parts[1]) < 3
    except (IndexError, ValueError):
        return False


def parse_cell(kind: str, config: Mapping[str, Any], input_size: int, layer: str, model: RawModel,
               feed: WeightFeed, weights: Iterator[WeightHandle], extra_keys: frozenset[str],
               cudnn: bool = False) -> tuple[CellSpec, list[str]]:
    """A built-in cell of class ``kind`` and the training-only arguments it sets."""
    parser = CELL_PARSERS[kind]
    ignored = check_keys(config, parser.keys | TRAINING_ONLY | BASE_KEYS | extra_keys, layer)
    if cudnn:
        config = {**config, **{k: v for k, v in CUDNN_FIXED.items() if k in parser.keys}}
    check_dtype(config, layer)
    name = str(config.get("name", kind.lower()))
    units = config.get("units")
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise LayerError(layer, f"units must be a positive integer, got {units!r}", "units")
    for key in ("dropout", "recurrent_dropout"):
        rate = config.get(key, 0.0)
        if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise LayerError(layer, f"must be a rate in [0, 1], got {rate!r}", key)
    defaults = {"activation": "tanh", "use_bias": True,
                **parser.defaults(_is_pre_23(model), model.keras_major is not None)}
    for key, value in defaults.items():
        if key not in config and value is None:
            raise LayerError(
                layer,
                f"'{key}' is absent and its default differs between Keras versions: pass --keras-version 2 or 3",
                key,
            )
    activation = read_activation(config, "activation", defaults["activation"], model.keras_major, layer)
    use_bias = flag(config, "use_bias", True, layer)
    kernel = read_weight(feed, weights, layer, name, "kernel", (input_size, parser.gates * units))
    recurrent = read_weight(feed, weights, layer, name, "recurrent_kernel", (units, parser.gates * units))
    if cudnn:
        kernel, recurrent = from_cudnn_layout(kernel, recurrent, parser.gates)
    read = CellRead(layer, name, units, input_size, config, model, feed, weights, cudnn, defaults, activation,
                    use_bias, kernel, recurrent)
    return parser.finish(read), ignored


def from_cudnn_layout(kernel: np.ndarray, recurrent: np.ndarray, gates: int) -> tuple[np.ndarray, np.ndarray]:
    """Keras 2 CuDNN layers store each gate's input kernel in Fortran order of its transpose
    and each recurrent kernel transposed; undo both, gate by gate (as Keras's own loader does)."""
    kernels = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, gates)])
    recurrents = np.hstack([k.T for k in np.hsplit(recurrent, gates)])
    results = []
    for array in (kernels, recurrents):
        array = np.ascontiguousarray(array, dtype=np.float32)
        array.setflags(write=False)
        results.append(array)
    return results[0], results[1]


def cell_configs(raw: RawLayer) -> list[tuple[str, Mapping[str, Any], str | None]]:
    """``(cell_class, cell_config, registered_name)`` for each cell of a layer, in stacking order."""
    if raw.class_name in LAYER_TO_CELL:
        return [(LAYER_TO_CELL[raw.class_name], raw.config, None)]
    cell = raw.config.get("cell")
    if not isinstance(cell, Mapping):
        raise LayerError(raw.name, "RNN layer has no cell config", "cell")
    entries = (as_object(cell.get("config"), raw.name, "cell").get("cells")
               if cell.get("class_name") == "StackedRNNCells" else [cell])
    if entries is not None and not isinstance(entries, list):
        raise LayerError(raw.name, "the stacked cells must be a list", "cell")
    result = []
    for entry in entries or []:
        cls = entry.get("class_name") if isinstance(entry, Mapping) else None
        registered = entry.get("registered_name") if isinstance(entry, Mapping) else None
        if cls not in CELL_PARSERS and find_cell(str(cls), registered) is None:
            shown = registered or cls
            raise UnsupportedError(
                raw.name,
                f"cell class {shown!r} has no registered converter: nothing named in a model file is imported; "
                f"register one with kerasrnn2onnx.register_cell(CustomCell(keras_name={shown!r}, ...)) "
                "(docs/custom-cells.md)",
                "cell",
            )
        result.append((str(cls), as_object(entry.get("config"), raw.name, "cell"), registered))
    if not result:
        raise LayerError(raw.name, "RNN layer has an empty cell list", "cell")
    return result


def parse_custom_cell(class_name: str, registered: str | None, config: Mapping[str, Any], input_size: int,
                      layer: str, feed: WeightFeed, weights: Iterator[WeightHandle]) -> CustomCellSpec:
    """A user's cell, through its registered converter (never by importing anything)."""
    converter = find_cell(class_name, registered)
    assert converter is not None  # cell_configs checked
    name = str(config.get("name", class_name))
    arrays = {}
    for weight_name in converter.weights:  # a registered cell declares names, not shapes: dtype checked first
        handle = feed.take(weights, layer, f"{weight_name} of cell '{name}'")
        check_declared(feed, handle, layer, f"weight '{weight_name}' of cell '{name}'", None)
        frozen = np.ascontiguousarray(handle.read(), dtype=np.float32)
        frozen.setflags(write=False)
        arrays[weight_name] = frozen
    try:
        state_sizes = tuple(int(v) for v in converter.state_sizes(dict(config)))
        units = int(converter.output_size(dict(config))) if converter.output_size else state_sizes[0]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise LayerError(layer, f"converter for '{converter.keras_name}' cannot read the cell config ({exc})") from None
    return CustomCellSpec(name, registered or class_name, converter, dict(config), input_size, units, state_sizes,
                          arrays)
