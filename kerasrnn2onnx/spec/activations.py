"""One table for activations: Keras name -> NumPy reference -> ONNX forms.

Each entry gives (1) the NumPy formula Keras computes, (2) the ONNX recurrent-op attribute
form where one exists exactly (``None`` otherwise), and (3) an emitter that writes the
activation as explicit ONNX nodes (for Scan bodies and unrolled steps). Emitters take an
onnxscript ``op`` builder, duck-typed, so this module stays free of lowering imports.

``hard_sigmoid`` is the one built-in whose formula changed between Keras versions
(Keras 2: ``clip(0.2x + 0.5, 0, 1)``; Keras 3: ``relu6(x + 3) / 6``), so an
:class:`ActivationSpec` records the Keras major version where the formula depends on it.
Formulas follow Keras 3 on JAX and tf-keras 2 (identical except hard_sigmoid).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

NumpyFn = Callable[[np.ndarray, "int | None"], np.ndarray]
Emitter = Callable[[Any, Any, "int | None"], Any]  # (op, x, keras_major) -> value

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SHRINK_THRESHOLD = 0.5  # soft_shrink / hard_shrink default
LEAKY_SLOPE = 0.2  # Keras leaky_relu default negative_slope
SQUAREPLUS_B = 4.0


def _c(x: np.ndarray, value: float) -> np.ndarray:
    """A scalar in the dtype of ``x`` so float32 references stay float32."""
    return np.asarray(value, dtype=x.dtype)


def _sigmoid(x, _m=None):
    return _c(x, 1.0) / (_c(x, 1.0) + np.exp(-x))


def _hard_sigmoid(x, major):
    if major == 2:
        return np.clip(_c(x, 0.2) * x + _c(x, 0.5), _c(x, 0.0), _c(x, 1.0))
    return np.clip(x + _c(x, 3.0), _c(x, 0.0), _c(x, 6.0)) / _c(x, 6.0)


def _elu(x, _m=None):
    return np.where(x > 0, x, np.expm1(np.minimum(x, _c(x, 0.0))))


def _softplus(x, _m=None):
    return np.logaddexp(x, _c(x, 0.0))


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _sparse_plus(x, _m=None):
    a = x + _c(x, 1.0)
    return np.where(x <= -1, _c(x, 0.0), np.where(x >= 1, x, a * a / _c(x, 4.0)))


def _softmax(x, _m=None):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x, _m=None):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# ---- ONNX node emitters -----------------------------------------------------------
def _emit_hard_sigmoid(op, x, major):
    return op.HardSigmoid(x, alpha=0.2 if major == 2 else 1.0 / 6.0, beta=0.5)


def _emit_gelu(op, x, _m):
    return op.Mul(op.Mul(x, 0.5), op.Add(op.Erf(op.Mul(x, 1.0 / math.sqrt(2.0))), 1.0))


def _emit_sparse_plus(op, x, _m):
    a = op.Add(x, 1.0)
    quadratic = op.Div(op.Mul(a, a), 4.0)
    upper = op.Where(op.GreaterOrEqual(x, 1.0), x, quadratic)
    return op.Where(op.LessOrEqual(x, -1.0), op.Mul(x, 0.0), upper)


# ---- Forms through Exp only, for runtimes whose own Sigmoid/Tanh/Softplus kernels are
# approximations (measured: tract 0.23's Sigmoid bottoms out at 4.8e-7 and tops out at
# 1 - 4.8e-7, its Tanh saturates at 1 - 6e-7, its Softplus overflows to inf above x = 88.7;
# OpenVINO 2026.4 fuses x * tanh(softplus(x)) into an approximate Mish). Multiplied by an
# unbounded x (silu, mish) those errors grow with x and fail the fixtures. Exp, Add, Mul,
# Div, Min, Max, Abs and Log are correctly rounded on those runtimes, so these forms are
# exact to float32 rounding; a runtime target opts in by name (lowering/targets.py).
EXP_LIMIT = 20.0  # above it tanh(softplus(x)) and sigmoid(x) are 1 in float32


def _emit_exp_sigmoid(op, x, _m=None):
    """1 / (1 + e^-x): e^-x overflows to inf below -88.7, and 1/inf is the exact 0."""
    return op.Reciprocal(op.Add(op.Exp(op.Neg(x)), 1.0))


def _emit_exp_softplus(op, x, _m=None):
    """max(x, 0) + log(1 + e^-|x|): no overflow, absolute error within float32 rounding."""
    return op.Add(op.Max(x, 0.0), op.Log(op.Add(op.Exp(op.Neg(op.Abs(x))), 1.0)))


def _emit_exp_mish(op, x, _m=None):
    """x * tanh(softplus(x)) = x * n / (n + 2) with n = e^x (e^x + 2): tanh(log(1 + e^x))
    written out; x is capped at EXP_LIMIT inside (the factor is 1 in float32 there)."""
    e = op.Exp(op.Min(x, EXP_LIMIT))
    n = op.Mul(e, op.Add(e, 2.0))
    return op.Mul(x, op.Div(n, op.Add(n, 2.0)))


# erf through Exp and polynomials, for runtimes whose Erf kernel is an approximation
# (measured: tract 0.23's Erf is up to 1.4e-6 off, about 20 float32 ulp near 0; a gelu
# recurrence that amplifies rounding tenfold a step turns that into 1.2e-3 after five steps).
# Coefficients fitted for this project in float64 (weighted least squares):
# |x| < ERF_SPLIT: erf(x) = x * P(x^2), relative error 1e-9 before rounding;
# above it: erf(|x|) = 1 - e^(-x^2) * Q(t), t = 1 / (1 + |x| / 2), Q within 1.1e-9 of
# erfc(x) e^(x^2) on [ERF_SPLIT, 4]; |x| is capped at 4, where erf is 1 in float32.
# Evaluated in float32: at most 1.3e-7 (2.4 ulp) from the exact erf over [-6, 6].
ERF_SPLIT = 0.9
ERF_SMALL = (1.128379225730896, -0.37612634897232056, 0.1128372922539711, -0.02686130627989769,
             0.0052059004083275795, -0.0008199535077437758, 8.617447747383267e-05)
ERFC_LARGE = (-0.00015879646525718272, 0.2849801182746887, 0.25926902890205383, 0.3492240011692047,
              -0.10646768659353256, 0.5666673183441162, -0.47341853380203247, 0.11996199190616608)


def _emit_horner(op, coefficients, v):
    result = op.Add(op.Mul(v, coefficients[-1]), coefficients[-2])
    for c in coefficients[-3::-1]:
        result = op.Add(op.Mul(result, v), c)
    return result


def _emit_exp_erf(op, x):
    """erf(x) from Exp, Mul, Add, Div and Where (see ERF_SMALL / ERFC_LARGE above)."""
    near = op.Clip(x, -ERF_SPLIT, ERF_SPLIT)  # the branch Where drops must not overflow either
    small = op.Mul(near, _emit_horner(op, ERF_SMALL, op.Mul(near, near)))
    a = op.Min(op.Abs(x), 4.0)
    t = op.Reciprocal(op.Add(op.Mul(a, 0.5), 1.0))
    erfc = op.Mul(op.Exp(op.Neg(op.Mul(a, a))), _emit_horner(op, ERFC_LARGE, t))
    large = op.Where(op.Less(x, 0.0), op.Sub(erfc, 1.0), op.Sub(1.0, erfc))
    return op.Where(op.Less(op.Abs(x), ERF_SPLIT), small, large)


def _emit_exp_gelu(op, x, _m=None):
    return op.Mul(op.Mul(x, 0.5), op.Add(_emit_exp_erf(op, op.Mul(x, 1.0 / math.sqrt(2.0))), 1.0))


EXP_FORMS: dict[str, Emitter] = {
    "sigmoid": _emit_exp_sigmoid,
    "silu": lambda op, x, _m: op.Mul(x, _emit_exp_sigmoid(op, x)),
    "softplus": _emit_exp_softplus,
    "log_sigmoid": lambda op, x, _m: op.Neg(_emit_exp_softplus(op, op.Neg(x))),
    "mish": _emit_exp_mish,
    "gelu": _emit_exp_gelu,
}


def _emit_relu6_hard_sigmoid(op, x, major):
    """Keras 3's own formula, relu6(x + 3) / 6, written without HardSigmoid: OpenCV 5.0 fuses
    Mul(HardSigmoid(x; alpha=1/6, beta=1/2), y) into HardSwish(x) whatever y is, so a gate
    times the cell state became x * hard_sigmoid(x), up to 4 off with no error (reproducer
    ``hard_sigmoid_mul_fused``). Keras 2's slope 0.2 is not fused and stays one HardSigmoid."""
    if major == 2:
        return _emit_hard_sigmoid(op, x, major)
    return op.Div(op.Clip(op.Add(x, 3.0), 0.0, 6.0), 6.0)


