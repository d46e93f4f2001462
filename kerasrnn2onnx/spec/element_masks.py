"""Masks of a tensor's own shape, handed on from a ``Softmax`` called with ``mask=``.

Keras gives a layer's output the mask its call received whenever the layer supports masking
(``compute_mask`` returns ``previous_mask`` in both versions), whatever that mask's shape:
``Softmax(x, mask=m)`` passes ``m`` on, layers that keep masks (Dense, activations,
dropouts, ...) pass it further, and a later ``Softmax`` receives ``m`` again (tf-keras
implicitly; Keras 3 also records it as ``mask=`` in the saved config). The converter's own
masks are (batch, time) masks; a mask of the full shape is followed here to the next
``Softmax`` only, and any other layer that would read it is refused: a recurrent layer given
such a mask does not fail in Keras 3 but reads it in a way this converter does not reproduce.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import UnsupportedError
from .activation_layers import SoftmaxSpec
from .types import TensorSpec
from .wrappers import TimeDistributedSpec


class ElementMasks:
    """Which tensors carry a Softmax's ``mask=`` tensor as their Keras mask."""

    def __init__(self, sources_of: Callable[[Any], tuple[TensorSpec, ...]]) -> None:
        self._sources_of = sources_of
        self._carried: dict[TensorSpec, TensorSpec] = {}
        self._done = 0

    def of(self, tensor: TensorSpec) -> TensorSpec | None:
        """The mask tensor Keras hands on with ``tensor``, if it is one of these."""
        return self._carried.get(tensor)

    def follow(self, layers: Sequence[Any]) -> None:
        """Account for the layers added to ``layers`` since the last call (graph order)."""
        for layer in layers[self._done:]:
            self._step(layer)
        self._done = len(layers)

    def _step(self, layer: Any) -> None:
        if isinstance(layer, SoftmaxSpec):
            if layer.mask_rule is not None:
                self._carried[TensorSpec(layer.name)] = layer.sources[1]
            return
        sources = self._sources_of(layer)
        carried = [s for s in sources if s in self._carried]
        if not carried:
            return
        rule = getattr(layer, "mask", None)  # the spec's rule (AffineSpec sets it per version)
        if rule == "drop":
            return
        if rule == "pass" and not isinstance(layer, TimeDistributedSpec) and carried == [sources[0]]:
            self._carried[TensorSpec(layer.name)] = self._carried[sources[0]]
            return
        mask = self._carried[carried[0]]
        raise UnsupportedError(layer.name, f"it receives the mask tensor '{mask.layer}' that Keras hands on from a "
                               "Softmax called with mask=; only another Softmax may read such a mask here", "mask")
