"""The project's IR: frozen, validated specs of recurrent cells, layers and models.

Specs hold everything the reference and the lowerings need and nothing format-specific:
weights are float32 arrays in Keras's own layout (gate order i,f,c,o for LSTM; z,r,h for
GRU), made read-only so no stage can change what another stage sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .cells import CellSpec
from .node import Node, Ref

if TYPE_CHECKING:  # spec.layers imports this module; the annotation is only read by type checkers
    from .checks import TensorFacts
    from .layers import AnyLayerSpec


@dataclass(frozen=True)
class ModelInput:
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

    def facts(self, time: int | str | None = None) -> TensorFacts:
        """This input's facts; ``time`` is its graph time dim (:func:`time_dims`)."""
        from .checks import TensorFacts

        return TensorFacts(self.features, self.rank, False, boolean=self.dtype == "bool", steps=self.timesteps,
                           shape=self.dims or None, batch=self.batch, time=time)

    @property
    def shape(self) -> tuple[int | None, ...]:
        """(batch, ...) as the model fixes it (None: dynamic)."""
        if self.kind == "tensor":
            return (self.batch, *self.dims)
        return (self.batch, self.timesteps, self.features)[: self.rank]


@dataclass(frozen=True, eq=False)
class RecurrentLayerSpec(Node):
    """One Keras recurrent layer (SimpleRNN/GRU/LSTM or RNN over one or several cells).

    ``ignored`` lists the training-only arguments that were present and have no effect on
    inference (dropouts, initializers, regularizers, ``implementation`` ...), so ``inspect``
    can show that they were read, not missed.
    """

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    cells: tuple[CellSpec, ...]
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    stateful: bool
    unroll: bool
    zero_output_for_mask: bool
    masked: bool = False
    mask_source: Ref | None = None  # an explicit mask= tensor (else the input's own mask)
    constants: tuple[Ref, ...] = ()
    initial_state: tuple[Ref, ...] = ()  # tensors given as initial_state= (flat, cell by cell)
    ignored: tuple[str, ...] = field(default=())

    @property
    def units(self) -> int:
        return self.cells[-1].units

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        return time if rank == 3 else None  # sequences keep the input's time, states have none

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
        return tuple(width for cell in self.cells for width in cell.state_widths)

    @property
    def output_count(self) -> int:
        return 1 + (len(self.state_names) if self.return_state else 0)

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("",) + (self.state_names if self.return_state else ())

    @property
    def output_widths(self) -> tuple[int, ...]:
        return (self.units,) + (self.state_widths if self.return_state else ())

    def describe(self) -> str:
        cells = " -> ".join(c.describe() for c in self.cells)
        flags = [k for k in ("return_sequences", "return_state", "go_backwards", "unroll") if getattr(self, k)]
        return f"{self.class_name}[{cells}]" + (f" {{{', '.join(flags)}}}" if flags else "")


@dataclass(frozen=True, eq=False)
class MaskingSpec(Node):
    """Keras ``Masking``: a step is masked when *all* its features equal ``mask_value``;
    the layer outputs its input times the mask (masked steps become zeros)."""

    name: str
    inputs: tuple[Ref, ...]
    mask_value: float

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        return time

    def describe(self) -> str:
        return f"Masking(mask_value={self.mask_value:g})"


@dataclass(frozen=True, eq=False)
class EmbeddingSpec(Node):
    """Keras ``Embedding``: token ids -> rows of ``embeddings``; with ``mask_zero`` token 0
    masks its step."""

    name: str
    inputs: tuple[Ref, ...]
    input_dim: int
    output_dim: int
    mask_zero: bool
    embeddings: np.ndarray  # (input_dim, output_dim)

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        return time  # the ids' time axis, (batch, time) -> (batch, time, features)

    def describe(self) -> str:
        return f"Embedding({self.input_dim}, {self.output_dim}, mask_zero={self.mask_zero})"


