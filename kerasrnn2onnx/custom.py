"""Converters for users' own Keras cell classes.

A model file only *names* a custom cell (``class_name`` / ``registered_name``); its code is
never imported. To convert such a model, register a :class:`CustomCell` under that name:
the cell's weights in ``get_weights()`` order, its state sizes, one timestep as an
onnxscript function (for the ``scan`` and ``unroll`` lowerings) and as NumPy (for the
reference that ``verify`` compares against)::

    from onnxscript import script, opset18 as op
    import kerasrnn2onnx

    @script()
    def minimal_step(x_t, h, kernel, recurrent_kernel):
        out = op.Add(op.MatMul(x_t, kernel), op.MatMul(h, recurrent_kernel))
        return out, out                      # (output, *new_states)

    kerasrnn2onnx.register_cell(kerasrnn2onnx.CustomCell(
        keras_name="my_package>MinimalRNNCell",
        weights=("kernel", "recurrent_kernel"),
        state_sizes=lambda config: [config["units"]],
        onnx_step=minimal_step,
        numpy_step=lambda x_t, states, constants, w: (x_t @ w["kernel"] + states[0] @ w["recurrent_kernel"],) * 2,
    ))

The step's parameters are ``x_t, *states, *constants`` followed by weights *bound by
name* (any subset of ``weights``, in any order). It returns ``(output, *new_states)``.
``onnx_step`` may also be a plain Python function ``(op, x_t, *states, *constants,
**weights)`` written with an onnxscript op builder.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConversionError

NumpyStep = Callable[[np.ndarray, Sequence[np.ndarray], Sequence[np.ndarray], Mapping[str, np.ndarray]],
                     Sequence[np.ndarray]]


@dataclass(frozen=True)
class CustomCell:
    """How to convert one custom Keras cell class.

    ``keras_name``: the cell's ``registered_name`` (``"package>Name"``) or ``class_name``.
    ``weights``: names for the cell's ``get_weights()`` arrays, in that order.
    ``state_sizes``: from the cell's config dict, the width of each state.
    ``output_size``: from the config, the output width (default: the first state's).
    ``num_constants``: how many ``constants=`` tensors the cell's call takes.
    """

    keras_name: str
    weights: tuple[str, ...]
    state_sizes: Callable[[Mapping[str, Any]], Sequence[int]]
    onnx_step: Any
    numpy_step: NumpyStep
    output_size: Callable[[Mapping[str, Any]], int] | None = None
    num_constants: int = 0

    def step_parameters(self) -> list[str]:
        """The onnx step's parameter names (after ``op`` for a plain Python function)."""
        fn = self.onnx_step
        if hasattr(fn, "function_ir"):
            return [v.name for v in fn.function_ir.inputs]
        names = list(inspect.signature(fn).parameters)
        return names[1:]


_REGISTRY: dict[str, CustomCell] = {}


def register_cell(converter: CustomCell) -> CustomCell:
    """Register ``converter``; registering the same name twice is an error (unregister first)."""
    if converter.keras_name in _REGISTRY:
        raise ConversionError(f"a converter for cell '{converter.keras_name}' is already registered")
    if not converter.weights or len(set(converter.weights)) != len(converter.weights):
        raise ConversionError(f"cell '{converter.keras_name}': weights must be distinct names")
    _REGISTRY[converter.keras_name] = converter
    return converter


def unregister_cell(keras_name: str) -> None:
    _REGISTRY.pop(keras_name, None)


def find_cell(class_name: str, registered_name: str | None) -> CustomCell | None:
    """The converter for a cell entry of a config, by registered name first."""
    for key in (registered_name, class_name, class_name.split(">")[-1]):
        if key and key in _REGISTRY:
            return _REGISTRY[key]
    return None


def registered_cells() -> list[str]:
    return sorted(_REGISTRY)
