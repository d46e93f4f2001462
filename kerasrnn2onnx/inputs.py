"""Model inputs: seeded ones for ``verify``, ones read from an ``.npz`` (``verify --inputs``,
``run --inputs``), and the shape check against what the model declares."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError, RuntimeInputError
from .io import guard
from .io.guard import current_limits
from .spec import ModelSpec
from .spec.folds import FoldSpec
from .spec.types import EmbeddingSpec
from .spec.wrappers import TimeDistributedSpec, TokenEmbeddingSpec


def make_inputs(spec: ModelSpec, batch: int = 2, timesteps: int = 7, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs; dimensions the model fixes are respected. Float inputs are standard
    normal; token inputs are uniform ids of the Embedding they feed (0 included, so
    ``mask_zero`` masks some steps)."""
    rng = np.random.default_rng(seed)
    vocab = {layer.inputs[0].layer: layer.input_dim for layer in spec.layers if isinstance(layer, EmbeddingSpec)}
    arrays = []
    for inp in spec.inputs:
        b = inp.batch if inp.batch is not None else batch
        t = inp.timesteps if inp.timesteps is not None else timesteps
        if inp.kind == "tensor":
            shape = (b, t, *(d if d is not None else 5 for d in inp.dims[1:]))
            if inp.dtype == "float32":
                arrays.append(rng.standard_normal(shape).astype(np.float32))
            else:
                arrays.append(rng.integers(0, _tensor_vocab(spec, inp.name), size=shape).astype(inp.dtype))
        elif inp.features is None:
            arrays.append(rng.integers(0, vocab.get(inp.name, 2), size=(b, t)).astype(inp.dtype))
        else:
            arrays.append(rng.standard_normal((b, t, inp.features)).astype(np.float32))
    return arrays


_VOCABULARY: dict[type, Callable[[Any], int | None]] = {
    EmbeddingSpec: lambda layer: layer.input_dim,
    TokenEmbeddingSpec: lambda layer: layer.vocabulary,
    TimeDistributedSpec: lambda layer: _vocabulary(layer.chain[0][0]),
}


def _vocabulary(layer: Any) -> int | None:
    """The vocabulary of an Embedding, or of a TimeDistributed wrapper's first layer."""
    read = _VOCABULARY.get(type(layer))
    return read(layer) if read is not None else None


def _tensor_vocab(spec: ModelSpec, name: str) -> int:
    """Token ids for an input of rank 3+ read by an Embedding (inside TimeDistributed, or after
    the fold of a TimeDistributed model, spec/folds.py): below its vocabulary."""
    readers = {name}  # the input, and the folds of it
    for layer in spec.layers:
        if not layer.inputs or layer.inputs[0].layer not in readers:
            continue
        if isinstance(layer, FoldSpec):
            readers.add(layer.name)
            continue
        vocab = _vocabulary(layer)
        if vocab is not None:
            return int(vocab)
    return 2


def read_inputs(spec: ModelSpec, path: str | os.PathLike) -> list[np.ndarray]:
    """Inputs from an ``.npz``: keyed by input name, or positional (``arr_0``...)."""
    arrays = load_npz_inputs(path, [inp.name for inp in spec.inputs])
    return [_as_input_dtype(array, inp.dtype, inp.name, path) for array, inp in zip(arrays, spec.inputs, strict=True)]


def _as_input_dtype(array: np.ndarray, dtype: Any, name: str, source: object) -> np.ndarray:
    """Cast to the input's dtype; token ids must be whole finite numbers (a NaN id has no meaning)."""
    if np.dtype(dtype).kind in "iu" and array.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(array) & (array == np.round(array))
        if not bool(whole.all()):
            raise RuntimeInputError(f"{source}: input '{name}' holds token ids, but has {int((~whole).sum())} "
                                    "non-integer or non-finite value(s)")
    return array.astype(dtype)


