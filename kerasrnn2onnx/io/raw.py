"""RawModel: what a Keras file says, before any interpretation.

Readers of every format (.keras, .h5, JSON + weights) produce this one shape, so the spec
parser never needs to know where a model came from. Nothing here imports Keras. Weights are
:class:`~.handles.WeightHandle` values read from files the model keeps open until closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .handles import WeightHandle

OP_MODULES = ("keras.src.ops", "keras.ops")


def is_op_node(entry: Mapping[str, Any]) -> bool:
    """Keras 3 functional graphs record plain ops (``keras.ops.not_equal``) as nodes beside
    the layers. They are Operations, not Layers: they own no weights, ``model.layers`` does
    not list them, and their class names can equal a layer's (the op ``Concatenate`` of
    ``keras.src.ops.numpy`` is not the ``Concatenate`` layer), so only the module tells."""
    return str(entry.get("module") or "").startswith(OP_MODULES)


@dataclass(frozen=True)
class TensorRef:
    """One tensor in a functional graph: output ``index`` of call ``node`` of ``layer``."""

    layer: str
    node: int = 0
    index: int = 0


@dataclass(frozen=True, eq=False)
class RawLayer:
    """A layer as stored: class name, config dict, weight handles in ``get_weights()`` order."""

    class_name: str
    name: str
    config: Mapping[str, Any]
    inbound: tuple[TensorRef, ...] = ()
    tensor_kwargs: Mapping[str, tuple[TensorRef, ...]] = field(default_factory=dict)
    call_args: tuple = ()  # the call's positional arguments as stored (Keras 3 op layers keep scalars here;
    # Keras 2 TFOpLambda calls: each operand, a TensorRef or a constant)
    call_kwargs: Mapping[str, Any] = field(default_factory=dict)  # Keras 2 TFOpLambda keywords (TensorRefs
    # inside); for attention layers their non-tensor flags (return_attention_scores=, use_causal_mask=)
    weights_from: str | None = None  # a shared layer's later call: the layer whose weights it uses
    nested_in: tuple[str, ...] = ()  # the models this layer was inlined from (outermost first)
    inner_name: str | None = None  # its name inside that model (weights are stored under it)
    weights: tuple[WeightHandle, ...] = ()
    weight_names: tuple[str, ...] = ()
    weights_origin: str | None = None  # where in the file the weights came from, for messages
    keras2_layout: bool = False  # read from a Keras 2 HDF5 layout (its loader converts CuDNN-layout RNN weights)
    op_node: bool = False  # a Keras 3 op (module keras.src.ops.*), not a layer: see is_op_node


@dataclass(frozen=True, eq=False)
class RawModel:
    """A whole file: the layers in topological order plus the graph's inputs and outputs.

    ``keras_version`` is the full version string found in the file (``None`` when the file
    carries none); ``keras_major`` is 2 or 3, or ``None`` when unknown. ``flat_weights`` is
    set instead of per-layer weights when the weights came as one ``get_weights()`` list
    (an ``.npz``): only the spec parser knows how many arrays each layer takes.

    The weight handles read from files held in ``resources``: use the model as a context
    manager (or call :meth:`close`) so they are closed once the spec is parsed.
    """

    source: Path
    format: str
    keras_version: str | None
    keras_major: int | None
    model_class: str
    name: str
    layers: tuple[RawLayer, ...]
    inputs: tuple[TensorRef, ...]
    outputs: tuple[TensorRef, ...]
    flat_weights: tuple[WeightHandle, ...] | None = None
    notes: tuple[str, ...] = field(default=())
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def close(self) -> None:
        """Close the files the weight handles read from."""
        self.resources.close()

    def __enter__(self) -> RawModel:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def layer(self, name: str) -> RawLayer:
        for raw in self.layers:
            if raw.name == name:
                return raw
        raise KeyError(name)
