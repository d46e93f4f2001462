"""Read weight arrays from the layouts Keras writes, in each layer's ``get_weights()`` order.

Keras 3 stores variables by object path (``layers/<layer>/cell/vars/0``); Keras 2 stores
them under each layer group with the order in its ``weight_names`` attribute; ``.npz``
files hold ``get_weights()`` positionally. Readers return :class:`~.handles.WeightHandle`
values (declared shape and dtype, data not read yet): the spec stage checks them against the
config before reading.
"""

from __future__ import annotations

import re
import zipfile
from typing import Any

from ..errors import ModelFileError
from . import guard
from .handles import WeightHandle

try:  # h5py is a base dependency; the guard only gives a clearer message when it is broken.
    import h5py  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise ImportError("kerasrnn2onnx needs h5py: pip install h5py") from exc


def keras2_group_weights(group: Any, source: object) -> tuple[list[WeightHandle], list[str]]:
    """Weights of one Keras 2 layer group, ordered by its ``weight_names`` attribute."""
    names = guard.attr_texts(guard.h5_attr(group, "weight_names", source, []), source,
                             f"attribute 'weight_names' of '{group.name}'")
    arrays = []
    for name in names:
        if name not in group:
            raise ModelFileError(source, f"weight '{name}' listed for layer '{group.name}' is missing")
        arrays.append(guard.h5_weight(group[name], source))
    return arrays, names


def keras2_weights_by_layer(root: Any, source: object) -> dict[str, tuple[list[WeightHandle], list[str]]]:
    """``{layer_name: (arrays, names)}`` from a Keras 2 ``model_weights`` group or weights file."""
    layer_names = guard.attr_texts(guard.h5_attr(root, "layer_names", source, []), source, "attribute 'layer_names'")
    result = {}
    for name in layer_names:
        if name not in root:
            raise ModelFileError(source, f"weights of layer '{name}' are listed but missing")
        result[name] = keras2_group_weights(root[name], source)
    return result


def npz_weights(archive: zipfile.ZipFile, source: object) -> list[WeightHandle]:
    """Handles on the arrays of an ``np.savez(path, *model.get_weights())`` file (kept open by
    the caller), in positional order."""
    data = guard.npz_handles(archive, source, "weights .npz")
    keys = list(data)
    positional = [k for k in keys if re.fullmatch(r"arr_\d+", k)]
    if len(positional) == len(keys):
        keys = sorted(keys, key=lambda k: int(k[4:]))
    return [data[k] for k in keys]
