"""Fixture sets of issue 14's remaining layer features: Softmax with a mask, TimeDistributed of a
functional model, TimeDistributed(Embedding(mask_zero=True)), user-named attention layers with
trained-looking weights, and Normalization adapted on data.

Imported by make_fixtures.py, which passes its ``Fx``, ``lay`` and ``Inputs`` in (this module
imports no Keras itself; every ``build`` receives the running Keras). Layers carry user-chosen
names with dashes, two layers of one class, names reused across nested models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# --------------------------------------------------------------------------
# Softmax with a mask
# --------------------------------------------------------------------------


def softmax_mask_inputs(cases: tuple = ((3, 4), (2, 6))) -> Callable:
    """scores (batch, T, 5) normal; keep (batch, T, 5) in {0, 0.25, 0.75, 1} (Keras 3 keeps
    > 0.5, tf-keras adds (1 - keep) * -1e9: the two versions differ on 0.25 / 0.75) with one
    fully masked step in case 0; step_keep (batch, 1, 5) 0/1 with one all-zero row."""
    def make(fx: Any, rng: Any) -> list:

        out = []
        for c, (b, t) in enumerate(cases):
            x = (rng.standard_normal((b, t, 5)) * 2).astype("float32")
            keep = rng.choice([0.0, 0.25, 0.75, 1.0], size=(b, t, 5), p=[0.3, 0.1, 0.1, 0.5]).astype("float32")
            step = (rng.uniform(size=(b, 1, 5)) > 0.4).astype("float32")
            if c == 0:
                keep[0, 1] = 0.0
                step[1] = 0.0
                keep[2, 0] = 1.0
            out.append([x, keep, step])
        return out
    return make


def g_softmax_mask(k3: bool) -> Callable:
    def build(keras: Any):
        L = keras.layers
        x = keras.Input((None, 5), name="scores")
        keep = keras.Input((None, 5), name="keep")
        step = keras.Input((1, 5), name="step_keep")
        probs = L.Softmax(name="attn-probs")(x, mask=keep)
        over_time = L.Softmax(axis=1, name="time-probs")(x, mask=step)  # (batch, 1, 5) broadcast over time
        # the mask Keras hands on: ReLU passes `keep` to the next Softmax, which reads it implicitly
        sharpened = L.ReLU(name="sharpen")(L.Rescaling(3.0, name="temperature")(probs))
        joint = L.Softmax(axis=[1, 2], name="joint-probs")(sharpened)
        mixed = L.Dense(3, name="mix")(probs)
        outs = [probs, over_time, joint, mixed]
        if k3:  # a boolean mask from an op (Keras 3 records keras.ops.not_equal as a NotEqual layer)
            outs.append(L.Softmax(name="bool-probs")(x, mask=keras.ops.not_equal(step, 0.0)))
        return [x, keep, step], outs
    return build


def softmax_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    k3 = prefix == "k3"
    rule = ("Keras 3: where(mask > 0.5, x, -1e9), softmax, zeros where masked (a fully masked row is 0)" if k3 else
            "tf-keras: x + (1 - mask) * -1e9 in float32, softmax (a fully masked row is uniform; 0.25 / 0.75 "
            "mask values are both masked)")
    return [
        Fx(f"{prefix}_softmax_mask", [],
           "functional scores (None, 5), keep (None, 5) float mask in {0, .25, .75, 1}, step_keep (1, 5): "
           "Softmax(name='attn-probs')(x, mask=keep); Softmax(axis=1)(x, mask=step_keep) (broadcast over time); "
           "Rescaling(3) -> ReLU -> Softmax(axis=[1, 2]) reading keep as the mask Keras hands on; Dense(3) of "
           "the masked probabilities" + ("; Softmax(x, mask=keras.ops.not_equal(step_keep, 0))" if k3 else "")
           + "; " + rule, fmt=fmt, api="functional", build=g_softmax_mask(k3),
           inputs=Inputs(softmax_mask_inputs(), ("softmax_mask", "multi_input")), tags=("layer_family",)),
    ]


def all_sets(prefix: str, fmt: str, Fx: Any, lay: Callable, Inputs: Any) -> list:
    return [*softmax_sets(prefix, fmt, Fx, lay, Inputs)]
