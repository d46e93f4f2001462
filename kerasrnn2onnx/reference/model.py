"""Run a whole :class:`ModelSpec` in NumPy: the oracle ``verify`` compares against.

Masks flow as Keras propagates them: Masking and Embedding(mask_zero) create one, a
recurrent layer consumes it and passes it on only with ``return_sequences``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import RuntimeInputError
from ..inputs import check_inputs
from ..registry import Registry
from ..spec.folds import FoldSpec, UnfoldSpec
from ..spec.layers import FEED_FORWARD, FeedForwardSpec
from ..spec.masks import applied_mask, passed_mask
from ..spec.types import (
    BidirectionalSpec,
    EmbeddingSpec,
    MaskingSpec,
    MaskOpSpec,
    ModelSpec,
    RecurrentLayerSpec,
    Ref,
)
from .layers import run_feed_forward
from .loop import run_layer
from .wrappers import FOLD_RUNNERS


def _arrays(spec: ModelSpec, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    if isinstance(inputs, Mapping):
        missing = [i.name for i in spec.inputs if i.name not in inputs]
        if missing:
            raise RuntimeInputError(f"missing input(s): {', '.join(missing)}")
        return [np.asarray(inputs[i.name]) for i in spec.inputs]
    arrays = [np.asarray(a) for a in inputs]
    if len(arrays) != len(spec.inputs):
        raise RuntimeInputError(f"expected {len(spec.inputs)} input(s), got {len(arrays)}")
    return arrays


def _merge_bidirectional(
    layer: BidirectionalSpec, forward: list[np.ndarray], backward: list[np.ndarray]
) -> list[np.ndarray]:
    """Keras's Bidirectional outputs from the two halves' outputs."""
    y, y_rev = forward[0], backward[0]
    if layer.return_sequences:
        y_rev = y_rev[:, ::-1]  # the backward half returns processing order
    merged = {
        "concat": lambda: [np.concatenate([y, y_rev], axis=-1)],
        "sum": lambda: [y + y_rev],
        "ave": lambda: [(y + y_rev) / 2],
        "mul": lambda: [y * y_rev],
        None: lambda: [y, y_rev],
    }[layer.merge_mode]()
    return merged + (forward[1:] + backward[1:] if layer.return_state else [])


MASK_OPS: dict[str, Callable[[MaskOpSpec, list[np.ndarray]], np.ndarray]] = {
    "not_equal": lambda layer, xs: xs[0] != np.asarray(layer.value, dtype=xs[0].dtype),
    "equal": lambda layer, xs: xs[0] == np.asarray(layer.value, dtype=xs[0].dtype),
    "any": lambda layer, xs: np.any(xs[0], axis=-1),
    "all": lambda layer, xs: np.all(xs[0], axis=-1),
    "identity": lambda layer, xs: xs[0],
    "logical_not": lambda layer, xs: np.logical_not(xs[0]),
    "logical_or": lambda layer, xs: np.logical_or(xs[0], xs[1]),  # NumPy broadcasting is Keras's: (b, t, 1)
    "logical_and": lambda layer, xs: np.logical_and(xs[0], xs[1]),  # with (b, t, width)
    "expand_dims": lambda layer, xs: xs[0][..., None],
    "zeros_like": lambda layer, xs: np.zeros(xs[0].shape, dtype=bool),
    "ones_like": lambda layer, xs: np.ones(xs[0].shape, dtype=bool),
    "concatenate": lambda layer, xs: np.concatenate(xs, axis=layer.axis),
}
"""Each mask op (spec/mask_ops.py) on Keras-layout (batch-major) arrays."""


def run_model(
    spec: ModelSpec, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray], dtype: type = np.float64,
    checked: bool = False,
) -> list[np.ndarray]:
    """Model outputs, in ``spec.outputs`` order, computed in ``dtype`` (float32 or float64)."""
    return run_model_with_states(spec, inputs, dtype, checked=checked)[0]


@dataclass
class _Run:
    """What running one layer reads and writes: every Keras tensor computed so far, its mask,
    and the recurrent layers' final states."""

    spec: ModelSpec
    dtype: type
    initial_states: Mapping[str, Sequence[np.ndarray]]
    tensors: dict[Ref, np.ndarray] = field(default_factory=dict)
    masks: dict[Ref, np.ndarray | None] = field(default_factory=dict)
    final_states: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def put(self, layer: str, value: np.ndarray, mask: np.ndarray | None, index: int = 0) -> None:
        self.tensors[Ref(layer, index)] = value
        self.masks[Ref(layer, index)] = mask


LayerRunner = Callable[[_Run, Any], None]
LAYER_RUNNERS: Registry[type, LayerRunner] = Registry("reference layer runner")
"""How the reference runs each kind of layer spec (feed-forward kinds: ``reference/layers.py``)."""


