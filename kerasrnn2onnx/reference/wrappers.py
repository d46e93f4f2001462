"""NumPy forms of TimeDistributed (fold time into the batch, run the wrapped layer, unfold)
and of Embedding over ids of any rank."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import RuntimeInputError
from ..spec.folds import FoldSpec, UnfoldSpec
from ..spec.wrappers import TimeDistributedSpec, TokenEmbeddingSpec


def time_distributed(spec: TimeDistributedSpec, xs, masks):
    from .layers import run_feed_forward  # the registry this module is part of

    x = xs[0]
    batch, steps = x.shape[:2]
    y = x.reshape(batch * steps, *x.shape[2:])
    for inner, _, _ in spec.chain:
        y, _ = run_feed_forward(inner, [y], [None])
    return y.reshape(batch, steps, *y.shape[1:])


def token_embedding(spec: TokenEmbeddingSpec, xs, masks):
    ids = np.asarray(xs[0]).astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= spec.vocabulary):
        raise RuntimeInputError(f"layer '{spec.name}': token ids must be in [0, {spec.vocabulary})")
    dtype = np.float64 if np.asarray(xs[0]).dtype.kind != "f" else xs[0].dtype
    return spec.table.astype(dtype)[ids]


def _nonzero(ids):
    """An Embedding(mask_zero=True) mask: the ids as given (float ids too) compared with 0."""
    return np.asarray(ids) != 0


def fold(spec: FoldSpec, xs, masks):
    """(batch, time, ...) -> (batch * time, ...), as both Keras versions run the wrapped
    layers; with ``mask_ids``, tf-keras's reshaped Embedding mask."""
    x = xs[0]
    folded = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])
    mask = _nonzero(xs[1]).reshape(folded.shape[:2]) if spec.mask_ids else None
    return folded, mask


def unfold(spec: UnfoldSpec, xs, masks):
    """(batch * time, ...) -> (batch, time, ...), the sizes read from the wrapper's input;
    the ``any_ids`` rule's (batch, time) mask (the handed-on ones are read by no layer)."""
    outer, y = xs[0], xs[1]
    mask = _nonzero(xs[2]).any(axis=-1) if spec.mask_rule == "any_ids" else None
    return y.reshape(outer.shape[0], outer.shape[1], *y.shape[1:]), mask


RUNNERS: dict[type, Callable] = {TimeDistributedSpec: time_distributed, TokenEmbeddingSpec: token_embedding}
FOLD_RUNNERS: dict[type, Callable] = {FoldSpec: fold, UnfoldSpec: unfold}
"""TimeDistributed's fold and unfold: ``(spec, xs, masks) -> (value, mask)`` (their masks follow
no feed-forward rule: spec/folds.py)."""
