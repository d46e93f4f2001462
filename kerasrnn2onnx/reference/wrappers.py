"""NumPy forms of TimeDistributed (fold time into the batch, run the wrapped layer, unfold)
and of Embedding over ids of any rank."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import RuntimeInputError
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


RUNNERS: dict[type, Callable] = {TimeDistributedSpec: time_distributed, TokenEmbeddingSpec: token_embedding}
