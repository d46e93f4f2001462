"""NumPy form of Keras ``Dot`` (batch-major, Keras's own normalization per version)."""

from __future__ import annotations

import numpy as np

from ..spec.dot import K2_SQUARE_SUM_FLOOR, K3_INV_NORM_LIMIT, DotSpec


def l2_normalize(x: np.ndarray, axis: int, keras_major: int | None) -> np.ndarray:
    """``x`` scaled to unit L2 norm along ``axis``, with the version's guard for tiny norms."""
    square_sum = np.sum(x * x, axis=axis, keepdims=True)
    if keras_major == 3:
        with np.errstate(divide="ignore"):
            inv = np.minimum(1.0 / np.sqrt(square_sum), np.asarray(K3_INV_NORM_LIMIT, dtype=x.dtype))
    else:
        inv = 1.0 / np.sqrt(np.maximum(square_sum, np.asarray(K2_SQUARE_SUM_FLOOR, dtype=x.dtype)))
    return x * inv


def run_dot(layer: DotSpec, xs: list[np.ndarray], masks: list) -> np.ndarray:
    x1, x2 = xs
    a1, a2 = layer.axes
    if layer.normalize:
        x1, x2 = l2_normalize(x1, a1, layer.keras_major), l2_normalize(x2, a2, layer.keras_major)
    # contract axis a1 of x1 with a2 of x2 per sample; the batch axis is kept
    first, second = ["b", "i", "j"][: x1.ndim], ["b", "m", "n"][: x2.ndim]
    first[a1] = second[a2] = "k"
    kept = [c for c in first[1:] + second[1:] if c != "k"]
    y = np.einsum(f"{''.join(first)},{''.join(second)}->b{''.join(kept)}", x1, x2)
    if y.ndim == 1:
        y = y[:, None]
    return y.astype(x1.dtype)