def run_model_with_states(
    spec: ModelSpec,
    inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray],
    dtype: type = np.float64,
    initial_states: Mapping[str, Sequence[np.ndarray]] | None = None,
    checked: bool = False,
) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Outputs and every recurrent layer's final states (by layer name, flat, cell by cell),
    starting from ``initial_states`` where given (zeros elsewhere): one streaming step.
    ``checked``: the caller has checked the input shapes (``verify`` does, once)."""
    run = _Run(spec, dtype, initial_states or {})
    arrays = _arrays(spec, inputs)
    if not checked:
        check_inputs(spec, arrays, any_batch_and_time=True)
    for input_spec, array in zip(spec.inputs, arrays, strict=True):
        run.put(input_spec.name, array if input_spec.dtype != "float32" else array.astype(dtype), None)
    for layer in spec.layers:
        LAYER_RUNNERS[type(layer)](run, layer)
    return [run.tensors[out.tensor] for out in spec.outputs], run.final_states


def _feed_forward(run: _Run, layer: FeedForwardSpec) -> None:
    sources = layer.inputs
    value, mask = run_feed_forward(layer, [run.tensors[s] for s in sources], [run.masks[s] for s in sources])
    values = value if isinstance(value, tuple) else (value,)  # attention scores: a second output
    for index, item in enumerate(values):
        if item.dtype.kind == "f" and item.dtype != run.dtype:  # e.g. an Embedding of integer ids
            item = item.astype(run.dtype)
        run.put(layer.name, item, mask if index == 0 else None, index)


for _kind in FEED_FORWARD:
    LAYER_RUNNERS.add(_kind, _feed_forward)


@LAYER_RUNNERS.register(FoldSpec, UnfoldSpec)
def _fold(run: _Run, layer: FoldSpec | UnfoldSpec) -> None:
    value, mask = FOLD_RUNNERS[type(layer)](layer, [run.tensors[s] for s in layer.inputs],
                                            [run.masks[s] for s in layer.inputs])
    run.put(layer.name, value, mask)


@LAYER_RUNNERS.register(MaskingSpec)
def _masking(run: _Run, layer: MaskingSpec) -> None:
    x = run.tensors[layer.inputs[0]]
    keep = np.any(x != np.asarray(layer.mask_value, dtype=x.dtype), axis=-1)
    run.put(layer.name, x * keep[..., None].astype(x.dtype), keep)


@LAYER_RUNNERS.register(EmbeddingSpec)
def _embedding(run: _Run, layer: EmbeddingSpec) -> None:
    ids = np.asarray(run.tensors[layer.inputs[0]]).astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= layer.input_dim):
        raise RuntimeInputError(f"layer '{layer.name}': token ids must be in [0, {layer.input_dim})")
    # Keras casts float ids to int32 (truncation toward zero) for the lookup, while mask_zero
    # compares the ids as given: 0.4 reads row 0 but is not masked
    mask = np.asarray(run.tensors[layer.inputs[0]]) != 0 if layer.mask_zero else None
    run.put(layer.name, layer.embeddings.astype(run.dtype)[ids], mask)


@LAYER_RUNNERS.register(MaskOpSpec)
def _mask_op_layer(run: _Run, layer: MaskOpSpec) -> None:
    run.put(layer.name, MASK_OPS[layer.op](layer, [run.tensors[s] for s in layer.inputs]), None)


def _layer_mask(run: _Run, layer: RecurrentLayerSpec | BidirectionalSpec) -> np.ndarray | None:
    """The mask a recurrent layer applies (spec/masks.py)."""
    return applied_mask(layer, run.masks[layer.inputs[0]], _explicit_mask(run, layer))


def _explicit_mask(run: _Run, layer: RecurrentLayerSpec | BidirectionalSpec) -> np.ndarray | None:
    return run.tensors[layer.mask_source] if layer.mask_source is not None else None


@LAYER_RUNNERS.register(BidirectionalSpec)
def _bidirectional(run: _Run, layer: BidirectionalSpec) -> None:
    x, mask = run.tensors[layer.inputs[0]], _layer_mask(run, layer)
    halves = []
    for half in (layer.forward, layer.backward):
        initial = run.initial_states.get(half.name)
        if half.initial_state:  # initial_state= (forward's states, then backward's) wins, as in Keras
            initial = [run.tensors[s] for s in half.initial_state]
        results, run.final_states[half.name] = run_layer(half, x, mask, (), initial, run.spec.keras_major)
        halves.append(results)
    # the sequence outputs carry the input's mask even where the layer ignored it, as Keras's
    # Bidirectional.compute_mask returns it (spec/masks.py passed_mask; the lowering does the same)
    out_mask = passed_mask(layer, run.masks[layer.inputs[0]], _explicit_mask(run, layer))
    for index, value in enumerate(_merge_bidirectional(layer, *halves)):
        run.put(layer.name, value, out_mask if value.ndim == 3 else None, index)


@LAYER_RUNNERS.register(RecurrentLayerSpec)
def _recurrent(run: _Run, layer: RecurrentLayerSpec) -> None:
    x, mask = run.tensors[layer.inputs[0]], _layer_mask(run, layer)
    constants = [run.tensors[c] for c in layer.constants]
    initial = run.initial_states.get(layer.name)
    if layer.initial_state:  # an explicit initial_state= wins over a carried state, as in Keras
        initial = [run.tensors[s] for s in layer.initial_state]
    results, run.final_states[layer.name] = run_layer(layer, x, mask, constants, initial, run.spec.keras_major)
    out_mask = passed_mask(layer, run.masks[layer.inputs[0]], _explicit_mask(run, layer))
    for index, value in enumerate(results):
        run.put(layer.name, value, out_mask if (index == 0 and layer.return_sequences) else None, index)
