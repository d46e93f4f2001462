"""The project's IR: frozen, validated specs of recurrent cells, layers and models.

Specs hold everything the reference and the lowerings need and nothing format-specific:
weights are float32 arrays in Keras's own layout (gate order i,f,c,o for LSTM; z,r,h for
GRU), made read-only so no stage can change what another stage sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..custom import CustomCell
from .activations import ActivationSpec

if TYPE_CHECKING:  # spec.layers imports this module; the annotation is only read by type checkers
    from .layers import AnyLayerSpec


@dataclass(frozen=True, eq=False)
class SimpleRNNCellSpec:
    """``h = activation(x·kernel + h·recurrent_kernel + bias)``."""

    name: str
    units: int
    input_size: int
    activation: ActivationSpec
    use_bias: bool
    kernel: np.ndarray  # (input_size, units)
    recurrent_kernel: np.ndarray  # (units, units)
    bias: np.ndarray | None  # (units,)

    kind: ClassVar[str] = "SimpleRNNCell"
    gates: ClassVar[int] = 1
    state_names: ClassVar[tuple[str, ...]] = ("state_h",)


@dataclass(frozen=True, eq=False)
class GRUCellSpec:
    """Keras GRU step; ``reset_after`` applies the reset gate after the recurrent matmul."""

    name: str
    units: int
    input_size: int
    activation: ActivationSpec
    recurrent_activation: ActivationSpec
    use_bias: bool
    reset_after: bool
    kernel: np.ndarray  # (input_size, 3u), gates z, r, h
    recurrent_kernel: np.ndarray  # (units, 3u)
    bias: np.ndarray | None  # (2, 3u) when reset_after (input bias, recurrent bias), else (3u,)

    kind: ClassVar[str] = "GRUCell"
    gates: ClassVar[int] = 3
    state_names: ClassVar[tuple[str, ...]] = ("state_h",)


@dataclass(frozen=True, eq=False)
class LSTMCellSpec:
    """Keras LSTM step, gates i, f, c, o; ``unit_forget_bias`` only affects initialisation."""

    name: str
    units: int
    input_size: int
    activation: ActivationSpec
    recurrent_activation: ActivationSpec
    use_bias: bool
    kernel: np.ndarray  # (input_size, 4u)
    recurrent_kernel: np.ndarray  # (units, 4u)
    bias: np.ndarray | None  # (4u,)

    kind: ClassVar[str] = "LSTMCell"
    gates: ClassVar[int] = 4
    state_names: ClassVar[tuple[str, ...]] = ("state_h", "state_c")


@dataclass(frozen=True, eq=False)
class CustomCellSpec:
    """A user's cell class, converted by the :class:`~kerasrnn2onnx.custom.CustomCell`
    registered under its name. ``weights`` maps the converter's weight names to arrays."""

    name: str
    class_name: str
    converter: CustomCell
    config: dict
    input_size: int
    units: int  # the output width
    state_sizes: tuple[int, ...]
    weights: dict

    kind: ClassVar[str] = "CustomCell"

    @property
    def state_names(self) -> tuple[str, ...]:
        if len(self.state_sizes) == 1:
            return ("state_h",)
        return tuple(f"state_{k}" for k in range(len(self.state_sizes)))


BuiltinCellSpec = SimpleRNNCellSpec | GRUCellSpec | LSTMCellSpec
"""A cell Keras defines, lowered by its equations (or by the ONNX op of the same name)."""
CellSpec = BuiltinCellSpec | CustomCellSpec


@dataclass(frozen=True)
class InputSpec:
    """A model input: a ``sequence`` (batch, timesteps, features), ``tokens`` (batch,
    timesteps) of integer ids for an Embedding (``features`` is ``None``), a ``vector``
    (batch, features) such as an initial state or side features (``timesteps`` is ``None``),
    or a ``tensor`` of any other rank (images, video, token ids per step) whose non-batch
    dims are ``dims`` (``timesteps`` = dims[0], ``features`` = dims[-1]).
    ``None`` batch, timesteps or dims means dynamic."""

    name: str
    batch: int | None
    timesteps: int | None
    features: int | None
    dtype: str = "float32"
    kind: str = "sequence"
    dims: tuple[int | None, ...] = ()

    @property
    def rank(self) -> int:
        if self.kind == "tensor":
            return len(self.dims) + 1
        return 3 if self.kind == "sequence" else 2

    @property
    def shape(self) -> tuple[int | None, ...]:
        """(batch, ...) as the model fixes it (None: dynamic)."""
        if self.kind == "tensor":
            return (self.batch, *self.dims)
        return (self.batch, self.timesteps, self.features)[: self.rank]