RELU6_FORMS: dict[str, Emitter] = {"hard_sigmoid": _emit_relu6_hard_sigmoid}
FORM_TABLES: dict[str, Mapping[str, Emitter]] = {
    "exp": EXP_FORMS,
    "exp_mish": {"mish": _emit_exp_mish},
    "relu6": RELU6_FORMS,  # OpenCV
    "exp_relu6": {**EXP_FORMS, **RELU6_FORMS},  # portable: tract's and OpenCV's needs at once
}
_FORMS: ContextVar[Mapping[str, Emitter] | None] = ContextVar("activation_forms", default=None)


@contextmanager
def activation_forms(table: str | None) -> Iterator[None]:
    """Emit activations in ``FORM_TABLES[table]``'s forms while one model is lowered (the
    emitters are called deep inside cell steps that know no target; ``None``: the usual forms)."""
    token = _FORMS.set(FORM_TABLES[table] if table else None)
    try:
        yield
    finally:
        _FORMS.reset(token)


@dataclass(frozen=True)
class ActivationDef:
    """How one Keras activation is computed (NumPy) and expressed in ONNX.

    ``attribute`` maps the Keras major version to ``(OnnxName, alpha, beta)`` for the
    LSTM/GRU/RNN ``activations`` attribute (alpha/beta ``None`` when the function takes
    none), or is ``None`` when those ops cannot express it. ``emit`` writes it as nodes.
    """

    numpy: NumpyFn
    emit: Emitter
    attribute: Callable[[int | None], tuple[str, float | None, float | None]] | None = None
    version_dependent: bool = False
    elementwise: bool = True  # False: normalises over the units axis (softmax), so gates
    # sharing one tensor must be activated one gate at a time


