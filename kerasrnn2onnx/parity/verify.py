"""Running a converted model once on a runtime, for ``verify``'s comparison."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import onnx


def run_onnx(proto: onnx.ModelProto, arrays: Sequence[np.ndarray], provider: str = "cpu",
             runtime: str = "onnxruntime") -> list[np.ndarray]:
    """The model's outputs from one call on ``runtime`` (onnxruntime on ``provider``, or one of
    the adapters in :mod:`kerasrnn2onnx.runtime.runtimes`). State inputs of a stateful model
    start from zeros, as in Keras's first call."""
    if runtime == "onnxruntime":
        from ..runtime import Session

        return Session(proto, provider).run(list(arrays))
    from ..runtime.runtimes import load_on

    loaded = load_on(runtime, proto.SerializeToString())
    try:
        feeds = dict(zip(loaded.input_names, arrays, strict=False))
        states = json.loads({p.key: p.value for p in proto.metadata_props}.get("states", "[]"))
        batch = arrays[0].shape[0] if arrays else 1
        for entry in states:
            feeds[entry["input"]] = np.zeros((batch, entry["width"]), np.float32)
        state_outputs = {entry["output"] for entry in states}
        outputs = loaded.run(feeds)
        return [o for name, o in zip(loaded.output_names, outputs, strict=True) if name not in state_outputs]
    finally:
        loaded.close()