@dataclass(frozen=True)
class TensorSpec:
    """A tensor flowing between layers: a model input (``layer`` is its name, index 0) or
    output ``index`` of a recurrent layer (0 = output, 1.. = returned states)."""

    layer: str
    index: int = 0


@dataclass(frozen=True, eq=False)
class RecurrentLayerSpec:
    """One Keras recurrent layer (SimpleRNN/GRU/LSTM or RNN over one or several cells).

    ``ignored`` lists the training-only arguments that were present and have no effect on
    inference (dropouts, initializers, regularizers, ``implementation`` ...), so ``inspect``
    can show that they were read, not missed.
    """

    name: str
    class_name: str
    cells: tuple[CellSpec, ...]
    source: TensorSpec
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    stateful: bool
    unroll: bool
    zero_output_for_mask: bool
    masked: bool = False
    mask_source: TensorSpec | None = None  # an explicit mask= tensor (else the input's own mask)
    constants: tuple[TensorSpec, ...] = ()
    initial_state: tuple[TensorSpec, ...] = ()  # tensors given as initial_state= (flat, cell by cell)
    ignored: tuple[str, ...] = field(default=())

    @property
    def units(self) -> int:
        return self.cells[-1].units

    @property
    def input_size(self) -> int:
        return self.cells[0].input_size

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the returned states, in Keras's order (cell by cell)."""
        if len(self.cells) == 1:
            return self.cells[0].state_names
        return tuple(f"{cell.name}/{state}" for cell in self.cells for state in cell.state_names)

    @property
    def state_widths(self) -> tuple[int, ...]:
        widths: list[int] = []
        for cell in self.cells:
            if isinstance(cell, CustomCellSpec):
                widths.extend(cell.state_sizes)
            else:
                widths.extend([cell.units] * len(cell.state_names))
        return tuple(widths)

    @property
    def output_count(self) -> int:
        return 1 + (len(self.state_names) if self.return_state else 0)

    def leading_masked_output_is_state(self, keras_major: int | None) -> bool:
        """Before a row's first unmasked step, Keras 3's non-unrolled loop outputs the last
        cell's first state (the *initial* state); Keras 2 and Keras 3 unrolled output zeros.
        Identical with zero initial states; differs once states are given or carried."""
        return keras_major == 3 and not self.unroll

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("",) + (self.state_names if self.return_state else ())

    @property
    def output_widths(self) -> tuple[int, ...]:
        return (self.units,) + (self.state_widths if self.return_state else ())

    def describe(self) -> str:
        cells = " -> ".join(_describe_cell(c) for c in self.cells)
        flags = [k for k in ("return_sequences", "return_state", "go_backwards", "unroll") if getattr(self, k)]
        return f"{self.class_name}[{cells}]" + (f" {{{', '.join(flags)}}}" if flags else "")


def _describe_cell(cell: CellSpec) -> str:
    if isinstance(cell, CustomCellSpec):
        return f"{cell.class_name}(units={cell.units}, custom converter '{cell.converter.keras_name}')"
    parts = [f"units={cell.units}", f"activation={cell.activation.describe()}"]
    if isinstance(cell, (GRUCellSpec, LSTMCellSpec)):
        parts.append(f"recurrent_activation={cell.recurrent_activation.describe()}")
    if isinstance(cell, GRUCellSpec):
        parts.append(f"reset_after={cell.reset_after}")
    if not cell.use_bias:
        parts.append("use_bias=False")
    return f"{cell.kind}({', '.join(parts)})"


@dataclass(frozen=True, eq=False)
class MaskingSpec:
    """Keras ``Masking``: a step is masked when *all* its features equal ``mask_value``;
    the layer outputs its input times the mask (masked steps become zeros)."""

    name: str
    source: TensorSpec
    mask_value: float

    def describe(self) -> str:
        return f"Masking(mask_value={self.mask_value:g})"


@dataclass(frozen=True, eq=False)
class EmbeddingSpec:
    """Keras ``Embedding``: token ids -> rows of ``embeddings``; with ``mask_zero`` token 0
    masks its step."""

    name: str
    source: TensorSpec
    input_dim: int
    output_dim: int
    mask_zero: bool
    embeddings: np.ndarray  # (input_dim, output_dim)

    def describe(self) -> str:
        return f"Embedding({self.input_dim}, {self.output_dim}, mask_zero={self.mask_zero})"


