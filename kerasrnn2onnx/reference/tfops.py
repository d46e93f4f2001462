"""NumPy forms of the whitelisted TensorFlow functions (spec/tfops.py), on Keras-layout
(batch-major) arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..spec.tfops import TFOpSpec


def _index(layer: TFOpSpec) -> tuple[Any, ...]:
    return (slice(None),) + tuple(e if isinstance(e, int) else slice(*e) for e in layer.params["index"])


def _binary(layer: TFOpSpec, xs: list[np.ndarray]) -> np.ndarray:
    a, b = (xs[o.source] if o.source is not None else np.asarray(o.constant, dtype=xs[0].dtype)
            for o in layer.params["operands"])
    return {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "truediv": np.divide}[layer.op](a, b)


def _reduce(layer: TFOpSpec, xs: list[np.ndarray]) -> np.ndarray:
    axes, keepdims = layer.params["axes"], layer.params["keepdims"]
    if layer.op == "reduce_mean":
        return np.mean(xs[0], axis=axes, keepdims=keepdims)
    if layer.op == "reduce_sum":
        return np.sum(xs[0], axis=axes, keepdims=keepdims)
    return np.max(xs[0], axis=axes, keepdims=keepdims)


RUNNERS: dict[str, Callable[[TFOpSpec, list[np.ndarray]], np.ndarray]] = {
    "transpose": lambda layer, xs: xs[0] if layer.layout_only else np.transpose(xs[0], layer.params["perm"]),
    "expand_dims": lambda layer, xs: np.expand_dims(xs[0], layer.params["axis"]),
    "squeeze": lambda layer, xs: np.squeeze(xs[0], layer.params["axis"]),
    "reshape": lambda layer, xs: xs[0].reshape(xs[0].shape[0], *layer.params["shape"]),
    "concat": lambda layer, xs: np.concatenate(xs, axis=layer.params["axis"]),
    "stack": lambda layer, xs: np.stack(xs, axis=layer.params["axis"]),
    "add": _binary,
    "subtract": _binary,
    "multiply": _binary,
    "truediv": _binary,
    "reduce_mean": _reduce,
    "reduce_sum": _reduce,
    "reduce_max": _reduce,
    "getitem": lambda layer, xs: xs[0][_index(layer)],
}


def run_tfop(layer: TFOpSpec, xs: list[np.ndarray], masks: list) -> np.ndarray:
    return np.asarray(RUNNERS[layer.op](layer, xs), dtype=xs[0].dtype)
