"""NumPy forms of the activation layers and rescalings (spec/activation_layers.py), in
Keras's own formulas; batch-major Keras layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..spec.activation_layers import (
    MASK_NEGATIVE,
    AffineSpec,
    ELUSpec,
    PReLUSpec,
    ReLUSpec,
    SoftmaxSpec,
    UnitNormSpec,
)


def _c(x: np.ndarray, value: float) -> np.ndarray:
    return np.asarray(value, dtype=x.dtype)


def relu(spec: ReLUSpec, xs, masks):
    x = xs[0]
    zero = _c(x, 0.0)
    if spec.threshold != 0:
        y = x * (x > _c(x, spec.threshold)).astype(x.dtype)
    else:
        y = np.maximum(x, zero)
    if spec.max_value is not None:
        y = np.clip(y, zero, _c(x, spec.max_value))
    if spec.negative_slope != 0:
        y = y - _c(x, spec.negative_slope) * np.maximum(_c(x, spec.threshold) - x, zero)
    return y


def elu(spec: ELUSpec, xs, masks):
    x = xs[0]
    return np.where(x > 0, x, _c(x, spec.alpha) * np.expm1(np.minimum(x, _c(x, 0.0))))


def prelu(spec: PReLUSpec, xs, masks):
    x = xs[0]
    return np.where(x > 0, x, spec.alpha.astype(x.dtype) * x)


def _softmax(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axes, keepdims=True))
    return e / np.sum(e, axis=axes, keepdims=True)


def _masked_softmax(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Keras's softmax over several axes, ``exp(x - logsumexp(x))``, with the logsumexp
    rounded to float32 as Keras computes it: for a fully masked row, -1e9 + log(n) rounds back
    to -1e9 and every output is exp(0) = 1 (measured in tf-keras 2.21). One axis: softmax."""
    if len(axes) == 1:
        return _softmax(x, axes)
    top = np.max(x, axis=axes, keepdims=True)
    lse = top + np.log(np.sum(np.exp(x - top), axis=axes, keepdims=True))
    return np.exp(x - lse.astype(np.float32).astype(x.dtype))


def softmax(spec: SoftmaxSpec, xs, masks):
    """Keras's Softmax; a mask (``xs[1]``) applied by the spec's rule (spec/activation_layers.py).
    The tf-keras ``"add"`` rule rounds ``x + (1 - mask) * -1e9`` to float32 even in a float64
    run: that rounding is what makes a fully masked row uniform there."""
    x = xs[0]
    if spec.mask_rule is None:
        return _softmax(x, spec.axes)
    mask = np.asarray(xs[1])
    if spec.mask_rule == "add":
        adder = (np.float32(1.0) - mask.astype(np.float32)) * np.float32(MASK_NEGATIVE)
        summed = (x.astype(np.float32) + adder).astype(x.dtype)
        return _masked_softmax(np.where(adder == 0, x, summed), spec.axes)
    keep = mask.astype(bool) if spec.mask_boolean else mask > np.asarray(0.5, dtype=mask.dtype)
    y = _masked_softmax(np.where(keep, x, _c(x, MASK_NEGATIVE)), spec.axes)
    return np.where(keep, y, _c(x, 0.0)) if spec.mask_rule == "where_zero" else y


def unit_norm(spec: UnitNormSpec, xs, masks):
    x = xs[0]
    norm = np.sqrt(np.sum(x * x, axis=spec.axes, keepdims=True))
    return x / np.maximum(norm, _c(x, spec.floor))


def affine(spec: AffineSpec, xs, masks):
    x = xs[0]
    scale, offset = spec.scale.astype(x.dtype), spec.offset.astype(x.dtype)
    if not spec.normalize:
        return x * scale + offset
    if spec.invert:
        return offset + x * scale
    return (x - offset) / scale


RUNNERS: dict[type, Callable] = {
    ReLUSpec: relu,
    ELUSpec: elu,
    PReLUSpec: prelu,
    SoftmaxSpec: softmax,
    UnitNormSpec: unit_norm,
    AffineSpec: affine,
}