ACTIVATIONS: dict[str, ActivationDef] = {
    "tanh": ActivationDef(lambda x, _m: np.tanh(x), lambda op, x, _m: op.Tanh(x), lambda _m: ("Tanh", None, None)),
    "sigmoid": ActivationDef(_sigmoid, lambda op, x, _m: op.Sigmoid(x), lambda _m: ("Sigmoid", None, None)),
    "relu": ActivationDef(lambda x, _m: np.maximum(x, _c(x, 0.0)), lambda op, x, _m: op.Relu(x),
                          lambda _m: ("Relu", None, None)),
    "linear": ActivationDef(lambda x, _m: x, lambda op, x, _m: x, lambda _m: ("Affine", 1.0, 0.0)),
    "hard_sigmoid": ActivationDef(_hard_sigmoid, _emit_hard_sigmoid,
                                  lambda m: ("HardSigmoid", 0.2 if m == 2 else 1.0 / 6.0, 0.5), True),
    "elu": ActivationDef(_elu, lambda op, x, _m: op.Elu(x, alpha=1.0), lambda _m: ("Elu", 1.0, None)),
    "softsign": ActivationDef(lambda x, _m: x / (_c(x, 1.0) + np.abs(x)), lambda op, x, _m: op.Softsign(x),
                              lambda _m: ("Softsign", None, None)),
    "softplus": ActivationDef(_softplus, lambda op, x, _m: op.Softplus(x), lambda _m: ("Softplus", None, None)),
    "leaky_relu": ActivationDef(lambda x, _m: np.where(x >= 0, x, _c(x, LEAKY_SLOPE) * x),
                                lambda op, x, _m: op.LeakyRelu(x, alpha=LEAKY_SLOPE),
                                lambda _m: ("LeakyRelu", LEAKY_SLOPE, None)),
    "hard_tanh": ActivationDef(lambda x, _m: np.clip(x, _c(x, -1.0), _c(x, 1.0)),
                               lambda op, x, _m: op.Clip(x, -1.0, 1.0)),
    "relu6": ActivationDef(lambda x, _m: np.clip(x, _c(x, 0.0), _c(x, 6.0)), lambda op, x, _m: op.Clip(x, 0.0, 6.0)),
    "selu": ActivationDef(
        lambda x, _m: _c(x, SELU_SCALE) * np.where(x > 0, x, _c(x, SELU_ALPHA) * np.expm1(np.minimum(x, _c(x, 0.0)))),
        lambda op, x, _m: op.Selu(x, alpha=SELU_ALPHA, gamma=SELU_SCALE)),
    "celu": ActivationDef(lambda x, _m: np.where(x > 0, x, np.expm1(np.minimum(x, _c(x, 0.0)))),
                          lambda op, x, _m: op.Celu(x, alpha=1.0)),
    "silu": ActivationDef(lambda x, _m: x * _sigmoid(x), lambda op, x, _m: op.Mul(x, op.Sigmoid(x))),
    "hard_silu": ActivationDef(lambda x, _m: x * _hard_sigmoid(x, 3), lambda op, x, _m: op.HardSwish(x)),
    "gelu": ActivationDef(lambda x, _m: x * (_c(x, 1.0) + _erf(x / _c(x, math.sqrt(2.0)))) / _c(x, 2.0), _emit_gelu),
    "mish": ActivationDef(lambda x, _m: x * np.tanh(_softplus(x)),
                          lambda op, x, _m: op.Mul(x, op.Tanh(op.Softplus(x)))),
    "exponential": ActivationDef(lambda x, _m: np.exp(x), lambda op, x, _m: op.Exp(x)),
    "log_sigmoid": ActivationDef(lambda x, _m: -_softplus(-x), lambda op, x, _m: op.Neg(op.Softplus(op.Neg(x)))),
    "tanh_shrink": ActivationDef(lambda x, _m: x - np.tanh(x), lambda op, x, _m: op.Sub(x, op.Tanh(x))),
    "soft_shrink": ActivationDef(
        lambda x, _m: np.where(x > SHRINK_THRESHOLD, x - _c(x, SHRINK_THRESHOLD),
                               np.where(x < -SHRINK_THRESHOLD, x + _c(x, SHRINK_THRESHOLD), _c(x, 0.0))),
        lambda op, x, _m: op.Shrink(x, bias=SHRINK_THRESHOLD, lambd=SHRINK_THRESHOLD)),
    "hard_shrink": ActivationDef(lambda x, _m: np.where(np.abs(x) > SHRINK_THRESHOLD, x, _c(x, 0.0)),
                                 lambda op, x, _m: op.Shrink(x, bias=0.0, lambd=SHRINK_THRESHOLD)),
    "sparse_plus": ActivationDef(_sparse_plus, _emit_sparse_plus),
    "squareplus": ActivationDef(lambda x, _m: (x + np.sqrt(x * x + _c(x, SQUAREPLUS_B))) / _c(x, 2.0),
                                lambda op, x, _m: op.Div(op.Add(x, op.Sqrt(op.Add(op.Mul(x, x), SQUAREPLUS_B))), 2.0)),
    "sparse_sigmoid": ActivationDef(lambda x, _m: np.clip((x + _c(x, 1.0)) / _c(x, 2.0), _c(x, 0.0), _c(x, 1.0)),
                                    lambda op, x, _m: op.Clip(op.Div(op.Add(x, 1.0), 2.0), 0.0, 1.0)),
    "softmax": ActivationDef(_softmax, lambda op, x, _m: op.Softmax(x, axis=-1), elementwise=False),
    "log_softmax": ActivationDef(_log_softmax, lambda op, x, _m: op.LogSoftmax(x, axis=-1), elementwise=False),
}

