"""Open any supported Keras file and return a :class:`RawModel`.

Formats are told apart by content (zip / HDF5 / JSON magic), not trusted suffixes, so a
renamed file still gets the right reader and a wrong file gets a one-line error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ConversionError, ModelFileError
from . import guard
from .keras3_weights import attach_keras3_weights
from .raw import RawLayer, RawModel
from .topology import parse_topology
from .versions import resolve_version
from .weights import (
    keras2_weights_by_layer,
    read_npz_weights,
)

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def detect_format(path: Path) -> str:
    """``"keras"``, ``"h5"`` or ``"json"`` from the file's first bytes."""
    if not path.exists():
        raise ModelFileError(path, "file not found")
    if path.is_dir():
        raise ModelFileError(path, "is a directory, not a model file")
    with path.open("rb") as handle:
        head = handle.read(64)
    if not head:
        raise ModelFileError(path, "file is empty")
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head.startswith(HDF5_MAGIC):
        return "h5"
    if head.lstrip().startswith(b"{"):
        return "json"
    raise ModelFileError(path, "not a Keras model file (expected a .keras archive, an .h5 file or a JSON config)")


def _json(data: bytes | str, source: object, what: str) -> Any:
    return guard.load_json(data, source, what)


def _attach_keras2_weights(layers: tuple[RawLayer, ...], root: Any, source: object) -> tuple[RawLayer, ...]:
    by_layer = keras2_weights_by_layer(root, source)
    result = []
    for layer in layers:
        key = layer.weights_from or layer.name
        if layer.nested_in and layer.nested_in[0] in by_layer:
            # a nested model's weights sit in its own group, named "<inner layer>/..."
            arrays, names = by_layer[layer.nested_in[0]]
            prefix = "/".join([*layer.nested_in[1:], (layer.weights_from or layer.name).rsplit("/", 1)[-1]]) + "/"
            picked = [(a, n) for a, n in zip(arrays, names, strict=True) if n.startswith(prefix)]
            layer = replace(layer, weights=tuple(a for a, _ in picked), weight_names=tuple(n for _, n in picked))
        elif key in by_layer:
            arrays, names = by_layer[key]
            layer = replace(layer, weights=tuple(arrays), weight_names=tuple(names))
        result.append(layer)
    return tuple(result)


def _attach_h5_weights(layers: tuple[RawLayer, ...], config: Mapping[str, Any], handle: Any,
                       source: object) -> tuple[RawLayer, ...]:
    """Weights from any Keras weights HDF5 layout (full model, Keras 2 or Keras 3 weights file)."""
    if "model_weights" in handle:
        return _attach_keras2_weights(layers, handle["model_weights"], source)
    if "layer_names" in handle.attrs:
        return _attach_keras2_weights(layers, handle, source)
    if "layers" in handle:
        return attach_keras3_weights(layers, config, handle, source, check_names=False)
    raise ModelFileError(source, "no Keras weights found in this HDF5 file")


def _read_keras_archive(path: Path) -> tuple[dict, str | None, tuple[RawLayer, ...]]:
    try:
        with guard.open_zip(path, path) as archive:
            names = set(archive.namelist())
            for required in ("config.json", "model.weights.h5"):
                if required not in names:
                    raise ModelFileError(path, f"not a Keras 3 archive: '{required}' is missing")
            config = _json(guard.read_zip_entry(archive, "config.json", "max_config_bytes", path), path, "config.json")
            metadata = (_json(guard.read_zip_entry(archive, "metadata.json", "max_config_bytes", path), path,
                              "metadata.json") if "metadata.json" in names else {})
            weights_bytes = guard.read_zip_entry(archive, "model.weights.h5", "max_weights_bytes", path)
    except ModelFileError as exc:
        if "unreadable" not in str(exc):
            raise
        raise ModelFileError(path, f"corrupt or truncated .keras archive ({str(exc).split(': ', 1)[-1]})") from None
    version = metadata.get("keras_version") if isinstance(metadata, Mapping) else None
    model_class, name, layers, inputs, outputs = parse_topology(config, path)
    where = f"{path}: model.weights.h5"
    with guard.open_h5(io.BytesIO(weights_bytes), where) as handle, guard.reading(where, "weights"):
        layers = attach_keras3_weights(layers, config, handle, where, check_names=True)
    return {"model_class": model_class, "name": name, "inputs": inputs, "outputs": outputs}, version, layers


