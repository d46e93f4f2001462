"""Run a whole :class:`ModelSpec` in NumPy: the oracle ``verify`` compares against.

Masks flow as Keras propagates them: Masking and Embedding(mask_zero) create one, a
recurrent layer consumes it and passes it on only with ``return_sequences``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import RuntimeInputError
from ..spec.layers import FeedForwardSpec
from ..spec.types import (
    BidirectionalSpec,
    EmbeddingSpec,
    MaskingSpec,
    MaskOpSpec,
    ModelSpec,
    RecurrentLayerSpec,
    TensorSpec,
)
from .layers import run_feed_forward
from .loop import run_layer


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


def _mask_op(layer: MaskOpSpec, x: np.ndarray) -> np.ndarray:
    if layer.op == "not_equal":
        return x != np.asarray(layer.value, dtype=x.dtype)
    if layer.op == "equal":
        return x == np.asarray(layer.value, dtype=x.dtype)
    if layer.op == "any":
        return np.any(x, axis=-1)
    if layer.op == "all":
        return np.all(x, axis=-1)
    return np.logical_not(x)


def run_model(
    spec: ModelSpec, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray], dtype: type = np.float64
) -> list[np.ndarray]:
    """Model outputs, in ``spec.outputs`` order, computed in ``dtype`` (float32 or float64)."""
    return run_model_with_states(spec, inputs, dtype)[0]


def run_model_with_states(
    spec: ModelSpec,
    inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray],
    dtype: type = np.float64,
    initial_states: Mapping[str, Sequence[np.ndarray]] | None = None,
) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Outputs and every recurrent layer's final states (by layer name, flat, cell by cell),
    starting from ``initial_states`` where given (zeros elsewhere): one streaming step."""
    tensors: dict[TensorSpec, np.ndarray] = {}
    masks: dict[TensorSpec, np.ndarray | None] = {}
    final_states: dict[str, list[np.ndarray]] = {}
    for input_spec, array in zip(spec.inputs, _arrays(spec, inputs), strict=True):
        wanted = {"sequence": f"(batch, time, {input_spec.features})", "tokens": "(batch, time)",
                  "vector": f"(batch, {input_spec.features})",
                  "tensor": str(("batch", *input_spec.dims))}[input_spec.kind]
        fixed = input_spec.shape[1:] if input_spec.kind == "tensor" else (input_spec.features,)
        wrong = any(d is not None and a != d for d, a in zip(fixed[::-1], array.shape[::-1], strict=False))
        if array.ndim != input_spec.rank or wrong:
            raise RuntimeInputError(f"input '{input_spec.name}' has shape {array.shape}, expected {wanted}")
        key = TensorSpec(input_spec.name)
        tensors[key] = array if input_spec.dtype != "float32" else array.astype(dtype)
        masks[key] = None
    for layer in spec.layers:
        out = TensorSpec(layer.name)
        if isinstance(layer, FeedForwardSpec):
            sources = layer.sources
            value, mask = run_feed_forward(layer, [tensors[s] for s in sources], [masks[s] for s in sources])
            tensors[out], masks[out] = value, mask
            continue
        x, mask = tensors[layer.source], masks[layer.source]
        if isinstance(layer, MaskingSpec):
            keep = np.any(x != np.asarray(layer.mask_value, dtype=x.dtype), axis=-1)
            tensors[out], masks[out] = x * keep[..., None].astype(x.dtype), keep
        elif isinstance(layer, EmbeddingSpec):
            ids = np.asarray(x).astype(np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= layer.input_dim):
                raise RuntimeInputError(f"layer '{layer.name}': token ids must be in [0, {layer.input_dim})")
            tensors[out] = layer.embeddings.astype(dtype)[ids]
            masks[out] = ids != 0 if layer.mask_zero else None
        elif isinstance(layer, MaskOpSpec):
            tensors[out], masks[out] = _mask_op(layer, x), None
        elif isinstance(layer, BidirectionalSpec):
            if layer.mask_source is not None:
                mask = tensors[layer.mask_source]
            elif not layer.masked:
                mask = None
            halves = []
            for half in (layer.forward, layer.backward):
                initial = (initial_states or {}).get(half.name)
                results, final_states[half.name] = run_layer(half, x, mask, (), initial, spec.keras_major)
                halves.append(results)
            for index, value in enumerate(_merge_bidirectional(layer, *halves)):
                tensors[TensorSpec(layer.name, index)] = value
                is_sequence = value.ndim == 3
                masks[TensorSpec(layer.name, index)] = mask if is_sequence else None
        elif isinstance(layer, RecurrentLayerSpec):
            if layer.mask_source is not None:
                mask = tensors[layer.mask_source]
            elif not layer.masked:  # e.g. Keras 3 drops the mask when initial_state= is given
                mask = None
            constants = [tensors[c] for c in layer.constants]
            initial = (initial_states or {}).get(layer.name)
            if layer.initial_state:  # an explicit initial_state= wins over a carried state, as in Keras
                initial = [tensors[s] for s in layer.initial_state]
            results, final_states[layer.name] = run_layer(layer, x, mask, constants, initial, spec.keras_major)
            for index, value in enumerate(results):
                tensors[TensorSpec(layer.name, index)] = value
                masks[TensorSpec(layer.name, index)] = mask if (index == 0 and layer.return_sequences) else None
        else:  # pragma: no cover - parse_model only produces the kinds above
            raise TypeError(type(layer).__name__)
    return [tensors[out.tensor] for out in spec.outputs], final_states