ALIASES = {"swish": "silu", "hard_swish": "hard_silu", "None": "linear"}

# Activations whose Keras 2 (tf-keras) name differs or that only exist in Keras 3 are
# still accepted from any file: the formula is what matters, and Keras writes names only
# its own version defines.
NOT_CALLABLE_BY_NAME = {
    "threshold": "Keras's 'threshold' needs threshold and default_value arguments, which a "
    "recurrent layer's activation name cannot supply",
}
SHAPE_CHANGING = frozenset({"glu", "sparsemax"})


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

    @property
    def elementwise(self) -> bool:
        return self.definition.elementwise

    def emit(self, op: Any, x: Any) -> Any:
        """Write this activation as ONNX nodes with an onnxscript op builder (in the target's
        form where it asks for one, see :func:`activation_forms`)."""
        emitter = (_FORMS.get() or {}).get(self.name, self.definition.emit)
        return emitter(op, x, self.keras_major)

    def onnx_form(self) -> tuple[str, float | None, float | None] | None:
        """The recurrent-op attribute form, or ``None`` if the ops cannot express it."""
        make = self.definition.attribute
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
    if name in NOT_CALLABLE_BY_NAME:
        raise ActivationNameError(f"activation '{name}' cannot be used by name: {NOT_CALLABLE_BY_NAME[name]}")
    if name in SHAPE_CHANGING:
        raise ActivationNameError(
            f"activation '{name}' changes the shape of its input, which a recurrent cell cannot use")
    raise ActivationNameError(f"unknown activation '{name}'")