def _read_h5_model(path: Path) -> tuple[dict, str | None, tuple[RawLayer, ...]]:
    with guard.open_h5(path, path) as handle:
        raw_config = guard.h5_attr(handle, "model_config", path)
        if raw_config is None:
            if "layer_names" in handle.attrs or "layers" in handle:
                raise ModelFileError(
                    path, "weights-only file (no model config): "
                    "pass the config JSON as MODEL and this file with --weights")
            raise ModelFileError(path, "HDF5 file is not a Keras model (no 'model_config' attribute)")
        config = _json(guard.attr_text(raw_config, path, "attribute 'model_config'"), path, "model_config")
        version = guard.h5_attr(handle, "keras_version", path)
        version = guard.attr_text(version, path, "attribute 'keras_version'") if version is not None else None
        model_class, name, layers, inputs, outputs = parse_topology(config, path)
        if "model_weights" not in handle:
            raise ModelFileError(path, "the file has a model config but no 'model_weights' group")
        with guard.reading(path, "model_weights"):
            layers = _attach_keras2_weights(layers, handle["model_weights"], path)
    return {"model_class": model_class, "name": name, "inputs": inputs, "outputs": outputs}, version, layers


def _read_json_model(path: Path, weights: Path | None) -> tuple[dict, str | None, tuple[RawLayer, ...], tuple | None]:
    config = _json(guard.read_file(path, "max_config_bytes", path, "the config file"), path, "the config file")
    version = config.get("keras_version") if isinstance(config, Mapping) else None
    model_class, name, layers, inputs, outputs = parse_topology(config, path)
    if weights is None:
        raise ModelFileError(path, "a JSON config carries no weights: pass --weights W.npz or W.h5")
    kind = detect_weights_format(weights)
    flat = None
    if kind == "npz":
        flat = tuple(read_npz_weights(weights))
    else:
        with guard.open_h5(weights, weights) as handle, guard.reading(weights, "HDF5 weights"):
            layers = _attach_h5_weights(layers, config, handle, weights)
    info = {"model_class": model_class, "name": name, "inputs": inputs, "outputs": outputs}
    return info, version, layers, flat


def detect_weights_format(path: Path) -> str:
    """``"npz"`` or ``"h5"`` for a ``--weights`` file."""
    if not path.exists():
        raise ModelFileError(path, "weights file not found")
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise ModelFileError(path, "weights file is empty")
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if head.startswith(HDF5_MAGIC):
        return "h5"
    raise ModelFileError(path, "weights must be an .npz (np.savez of get_weights()) or a Keras weights .h5")


def load_raw_model(path: str | os.PathLike, weights: str | os.PathLike | None = None,
                   keras_version: int | None = None) -> RawModel:
    """Read ``path`` (and ``weights`` for a JSON config) without importing Keras."""
    path = Path(path)
    weights_path = Path(weights) if weights is not None else None
    fmt = detect_format(path)
    flat = None
    if fmt != "json" and weights_path is not None:
        raise ConversionError(f"{path}: --weights is only for JSON configs; this file carries its own weights")
    if fmt == "keras":
        info, version, layers = _read_keras_archive(path)
    elif fmt == "h5":
        info, version, layers = _read_h5_model(path)
    else:
        info, version, layers, flat = _read_json_model(path, weights_path)
        fmt = f"json+{detect_weights_format(weights_path)}" if weights_path else "json"
    if version is not None and not isinstance(version, str):
        raise ModelFileError(path, f"keras_version must be a string, got {type(version).__name__}")
    version, major = resolve_version(version, keras_version, path)
    return RawModel(
        source=path,
        format=fmt,
        keras_version=version,
        keras_major=major,
        layers=layers,
        flat_weights=flat,
        **info,
    )