@dataclass(frozen=True, eq=False)
class MaskOpSpec:
    """A boolean op that Keras 3 records in functional graphs to compute a mask explicitly
    (``NotEqual(x, 0.0) -> Any(axis=-1)`` for Masking, ``NotEqual(ids, 0)`` for Embedding),
    then passes as the recurrent layer's ``mask=`` argument.

    ``op`` is ``not_equal`` / ``equal`` (against ``value``), ``any`` / ``all`` (over the last
    axis), ``logical_not`` or ``identity`` (``ConvertToTensor`` of a boolean mask)."""

    name: str
    op: str
    source: TensorSpec
    value: float | None = None

    def describe(self) -> str:
        return f"mask op {self.op}" + (f"(value={self.value:g})" if self.value is not None else "")


@dataclass(frozen=True, eq=False)
class BidirectionalSpec:
    """Keras ``Bidirectional``: a forward and a backward recurrent layer over the same input.

    The backward half runs with ``go_backwards``; with ``return_sequences`` its output is
    flipped back to input order before the merge (``concat``, ``sum``, ``mul``, ``ave``, or
    ``None`` for two outputs). Outputs: the merged output (or forward then backward), then
    the forward layer's states, then the backward layer's.
    """

    name: str
    source: TensorSpec
    forward: RecurrentLayerSpec
    backward: RecurrentLayerSpec
    merge_mode: str | None

    @property
    def return_sequences(self) -> bool:
        return self.forward.return_sequences

    @property
    def return_state(self) -> bool:
        return self.forward.return_state

    @property
    def masked(self) -> bool:
        return self.forward.masked

    @property
    def mask_source(self) -> TensorSpec | None:
        return self.forward.mask_source

    @property
    def units(self) -> int:
        if self.merge_mode == "concat":
            return self.forward.units + self.backward.units
        return self.forward.units

    @property
    def output_names(self) -> tuple[str, ...]:
        """Suffixes of the outputs after the first (``""`` is the layer's own name)."""
        halves = ("",) if self.merge_mode is not None else ("", "backward")
        states: tuple[str, ...] = ()
        if self.return_state:
            states = tuple(f"forward/{n}" for n in self.forward.state_names) + tuple(
                f"backward/{n}" for n in self.backward.state_names)
        return halves + states

    @property
    def output_widths(self) -> tuple[int, ...]:
        heads = (self.units,) if self.merge_mode is not None else (self.forward.units, self.backward.units)
        states = (self.forward.state_widths + self.backward.state_widths) if self.return_state else ()
        return heads + states

    @property
    def output_count(self) -> int:
        return len(self.output_names)

    def describe(self) -> str:
        return (f"Bidirectional(merge_mode={self.merge_mode}) forward {self.forward.describe()}; "
                f"backward {self.backward.describe()}")


LayerSpec = RecurrentLayerSpec | MaskingSpec | EmbeddingSpec | MaskOpSpec | BidirectionalSpec


@dataclass(frozen=True)
class OutputSpec:
    """A model output: which layer tensor it is, the name it gets in ONNX, its last-axis
    width (``None`` where the parser does not know it) and rank (3: (batch, time, width),
    2: (batch, width))."""

    name: str
    tensor: TensorSpec
    width: int | None = 0
    rank: int = 2
    dims: tuple[int | None, ...] = ()  # every non-batch dim, for outputs of rank 4 and more


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A whole convertible model: inputs, recurrent layers in order, outputs."""

    name: str
    source: str
    format: str
    keras_version: str | None
    keras_major: int | None
    inputs: tuple[InputSpec, ...]
    layers: tuple[AnyLayerSpec, ...]
    outputs: tuple[OutputSpec, ...]

    def time_dims(self) -> dict[str, int | str | None]:
        """Each input's time dimension: its fixed size, ``"time"``, or ``"<input>_time"``
        when several inputs have independent lengths (an encoder's and a decoder's)."""
        timed = [i for i in self.inputs if i.kind != "vector" and i.timesteps is None]
        dims: dict[str, int | str | None] = {}
        for inp in self.inputs:
            if inp.kind == "vector":
                dims[inp.name] = None
            elif inp.timesteps is not None:
                dims[inp.name] = inp.timesteps
            else:
                dims[inp.name] = "time" if len(timed) <= 1 else f"{inp.name}_time"
        return dims

    @property
    def recurrent_layers(self) -> tuple[RecurrentLayerSpec, ...]:
        """Every recurrent layer, the halves of Bidirectional wrappers included."""
        result: list[RecurrentLayerSpec] = []
        for layer in self.layers:
            if isinstance(layer, RecurrentLayerSpec):
                result.append(layer)
            elif isinstance(layer, BidirectionalSpec):
                result += [layer.forward, layer.backward]
        return tuple(result)

    def layer(self, name: str) -> AnyLayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
