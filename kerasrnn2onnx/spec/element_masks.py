"""Masks of a tensor's own shape, handed on from a ``Softmax`` called with ``mask=`` or from a
tf-keras ``TimeDistributed(Embedding(mask_zero=True))``.

Keras gives a layer's output the mask its call received whenever the layer supports masking
(``compute_mask`` returns ``previous_mask`` in both versions), whatever that mask's shape:
``Softmax(x, mask=m)`` passes ``m`` on, layers that keep masks (Dense, activations,
dropouts, ...) pass it further, and a later ``Softmax`` receives ``m`` again (tf-keras
implicitly; Keras 3 also records it as ``mask=`` in the saved config). The converter's own
masks are (batch, time) masks; a mask of the full shape is followed here to the next
``Softmax`` only, and any other layer that would read it is refused: a recurrent layer given
such a mask does not fail in Keras 3 but reads it in a way this converter does not reproduce.

tf-keras's TimeDistributed hands on the (batch, time, ids) mask of an inner
``Embedding(mask_zero=True)`` (spec/wrappers.py, ``_embedding_mask_zero``); it is followed the
same way, and no layer may read it (it is no tensor of the graph a Softmax could read either).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedError
from .activation_layers import AffineSpec, ELUSpec, PReLUSpec, ReLUSpec, SoftmaxSpec, UnitNormSpec
from .folds import FoldSpec, UnfoldSpec
from .layers import ActivationLayerSpec, DenseSpec, IdentityLayerSpec, NormalizationSpec
from .node import Ref
from .wrappers import TimeDistributedSpec, TokenEmbeddingSpec

# The layers that hand a mask on without reading it (when their rule for the version is "pass");
# attention layers, TimeDistributed and the convolutional recurrent layers read theirs.
PASSING = (DenseSpec, ActivationLayerSpec, IdentityLayerSpec, NormalizationSpec, ReLUSpec, ELUSpec, PReLUSpec,
           UnitNormSpec, AffineSpec)


@dataclass(frozen=True)
class _Carried:
    mask: Ref | None  # the Softmax's mask= tensor; None: not a graph tensor
    origin: str  # for messages: where the mask comes from
    hint: str  # for messages: what may read it
    ids: Ref | None = None  # an Embedding(mask_zero=True) mask: these ids != 0 (TimeDistributed folds read it)


class ElementMasks:
    """Which tensors carry a mask of their own shape as their Keras mask."""

    def __init__(self, sources_of: Callable[[Any], tuple[Ref, ...]], keras_major: int | None) -> None:
        self._sources_of = sources_of
        self._keras_major = keras_major
        self._carried: dict[Ref, _Carried] = {}
        self._done = 0

    def of(self, tensor: Ref, reader: str) -> Ref | None:
        """The mask tensor Keras hands on with ``tensor`` to the Softmax ``reader``, if any."""
        carried = self._carried.get(tensor)
        if carried is None:
            return None
        if carried.mask is None:
            raise UnsupportedError(reader, f"it would read {carried.origin} as its mask, which is not supported",
                                   "mask")
        return carried.mask

    def carries(self, tensor: Ref) -> bool:
        """Whether Keras hands a mask of its own shape on with ``tensor``."""
        return tensor in self._carried

    def ids_of(self, tensor: Ref) -> Ref | None:
        """The (batch, time, ids) token ids whose ``!= 0`` is the mask riding on ``tensor``
        (tf-keras's TimeDistributed(Embedding(mask_zero=True))), if that is its mask."""
        carried = self._carried.get(tensor)
        return carried.ids if carried is not None else None

    def follow(self, layers: Sequence[Any]) -> None:
        """Account for the layers added to ``layers`` since the last call (graph order)."""
        for layer in layers[self._done:]:
            self._step(layer)
        self._done = len(layers)

    def _step(self, layer: Any) -> None:
        if isinstance(layer, SoftmaxSpec):
            if layer.mask_rule is not None:
                origin = (f"the mask tensor '{layer.inputs[1].layer}' that Keras hands on from a Softmax called "
                          "with mask=")
                self._carried[Ref(layer.name)] = _Carried(layer.inputs[1], origin, "only a Softmax may read it")
            return
        if isinstance(layer, TimeDistributedSpec) and self._keras_major == 2:
            last = layer.chain[-1][0]
            if isinstance(last, TokenEmbeddingSpec) and last.mask_zero:
                origin = (f"the (batch, time, ids) mask that tf-keras's TimeDistributed '{layer.name}' hands on "
                          "from its Embedding(mask_zero=True)")
                hint = "end the mask first, e.g. with Reshape, or leave mask_zero off"
                ids = layer.inputs[0] if len(layer.chain) == 1 else None  # the Embedding reads the wrapper's ids
                self._carried[Ref(layer.name)] = _Carried(None, origin, hint, ids)
                return
        if isinstance(layer, FoldSpec) and layer.mask_ids:
            return  # it reads the ids behind the mask (spec/folds.py)
        if isinstance(layer, UnfoldSpec) and layer.hands_on_mask:
            origin = (f"the (batch, time, steps) mask that tf-keras's TimeDistributed '{layer.name}' hands on from "
                      "its wrapped layer's sequence")
            hint = "end the mask first, e.g. with Reshape, or return no sequence from the wrapped layer"
            ids = layer.inputs[2] if layer.mask_rule == "hand_on_ids" else None
            self._carried[Ref(layer.name)] = _Carried(None, origin, hint, ids)
            return
        sources = self._sources_of(layer)
        carried = [s for s in sources if s in self._carried]
        if not carried:
            return
        rule = getattr(layer, "mask", None)  # the spec's rule (AffineSpec sets it per version)
        if rule == "drop":
            return
        if rule == "pass" and isinstance(layer, PASSING) and carried == [sources[0]]:
            self._carried[Ref(layer.name)] = self._carried[sources[0]]
            return
        first = self._carried[carried[0]]
        raise UnsupportedError(layer.name, f"it would read {first.origin} as its mask, which is not supported "
                               f"({first.hint})", "mask")
