"""Specs of the feed-forward layers that surround recurrent layers in real models.

Each acts on the last (feature) axis unless it says otherwise, and states how it treats a
Keras mask (``mask``: "pass" keeps the input's mask, "drop" ends it, "consume" uses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from .activation_layers import AffineSpec, ELUSpec, PReLUSpec, ReLUSpec, SoftmaxSpec, UnitNormSpec
from .activations import ActivationSpec
from .attention import AttentionSpec, MultiHeadAttentionSpec
from .conv import ConvSpec, GlobalPoolSpec, PadCropSpec, PermuteNDSpec, PoolSpec, UpSamplingSpec
from .conv_rnn import ConvFramesSpec, ConvStateFlattenSpec, ConvUnflattenSequenceSpec, ConvUnflattenSpec
from .dot import DotSpec
from .folds import FoldSpec, UnfoldSpec
from .node import Node
from .tfops import TFOpSpec
from .types import LayerSpec, Ref
from .wrappers import TimeDistributedSpec, TokenEmbeddingSpec


@dataclass(frozen=True, eq=False)
class DenseSpec(Node):
    """``Dense`` (also inside ``TimeDistributed``): ``activation(x·kernel + bias)``; passes the mask."""

    name: str
    inputs: tuple[Ref, ...]
    units: int
    activation: ActivationSpec
    kernel: np.ndarray
    bias: np.ndarray | None
    mask = "pass"

    def describe(self) -> str:
        return f"Dense({self.units}, activation={self.activation.describe()})"


@dataclass(frozen=True, eq=False)
class ActivationLayerSpec(Node):
    """``Activation``: the activation alone; passes the mask."""

    name: str
    inputs: tuple[Ref, ...]
    activation: ActivationSpec
    mask = "pass"

    def describe(self) -> str:
        return f"Activation({self.activation.describe()})"


@dataclass(frozen=True, eq=False)
class IdentityLayerSpec(Node):
    """Layers that do nothing at inference (Dropout and its kin); passes the mask."""

    name: str
    inputs: tuple[Ref, ...]
    class_name: str
    # Dropout and its kin support masking in both versions; tf-keras's Identity does not, nor
    # do an identity Permute or a Flatten of a rank-2 tensor: "drop" there
    mask: str = "pass"

    def describe(self) -> str:
        return f"{self.class_name} (identity at inference)"


@dataclass(frozen=True, eq=False)
class MergeSpec(Node):
    """``Concatenate`` (along ``axis``) or an elementwise merge (add, subtract, multiply,
    average, maximum, minimum). Masks differ by version (base_merge.py and concatenate.py
    ``compute_mask``): tf-keras keeps a step all masked inputs keep (unmasked inputs left out);
    Keras 3 keeps a step any input keeps, and gives no mask at all when one input has none
    (``any_or_none``). Concatenate along time joins the masks in time (spec/masks.py)."""

    name: str
    inputs: tuple[Ref, ...]
    op: str
    axis: int = -1
    any_or_none: bool = False  # Keras 3's rule for the elementwise merges
    mask = "merge"

    @property
    def reads_masks(self) -> bool:
        """Keras 3's Multiply, Maximum and Minimum change masked steps' values
        (spec/masks.py ``keras3_masked_merge``)."""
        return self.any_or_none and self.op in ("multiply", "maximum", "minimum")

    @property
    def joins_time(self) -> bool:
        """Concatenate(axis=1) of sequences: their time axes are joined."""
        return self.op == "concatenate" and self.axis == 1 and bool(self.out) and self.out[0].rank == 3

    def output_time(self, index: int, time: Any, rank: int) -> Any:
        """Sequences joined in time have a time dim of their own: the sum of fixed lengths
        (the parser's ``steps``), else a new dynamic one."""
        if self.op == "concatenate" and self.axis == 1 and rank == 3:
            return self.out[index].steps if self.out else None
        return super().output_time(index, time, rank)

    def describe(self) -> str:
        return f"{self.op}" + (f"(axis={self.axis})" if self.op == "concatenate" else "")


@dataclass(frozen=True, eq=False)
class RepeatVectorSpec(Node):
    """``RepeatVector(n)``: (batch, features) -> (batch, n, features)."""

    name: str
    inputs: tuple[Ref, ...]
    n: int
    mask = "drop"

    def out_time(self, time: Any) -> Any:
        return self.n

    def describe(self) -> str:
        return f"RepeatVector({self.n})"


@dataclass(frozen=True, eq=False)
class GlobalPool1DSpec(Node):
    """``GlobalAveragePooling1D`` (masked steps excluded from the mean, as Keras does) or
    ``GlobalMaxPooling1D`` (Keras ignores the mask there)."""

    name: str
    inputs: tuple[Ref, ...]
    op: str  # "max" | "average"
    mask = "consume"

    def describe(self) -> str:
        return f"global_{self.op}_pooling1d"


@dataclass(frozen=True, eq=False)
class NormalizationSpec(Node):
    """``BatchNormalization`` (inference: moving statistics) or ``LayerNormalization``
    (statistics of each step's features), over the last axis; passes the mask."""

    name: str
    inputs: tuple[Ref, ...]
    kind: str  # "batch" | "layer"
    epsilon: float
    gamma: np.ndarray | None
    beta: np.ndarray | None
    moving_mean: np.ndarray | None = None
    moving_variance: np.ndarray | None = None
    rms_scaling: bool = False
    mask = "pass"

    def describe(self) -> str:
        return f"{self.kind.capitalize()}Normalization(epsilon={self.epsilon:g})"


@dataclass(frozen=True, eq=False)
class FlattenSpec(Node):
    """``Flatten``: (batch, time, features) -> (batch, time*features); needs a fixed time."""

    name: str
    inputs: tuple[Ref, ...]
    mask = "drop"

    def describe(self) -> str:
        return "Flatten"


@dataclass(frozen=True, eq=False)
class ReshapeSpec(Node):
    """``Reshape(target_shape)`` of the non-batch axes (rank 2 or 3 results); ends the mask."""

    name: str
    inputs: tuple[Ref, ...]
    target_shape: tuple[int, ...]
    mask = "drop"

    def out_time(self, time: Any) -> Any:
        return self.target_shape[0] if len(self.target_shape) >= 2 and self.target_shape[0] > 0 else None

    def describe(self) -> str:
        return f"Reshape({self.target_shape})"


@dataclass(frozen=True, eq=False)
class PermuteSpec(Node):
    """``Permute(dims)`` of a (batch, time, features) tensor: (2, 1) swaps time and features."""

    name: str
    inputs: tuple[Ref, ...]
    dims: tuple[int, ...]
    steps: int | None = None  # the output's timesteps: the input's feature width for (2, 1)
    mask = "drop"

    def describe(self) -> str:
        return f"Permute({self.dims})"

    def out_time(self, time: int | str | None) -> int | str | None:
        """(2, 1) makes the static feature axis the time axis, so the time is fixed after it
        (OpenCV's target unrolls only a fixed time)."""
        return self.steps if self.dims == (2, 1) else time


FeedForwardSpec = (ReshapeSpec | PermuteSpec | DenseSpec | ActivationLayerSpec | IdentityLayerSpec | MergeSpec
                   | RepeatVectorSpec | GlobalPool1DSpec | NormalizationSpec | FlattenSpec
                   # families in their own modules
                   | ConvSpec | PoolSpec | GlobalPoolSpec | PadCropSpec | UpSamplingSpec | PermuteNDSpec
                   | ReLUSpec | ELUSpec | PReLUSpec | SoftmaxSpec | UnitNormSpec | AffineSpec
                   | TimeDistributedSpec | TokenEmbeddingSpec | DotSpec | TFOpSpec
                   | AttentionSpec | MultiHeadAttentionSpec | ConvFramesSpec | ConvUnflattenSpec
                   | ConvUnflattenSequenceSpec | ConvStateFlattenSpec)
"""A layer around recurrent layers (its computation is in reference/layers.py and lowering/layers.py)."""
FEED_FORWARD: tuple[type, ...] = get_args(FeedForwardSpec)

AnyLayerSpec = LayerSpec | FeedForwardSpec | FoldSpec | UnfoldSpec
"""Any entry of :attr:`ModelSpec.layers <kerasrnn2onnx.spec.types.ModelSpec.layers>` (TimeDistributed's
fold and unfold make masks of their own: no feed-forward rule says how, spec/folds.py)."""