def load_npz_inputs(path: str | os.PathLike, names: Sequence[str]) -> list[np.ndarray]:
    """One array per input, found by input name, ``arr_<i>`` (``np.savez`` positional) or
    ``c0_in<i>`` (the fixtures' first case)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "inputs file not found")
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise ModelFileError(path, "inputs must be an .npz (np.savez of the input arrays)")
    stored = guard.read_npz(path, path, "inputs .npz")
    arrays = []
    for i, name in enumerate(names):
        for key in (name, f"arr_{i}", f"c0_in{i}"):
            if key in stored:
                arrays.append(stored[key])
                break
        else:
            raise RuntimeInputError(f"{path}: no array for input '{name}' (keys: {', '.join(stored)})")
    return arrays


def check_inputs(spec: ModelSpec, arrays: Sequence[np.ndarray], any_batch_and_time: bool = False) -> None:
    """Each array has the rank and the fixed dims of its model input: the one input shape
    check (and message) of the verify path. ``any_batch_and_time``: the batch and time dims
    may differ from fixed ones (the NumPy reference runs a stateful model's whole sequence
    at once, or any batch)."""
    for inp, array in zip(spec.inputs, arrays, strict=True):
        expected = inp.shape
        checked = list(expected)
        if any_batch_and_time:
            checked[: 1 if inp.kind == "vector" else 2] = [None] * (1 if inp.kind == "vector" else 2)
        if array.ndim != inp.rank or any(e is not None and e != a for e, a in zip(checked, array.shape, strict=True)):
            shown = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
            raise RuntimeInputError(f"input '{inp.name}' has shape {array.shape}, the model expects {shown}")


def verify_inputs(spec: ModelSpec, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | str | os.PathLike | None,
                  batch: int, timesteps: int, seed: int) -> tuple[list[np.ndarray], str]:
    """The arrays ``verify`` runs (given, read from an ``.npz``, or seeded) and how they were
    made; shapes and sizes checked before the reference spends anything on them."""
    arrays: list[np.ndarray]
    if inputs is None:
        check_verify_size(spec, batch, timesteps, None)
        arrays = make_inputs(spec, batch, timesteps, seed)
        cases = f"generated (seed {seed})"
    elif isinstance(inputs, (str, os.PathLike)):
        arrays = read_inputs(spec, inputs)
        cases = str(inputs)
    elif isinstance(inputs, Mapping):
        arrays = [np.asarray(inputs[i.name], dtype=i.dtype) for i in spec.inputs]
        cases = "given"
    else:
        given = list(inputs)
        if len(given) != len(spec.inputs):
            raise RuntimeInputError(f"expected {len(spec.inputs)} input(s), got {len(given)}")
        arrays = [np.asarray(a, dtype=i.dtype) for a, i in zip(given, spec.inputs, strict=True)]
        cases = "given"
    check_inputs(spec, arrays)
    check_verify_size(spec, batch, timesteps, arrays)
    return arrays, cases


def check_verify_size(spec: ModelSpec, batch: int, timesteps: int, arrays: Sequence[np.ndarray] | None,
                      command: str = "verify") -> None:
    """Refuse inputs the float64 reference cannot run in reasonable time and memory, before
    any array is made (or, for given arrays, before the reference runs): it loops over time
    in Python and holds every layer's sequence."""
    limits = current_limits()
    for index, inp in enumerate(spec.inputs):
        if arrays is not None:
            shape = arrays[index].shape
            b, t = (shape[0] if shape else 1), (shape[1] if len(shape) > 1 and inp.kind != "vector" else 1)
        else:
            b = inp.batch if inp.batch is not None else batch
            t = 1 if inp.kind == "vector" else (inp.timesteps if inp.timesteps is not None else timesteps)
        if t > limits.max_verify_timesteps:
            raise RuntimeInputError(f"{command}: {t:,} timesteps for input '{inp.name}' is over the limit "
                                    f"{limits.max_verify_timesteps:,} (raise it with --max-verify-timesteps)")
        values = b * t * (inp.features or 1)
        if values > limits.max_verify_values:
            raise RuntimeInputError(f"{command}: input '{inp.name}' of batch {b:,} x {t:,} timesteps x "
                                    f"{inp.features or 1} features is {values:,} values, over the limit "
                                    f"{limits.max_verify_values:,} (raise it with --max-verify-values)")
