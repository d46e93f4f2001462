"""Running a converted model once in onnxruntime, for ``verify``'s comparison."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx


def run_onnx(proto: onnx.ModelProto, arrays: Sequence[np.ndarray], provider: str = "cpu") -> list[np.ndarray]:
    """The model's outputs from one onnxruntime call (state inputs of a stateful model start
    from zeros, as in Keras's first call)."""
    from ..runtime import Session

    return Session(proto, provider).run(list(arrays))
