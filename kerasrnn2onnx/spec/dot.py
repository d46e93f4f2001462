"""Keras ``Dot``: a batchwise dot product of two tensors along one axis of each.

Why its own module: unlike the elementwise merges it changes the shape (the contracted
axes disappear, the others are kept: first input's, then second input's) and its
``normalize`` differs by version (see :class:`DotSpec`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import LayerError, UnsupportedError
from ..io.raw import RawLayer, RawModel
from .checks import BASE_KEYS, TensorFacts, WeightFeed, check_keys, flag
from .node import Node
from .types import Ref

# Keras 3 normalizes with x * min(rsqrt(sum x^2), 1 / epsilon), epsilon = 1e-7 (ops.normalize);
# tf-keras with tf.linalg.l2_normalize: x * rsqrt(max(sum x^2, 1e-12)).
K3_INV_NORM_LIMIT = 1e7
K2_SQUARE_SUM_FLOOR = 1e-12


@dataclass(frozen=True, eq=False)
class DotSpec(Node):
    """``Dot(axes, normalize)`` of two rank-2/3 tensors (Keras axes, batch = 0, already
    non-negative). The output keeps the first input's remaining non-batch axis, then the
    second's; a result without one becomes (batch, 1), as ``batch_dot`` does.
    ``keras_major`` picks the normalization formula."""

    name: str
    inputs: tuple[Ref, ...]
    axes: tuple[int, int]
    ranks: tuple[int, int]
    normalize: bool
    keras_major: int | None
    steps: int | None = None  # fixed timesteps of a rank-3 output, when known
    mask = "drop"

    @property
    def out_rank(self) -> int:
        return 1 + max(1, sum(self.ranks) - 4)

    def out_time(self, time: Any) -> Any:
        """The first input's kept axis: its time, or its fixed features."""
        return time if self.axes[0] == 2 else self.steps

    def describe(self) -> str:
        return f"Dot(axes={self.axes}, normalize={self.normalize})"


def _dims(info: TensorFacts) -> tuple[int | None, ...]:
    """Non-batch dims of a tensor in Keras order."""
    return (info.width,) if info.rank == 2 else (info.steps, info.width)


def parse_dot(raw: RawLayer, sources: Sequence[Ref], infos: Sequence[TensorFacts], model: RawModel,
              feed: WeightFeed) -> tuple[DotSpec, TensorFacts]:
    config: Mapping[str, Any] = raw.config
    check_keys(config, BASE_KEYS | {"axes", "normalize"}, raw.name)
    if len(sources) != 2:
        raise LayerError(raw.name, f"Dot takes exactly two inputs, got {len(sources)}")
    if any(i.rank not in (2, 3) or i.width is None or i.boolean for i in infos):
        raise UnsupportedError(raw.name, "Dot is supported on (batch, features) and (batch, time, features) inputs")
    axes_value = config.get("axes")
    if isinstance(axes_value, int) and not isinstance(axes_value, bool):
        pair = [axes_value, axes_value]
    elif isinstance(axes_value, (list, tuple)) and len(axes_value) == 2 and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes_value):
        pair = list(axes_value)
    else:
        raise LayerError(raw.name, f"axes must be an integer or two integers, got {axes_value!r}", "axes")
    axes = []
    for axis, info in zip(pair, infos, strict=True):
        if not -info.rank <= axis < info.rank:
            raise LayerError(raw.name, f"axis {axis} is out of range for a rank-{info.rank} input", "axes")
        axis %= info.rank  # Keras: a negative axis counts from the end of each input
        if axis == 0:
            raise UnsupportedError(raw.name, "a dot product over the batch axis is not supported", "axes")
        axes.append(axis)
    dims = [_dims(i) for i in infos]
    sizes = [d[a - 1] for d, a in zip(dims, axes, strict=True)]
    if None in sizes:
        raise UnsupportedError(raw.name, "the contracted axis needs a fixed size (a fixed number of timesteps)", "axes")
    if sizes[0] != sizes[1]:
        raise LayerError(raw.name, f"the contracted axes have sizes {sizes[0]} and {sizes[1]}", "axes")
    kept = [d for k, (dim, a) in enumerate(zip(dims, axes, strict=True)) for j, d in enumerate(dim) if j != a - 1]
    spec = DotSpec(raw.name, tuple(sources), (axes[0], axes[1]), (infos[0].rank, infos[1].rank),
                   flag(config, "normalize", False, raw.name), model.keras_major)
    if len(kept) == 0:
        return spec, TensorFacts(1, 2, False)
    if len(kept) == 1:
        if kept[0] is None:
            raise UnsupportedError(raw.name, "the output width would be a number of timesteps: it must be fixed")
        return spec, TensorFacts(kept[0], 2, False)
    if kept[1] is None:
        raise UnsupportedError(raw.name, "the output width would be a number of timesteps: it must be fixed")
    return replace(spec, steps=kept[0]), TensorFacts(kept[1], 3, False, steps=kept[0])