@dataclass(frozen=True, eq=False)
class MaskOpSpec(Node):
    """A boolean op that Keras 3 records in functional graphs to compute a mask explicitly,
    then passes as a recurrent layer's ``mask=`` argument: ``NotEqual(x, 0.0) -> Any(axis=-1)``
    for Masking, ``NotEqual(ids, 0)`` for Embedding, ``LogicalOr`` of the inputs' masks for
    the elementwise merges, and for Concatenate each input's mask widened to its features
    (``LogicalOr(ExpandDims(m, -1), ZerosLike(x, bool))``, ``OnesLike(x, bool)`` for an
    unmasked input), concatenated and reduced with ``Any(axis=-1)`` (spec/mask_ops.py).

    ``op`` is ``not_equal`` / ``equal`` (against ``value``), ``any`` / ``all`` (over the last
    axis), ``logical_not``, ``logical_or`` / ``logical_and`` (two inputs, broadcast over a
    width of 1), ``expand_dims`` (a new last axis), ``zeros_like`` / ``ones_like`` (a boolean
    tensor of the input's shape), ``concatenate`` (along Keras axis ``axis``, counted from 0
    with the batch) or ``identity`` (``ConvertToTensor`` of a boolean mask)."""

    name: str
    inputs: tuple[Ref, ...]
    op: str
    value: float | None = None
    axis: int | None = None  # concatenate: the Keras axis (1: time, 2: features of a rank-3 tensor)

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        """A mask keeps the time of the tensor it is computed from (rank 2 or 3 alike), except
        a concatenation along time, which makes a time dim of its own (the sum of fixed
        lengths, else a new dynamic one)."""
        if self.joins_time:
            return self.out[index].steps if self.out else None
        return time

    @property
    def joins_time(self) -> bool:
        return self.op == "concatenate" and self.axis == 1

    def describe(self) -> str:
        args = [f"value={self.value:g}"] if self.value is not None else []
        args += [f"axis={self.axis}"] if self.axis is not None else []
        return f"mask op {self.op}" + (f"({', '.join(args)})" if args else "")


@dataclass(frozen=True, eq=False)
class BidirectionalSpec(Node):
    """Keras ``Bidirectional``: a forward and a backward recurrent layer over the same input.

    The backward half runs with ``go_backwards``; with ``return_sequences`` its output is
    flipped back to input order before the merge (``concat``, ``sum``, ``mul``, ``ave``, or
    ``None`` for two outputs). Outputs: the merged output (or forward then backward), then
    the forward layer's states, then the backward layer's.
    """

    name: str
    inputs: tuple[Ref, ...]
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
    def mask_source(self) -> Ref | None:
        return self.forward.mask_source

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        return time if rank == 3 else None  # sequences keep the input's time, states have none

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
    """A model output: which layer tensor it is and the name it gets in ONNX (its shape is
    in that tensor's facts, :meth:`ModelSpec.facts`)."""

    name: str
    tensor: Ref


def time_dims(inputs: tuple[ModelInput, ...]) -> dict[str, int | str | None]:
    """Each input's time dimension: its fixed size, ``"time"``, or ``"<input>_time"``
    when several inputs have independent lengths (an encoder's and a decoder's)."""
    timed = [i for i in inputs if i.kind != "vector" and i.timesteps is None]
    dims: dict[str, int | str | None] = {}
    for inp in inputs:
        if inp.kind == "vector":
            dims[inp.name] = None
        elif inp.timesteps is not None:
            dims[inp.name] = inp.timesteps
        else:
            dims[inp.name] = "time" if len(timed) <= 1 else f"{inp.name}_time"
    return dims


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A whole convertible model: inputs, recurrent layers in order, outputs."""

    name: str
    source: str
    format: str
    keras_version: str | None
    keras_major: int | None
    inputs: tuple[ModelInput, ...]
    layers: tuple[AnyLayerSpec, ...]
    outputs: tuple[OutputSpec, ...]
    _facts: dict[Ref, TensorFacts] = field(init=False, repr=False, compare=False)

    def time_dims(self) -> dict[str, int | str | None]:
        """Each input's time dimension (see :func:`time_dims`)."""
        return time_dims(self.inputs)

    def facts(self, ref: Ref) -> TensorFacts:
        """What is established about the tensor ``ref`` names (see :meth:`__post_init__`)."""
        return self._facts[ref]

    def __post_init__(self) -> None:
        """Complete every node's facts, once, as this spec is made: the batch and the graph
        time dim follow the data from the model inputs through each node's first input
        (``Node.output_time``); the rest is what the parser recorded in ``out``. Done here
        rather than in the parser so that a spec made from another (``replace(spec,
        inputs=...)``: an input given a fixed length) has facts that agree with it."""
        names = time_dims(self.inputs)
        table: dict[Ref, TensorFacts] = {Ref(i.name): i.facts(names[i.name]) for i in self.inputs}
        layers = []
        for layer in self.layers:
            first = table.get(layer.inputs[0])
            outs = []
            for index, facts in enumerate(layer.out):
                if first is not None:
                    batch, folded = layer.output_batch(first.batch, first.folded)
                    facts = replace(facts, batch=batch, folded=folded,
                                    time=layer.output_time(index, first.time, facts.rank))
                table[Ref(layer.name, index)] = facts
                outs.append(facts)
            layers.append(replace(layer, out=tuple(outs)))
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "_facts", table)

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


TensorSpec = Ref
"""The old name of :class:`Ref` (it collided with TensorFlow's ``TensorSpec``)."""
InputSpec = ModelInput
"""The old name of :class:`ModelInput` (it collided with Keras's ``InputSpec``)."""
