"""One table for activations: Keras name -> NumPy reference -> ONNX RNN-op attribute form.

``hard_sigmoid`` is the one built-in whose formula changed between Keras versions
(Keras 2: ``clip(0.2x + 0.5, 0, 1)``; Keras 3: ``relu6(x + 3) / 6``), so an
:class:`ActivationSpec` records the Keras major version where the formula depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

NumpyFn = Callable[[np.ndarray, "int | None"], np.ndarray]


def _c(x: np.ndarray, value: float) -> np.ndarray:
    """A scalar in the dtype of ``x`` so float32 references stay float32."""
    return np.asarray(value, dtype=x.dtype)


def _sigmoid(x: np.ndarray, _major: int | None) -> np.ndarray:
    return _c(x, 1.0) / (_c(x, 1.0) + np.exp(-x))


def _hard_sigmoid(x: np.ndarray, major: int | None) -> np.ndarray:
    if major == 2:
        return np.clip(_c(x, 0.2) * x + _c(x, 0.5), _c(x, 0.0), _c(x, 1.0))
    return np.clip(x + _c(x, 3.0), _c(x, 0.0), _c(x, 6.0)) / _c(x, 6.0)


def _elu(x: np.ndarray, _major: int | None) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, _c(x, 0.0))))


def _softplus(x: np.ndarray, _major: int | None) -> np.ndarray:
    return np.logaddexp(x, _c(x, 0.0))


@dataclass(frozen=True)
class ActivationDef:
    """How one Keras activation is computed (NumPy) and expressed on ONNX RNN ops.

    ``onnx`` maps the Keras major version to ``(OnnxName, alpha, beta)`` where alpha/beta
    are ``None`` for functions that take no parameter; ``None`` means the ONNX RNN ops
    have no attribute form for this activation.
    """

    numpy: NumpyFn
    onnx: Callable[[int | None], tuple[str, float | None, float | None]] | None
    version_dependent: bool = False


ACTIVATIONS: dict[str, ActivationDef] = {
    "tanh": ActivationDef(lambda x, _m: np.tanh(x), lambda _m: ("Tanh", None, None)),
    "sigmoid": ActivationDef(_sigmoid, lambda _m: ("Sigmoid", None, None)),
    "relu": ActivationDef(lambda x, _m: np.maximum(x, _c(x, 0.0)), lambda _m: ("Relu", None, None)),
    "linear": ActivationDef(lambda x, _m: x, lambda _m: ("Affine", 1.0, 0.0)),
    "hard_sigmoid": ActivationDef(
        _hard_sigmoid,
        lambda m: ("HardSigmoid", 0.2 if m == 2 else 1.0 / 6.0, 0.5),
        version_dependent=True,
    ),
    "elu": ActivationDef(_elu, lambda _m: ("Elu", 1.0, None)),
    "softsign": ActivationDef(lambda x, _m: x / (_c(x, 1.0) + np.abs(x)), lambda _m: ("Softsign", None, None)),
    "softplus": ActivationDef(_softplus, lambda _m: ("Softplus", None, None)),
}

ALIASES = {"swish": "silu", "hard_swish": "hard_silu", "None": "linear"}

# Keras activations this converter knows by name but cannot yet compute or lower.
KNOWN_UNSUPPORTED = frozenset(
    {
        "selu", "gelu", "silu", "hard_silu", "exponential", "relu6", "leaky_relu", "celu",
        "hard_tanh", "mish", "log_sigmoid", "tanh_shrink", "soft_shrink", "hard_shrink",
        "sparse_plus", "squareplus", "threshold", "softmax", "log_softmax", "glu", "sparsemax",
    }
)


@dataclass(frozen=True)
class ActivationSpec:
    """A resolved activation: its canonical Keras name and, if it matters, the Keras major."""

    name: str
    keras_major: int | None = None

    @property
    def definition(self) -> ActivationDef:
        return ACTIVATIONS[self.name]

    def numpy(self, x: np.ndarray) -> np.ndarray:
        return self.definition.numpy(x, self.keras_major)

    def onnx_form(self) -> tuple[str, float | None, float | None] | None:
        make = self.definition.onnx
        return None if make is None else make(self.keras_major)

    def describe(self) -> str:
        if self.definition.version_dependent:
            return f"{self.name} (Keras {self.keras_major} formula)"
        return self.name


class ActivationNameError(ValueError):
    """Raised with a user-facing reason; the parser adds the layer and key."""


def activation_name(value: Any) -> str:
    """The Keras name in a config value (a string, ``None`` or a serialized function dict)."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        module = str(value.get("module", ""))
        inner = value.get("config")
        if value.get("class_name") == "function" and isinstance(inner, str) and module.startswith("keras"):
            return inner
        raise ActivationNameError(
            f"custom activation {value.get('class_name')!r} (module {module or '?'}) cannot be converted: "
            "only Keras built-in activations are supported, and nothing named in a model file is imported"
        )
    raise ActivationNameError(f"activation must be a name, got {value!r}")


def resolve_activation(value: Any, keras_major: int | None) -> ActivationSpec:
    """Resolve a config value to an :class:`ActivationSpec`, or raise ActivationNameError."""
    name = activation_name(value)
    name = ALIASES.get(name, name)
    if name in ACTIVATIONS:
        if ACTIVATIONS[name].version_dependent:
            if keras_major is None:
                raise ActivationNameError(
                    f"'{name}' is computed differently by Keras 2 and Keras 3 and this file does not say "
                    "which wrote it: pass --keras-version 2 or 3"
                )
            return ActivationSpec(name, keras_major)
        return ActivationSpec(name)
    if name in KNOWN_UNSUPPORTED:
        raise ActivationNameError(
            f"activation '{name}' is not supported yet: the native ONNX recurrent ops cannot express it "
            f"(supported: {', '.join(sorted(ACTIVATIONS))})"
        )
    raise ActivationNameError(f"unknown activation '{name}'")
