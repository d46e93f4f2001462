"""Open any supported Keras file and return a :class:`RawModel`.

Formats are told apart by content (zip / HDF5 / JSON magic), not trusted suffixes, so a
renamed file still gets the right reader and a wrong file gets a one-line error. The files
the weights live in stay open in the returned model's ``resources`` (its weight handles read
from them when the spec stage has checked their declared shapes); close the model after parsing.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConversionError, ModelFileError
from . import guard
from .keras2_weights import MATCH_RULES, attach_keras2_weights
from .keras3_weights import attach_keras3_weights
from .raw import OP_MODULES, RawLayer, RawModel
from .topology import parse_topology
from .versions import resolve_version
from .weights import npz_weights

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


def _keras3_rule(match: str | None, source: object) -> None:
    """Keras 3 layouts have one rule, Keras's own: the object path."""
    if match is not None:
        raise ConversionError(f"{source}: --weights-match applies to Keras 2 HDF5 weights (layer_names / "
                              "weight_names); this file stores Keras 3 object paths, matched by path as Keras does")


def _attach_h5_weights(layers: tuple[RawLayer, ...], config: Mapping[str, Any], handle: Any,
                       source: object, match: str | None) -> tuple[RawLayer, ...]:
    """Weights from any Keras weights HDF5 layout (full model, Keras 2 or Keras 3 weights file),
    matched by Keras's rule for that layout unless ``match`` says otherwise."""
    if "model_weights" in handle:
        return attach_keras2_weights(layers, config, handle["model_weights"], source, match or "order")
    if "layer_names" in handle.attrs:
        return attach_keras2_weights(layers, config, handle, source, match or "order")
    if "layers" in handle:
        _keras3_rule(match, source)
        return attach_keras3_weights(layers, config, handle, source, check_names=False)
    raise ModelFileError(source, "no Keras weights found in this HDF5 file")


def _read_keras_archive(path: Path, stack: contextlib.ExitStack) -> tuple[dict, str | None, tuple[RawLayer, ...]]:
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
    if not isinstance(metadata, Mapping):
        raise ModelFileError(path, f"metadata.json must be a JSON object, got {type(metadata).__name__}")
    version = metadata.get("keras_version")
    model_class, name, layers, inputs, outputs = parse_topology(config, path)
    where = f"{path}: model.weights.h5"
    handle = stack.enter_context(guard.open_h5(io.BytesIO(weights_bytes), where))
    with guard.reading(where, "weights"):
        layers = attach_keras3_weights(layers, config, handle, where, check_names=True)
    return {"model_class": model_class, "name": name, "inputs": inputs, "outputs": outputs}, version, layers


def _read_h5_model(path: Path, match: str | None, stack: contextlib.ExitStack
                   ) -> tuple[dict, str | None, tuple[RawLayer, ...]]:
    handle = stack.enter_context(guard.open_h5(path, path))
    # the file stays open (in ``stack``): the layers' weight handles read from it
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
    if "model_weights" not in handle:
        raise ModelFileError(path, "the file has a model config but no 'model_weights' group")
    config = _mark_legacy_op_nodes(config, handle["model_weights"], version, path)
    model_class, name, layers, inputs, outputs = parse_topology(config, path)
    with guard.reading(path, "model_weights"):
        layers = attach_keras2_weights(layers, config, handle["model_weights"], path, match or "order")
    return {"model_class": model_class, "name": name, "inputs": inputs, "outputs": outputs}, version, layers


def _mark_legacy_op_nodes(config: Any, weights_group: Any, version: str | None, path: Path) -> Any:
    """Keras 3's legacy .h5 writer keeps the op nodes of a functional graph (NotEqual,
    LogicalOr, the op Concatenate of a mask ...) but drops their module, which is what tells an
    op from a layer of the same class name. They are the top-level entries missing from the
    file's own ``layer_names`` (``model.layers``, which never lists ops): their module is put
    back. (Keras 3 itself fails to reload such a file: "Unknown layer: 'NotEqual'".)"""
    if not (version or "").startswith("3.") or not isinstance(config, Mapping):
        return config
    inner = config.get("config")
    if not isinstance(inner, Mapping) or not isinstance(inner.get("layers"), list):
        return config
    listed = set(guard.attr_texts(guard.h5_attr(weights_group, "layer_names", path, []), path,
                                  "attribute 'layer_names'"))

    def is_op(entry: Any) -> bool:
        if not isinstance(entry, Mapping) or entry.get("module") or entry.get("class_name") == "InputLayer":
            return False
        entry_config = entry.get("config")
        name = entry.get("name") or (entry_config.get("name") if isinstance(entry_config, Mapping) else None)
        return isinstance(name, str) and bool(listed) and name not in listed

    layers = [{**entry, "module": OP_MODULES[0]} if is_op(entry) else entry for entry in inner["layers"]]
    return {**config, "config": {**inner, "layers": layers}}


def _read_json_model(path: Path, weights: Path | None, match: str | None, stack: contextlib.ExitStack
                     ) -> tuple[dict, str | None, tuple[RawLayer, ...], tuple | None]:
    config = _json(guard.read_file(path, "max_config_bytes", path, "the config file"), path, "the config file")
    version = config.get("keras_version") if isinstance(config, Mapping) else None
    model_class, name, layers, inputs, outputs = parse_topology(config, path)
    if weights is None:
        raise ModelFileError(path, "a JSON config carries no weights: pass --weights W.npz or W.h5")
    kind = detect_weights_format(weights)
    flat = None
    if kind == "npz":
        if match is not None:
            raise ConversionError(f"{weights}: --weights-match applies to HDF5 weights; an .npz is positional")
        flat = tuple(npz_weights(stack.enter_context(guard.open_zip(weights, weights)), weights))
    else:
        handle = stack.enter_context(guard.open_h5(weights, weights))
        with guard.reading(weights, "HDF5 weights"):
            layers = _attach_h5_weights(layers, config, handle, weights, match)
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
                   keras_version: int | None = None, weights_match: str | None = None) -> RawModel:
    """Read ``path`` (and ``weights`` for a JSON config) without importing Keras.

    ``weights_match`` (``"order"`` or ``"name"``) overrides how a Keras 2 HDF5 weights layout
    is paired with the config's layers; by default Keras's own rule for the file kind applies
    (by order for HDF5 ``layer_names`` layouts, by object path for Keras 3 layouts).

    The weights are handles on files the returned model keeps open: ``with load_raw_model(...)
    as raw: spec = parse_model(raw)`` closes them."""
    if weights_match is not None and weights_match not in MATCH_RULES:
        raise ConversionError(f"weights_match must be one of {', '.join(MATCH_RULES)}, not {weights_match!r}")
    path = Path(path)
    weights_path = Path(weights) if weights is not None else None
    fmt = detect_format(path)
    flat = None
    if fmt != "json" and weights_path is not None:
        raise ConversionError(f"{path}: --weights is only for JSON configs; this file carries its own weights")
    stack = contextlib.ExitStack()  # the open weight files, handed to the model (or closed on error)
    try:
        if fmt == "keras":
            _keras3_rule(weights_match, path)
            info, version, layers = _read_keras_archive(path, stack)
        elif fmt == "h5":
            info, version, layers = _read_h5_model(path, weights_match, stack)
        else:
            info, version, layers, flat = _read_json_model(path, weights_path, weights_match, stack)
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
            resources=stack,
            **info,
        )
    except BaseException:
        stack.close()
        raise
