"""Property: whatever a mutated model file holds, the converter keeps its contract.

Committed real-Keras fixtures are mutated (bytes flipped or cut, zip entries dropped,
renamed, replaced or recompressed, JSON values replaced by values of other types, HDF5
attributes rewritten, datasets given other shapes and dtypes) and converted in-process
through the CLI's ``main``. Each result must be exit 0 with an ONNX file that passes the
full checker, or exit 2 with one line on stderr and no output file: never exit 3, never
30 s (SIGALRM), never a process over 3 GiB of resident memory.

Profiles (registered in conftest.py): ``default`` (about a minute, derandomized so CI
is stable) and ``long`` (``pytest --hypothesis-profile long`` or
``KERASRNN2ONNX_HYPOTHESIS_PROFILE=long``) for a real search.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import shutil
import signal
import sys
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kerasrnn2onnx.cli import main

from ..conftest import FIXTURES

SECONDS = 30
MEMORY = 3 << 30
OUTCOMES: Counter[str] = Counter()


@dataclass(frozen=True)
class Seed:
    name: str
    model: str
    weights: str | None = None


SEEDS = [
    Seed("k3_lstm", "k3_lstm.keras"),
    Seed("k3_two_input", "k3_two_input.keras"),
    Seed("k3_bidi_concat", "k3_bidi_concat.keras"),
    Seed("k2_lstm", "k2_lstm.h5"),
    Seed("k2_nested_model", "k2_nested_model.h5"),
    Seed("k2_json_weights_h5", "k2_json_weights_h5.json", "k2_json_weights_h5.weights.h5"),
    Seed("k2_json_npz", "k2_json_npz.json", "k2_json_npz.npz"),
    Seed("k3_json_model_weights", "k3_json_model_weights.json", "k3_json_model_weights.weights.h5"),
    # layers whose arguments are numbers and lists (Rescaling, Normalization, PReLU, Softmax axes) and
    # attention rates: where wrong JSON types once reached NumPy
    Seed("k2_activation_layers", "k2_activation_layers.h5"),
    Seed("k3_mha_attention_mask", "k3_mha_attention_mask.keras"),
]


class Hang(BaseException):
    """Raised by SIGALRM: a BaseException, so the CLI's own handlers cannot swallow it."""


# ---------------------------------------------------------------- values a file may hold

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
              st.text(max_size=12), st.sampled_from(["\udcff", "x" * 300, "lstm", "__keras_tensor__", "Sequential",
                                                     "LSTM", "tanh", "float64", "int32"])),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)

ATTR_VALUES = st.one_of(
    st.integers(-(2**31), 2**31), st.floats(allow_nan=True), st.text(max_size=20),
    st.binary(max_size=12),
    st.sampled_from([b"\xff\xfe\x00", "2.5", "3.15.1", "1.0", "", "{", "[]", "null"]),
    st.lists(st.integers(-5, 5), max_size=4).map(lambda v: np.array(v, np.int64)),
    st.lists(st.binary(max_size=6), max_size=4).map(lambda v: np.array(v, dtype="S8")),
    st.just(np.zeros((2, 2), "S4")),
    st.just(np.array([1.5, np.nan])),
)

DTYPES = st.sampled_from(["float32", "float64", "float16", "int8", "int64", "uint8", "bool", "complex64",
                          "S4", "compound", "vlen"])


# ---------------------------------------------------------------- mutations


def _flip_bytes(data: bytes, draw: Callable) -> bytes:
    if not data:
        return data
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        buffer[draw(st.integers(0, len(buffer) - 1))] = draw(st.integers(0, 255))
    return bytes(buffer)


def _truncate(data: bytes, draw: Callable) -> bytes:
    return data[: draw(st.integers(0, max(0, len(data) - 1)))]


def _zip_entries(data: bytes, draw: Callable) -> bytes | None:
    if not data.startswith(b"PK"):
        return None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    if not members:
        return None
    index = draw(st.integers(0, len(members) - 1))
    action = draw(st.sampled_from(["drop", "rename", "flip", "truncate", "junk", "duplicate", "deflate", "empty"]))
    info, payload = members[index]
    name, method = info.filename, info.compress_type
    if action == "drop":
        members.pop(index)
    else:
        if action == "rename":
            name = draw(st.sampled_from(["config.json", "metadata.json", "model.weights.h5", "arr_0.npy", "x",
                                         "arr_9.npy", "../evil", name.upper()]))
        elif action == "flip":
            payload = _flip_bytes(payload, draw)
        elif action == "truncate":
            payload = _truncate(payload, draw)
        elif action == "junk":
            payload = draw(st.binary(max_size=64))
        elif action == "deflate":
            method = zipfile.ZIP_DEFLATED
        elif action == "empty":
            payload = b""
        replaced = zipfile.ZipInfo(name, info.date_time)
        replaced.compress_type = method
        if action == "duplicate":
            members.append((replaced, payload))
        else:
            members[index] = (replaced, payload)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for entry, payload in members:
            with contextlib.suppress(ValueError), warnings.catch_warnings():  # a duplicated name warns
                warnings.simplefilter("ignore")
                archive.writestr(entry, payload)
    return out.getvalue()


def _json_paths(value: Any, path: tuple = ()) -> list[tuple]:
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _json_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            paths += _json_paths(item, (*path, i))
    return paths


def _mutate_json_text(text: bytes | str, draw: Callable) -> bytes:
    document = json.loads(text)
    paths = _json_paths(document)[1:]
    if not paths:
        return json.dumps(draw(JSON_VALUES)).encode()
    path = draw(st.sampled_from(paths))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES)
    return json.dumps(document).encode("utf-8", "surrogatepass")


def _edit_zip_member(data: bytes, member: str, edit: Callable[[bytes], bytes | None]) -> bytes | None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    if member not in members:
        return None
    edited = edit(members[member])
    if edited is None:
        return None
    members[member] = edited
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return out.getvalue()


def _json_value(data: bytes, kind: str, draw: Callable) -> bytes | None:
    if kind == "json":
        return _mutate_json_text(data, draw)
    if kind == "keras":
        member = draw(st.sampled_from(["config.json", "metadata.json"]))
        return _edit_zip_member(data, member, lambda text: _mutate_json_text(text, draw))

    def edit(handle: h5py.File) -> None:
        if "model_config" in handle.attrs:
            raw = handle.attrs["model_config"]
            handle.attrs["model_config"] = _mutate_json_text(raw if isinstance(raw, bytes) else str(raw), draw)
    return _edit_h5_bytes(data, edit) if kind == "h5" else None


def _edit_h5_bytes(data: bytes, edit: Callable[[h5py.File], None]) -> bytes:
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as handle:
        edit(handle)
    return buffer.getvalue()


def _objects(handle: h5py.File) -> tuple[list[str], list[str]]:
    groups, datasets = ["/"], []
    handle.visititems(lambda name, obj: (datasets if isinstance(obj, h5py.Dataset) else groups).append(name))
    return groups, datasets


def _h5_attr(handle: h5py.File, draw: Callable) -> None:
    groups, datasets = _objects(handle)
    candidates = [(path, name) for path in groups + datasets for name in handle[path].attrs]
    if candidates and draw(st.integers(0, 4)):
        path, name = draw(st.sampled_from(candidates))
    else:
        path = draw(st.sampled_from(groups + datasets))
        name = draw(st.sampled_from(["weight_names", "layer_names", "keras_version", "name", "backend"]))
    if name in handle[path].attrs and not draw(st.integers(0, 5)):
        del handle[path].attrs[name]
        return
    value = draw(ATTR_VALUES)
    if isinstance(value, bytes):
        value = np.bytes_(value)  # fixed-length: h5py's variable-length strings refuse NULs
    try:
        handle[path].attrs[name] = value
    except (ValueError, TypeError, UnicodeEncodeError):  # NULs, lone surrogates: store the bytes
        handle[path].attrs[name] = np.bytes_(str(value).encode("utf-8", "surrogatepass"))


def _new_array(shape: tuple[int, ...], dtype: str) -> Any:
    if dtype == "compound":
        return np.zeros(shape, [("a", "f4"), ("b", "i4")])
    if dtype == "vlen":
        return np.full(shape, "abc", dtype=object).astype(h5py.string_dtype())
    return np.ones(shape, dtype)


def _h5_dataset(handle: h5py.File, draw: Callable) -> None:
    _, datasets = _objects(handle)
    if not datasets:
        return
    path = draw(st.sampled_from(datasets))
    original = handle[path]
    action = draw(st.sampled_from(["shape", "dtype", "both", "huge", "empty", "scalar"]))
    shape = tuple(original.shape or ())
    dtype = str(original.dtype)
    if action in ("shape", "both"):
        shape = tuple(draw(st.lists(st.integers(0, 40), max_size=4)))
    if action in ("dtype", "both"):
        dtype = draw(DTYPES)
    parent, name = path.rsplit("/", 1) if "/" in path else ("/", path)
    del handle[path]
    if action == "huge":
        dims = tuple(draw(st.lists(st.integers(1, 1 << 20), min_size=1, max_size=3)))
        handle[parent].create_dataset(name, dims, "f4", chunks=tuple(min(d, 32) for d in dims))
    elif action == "empty":
        handle[parent].create_dataset(name, data=h5py.Empty("f4"))
    elif action == "scalar":
        handle[parent][name] = np.float32(1.5)
    else:
        handle[parent][name] = _new_array(shape, dtype)


def _h5_member(data: bytes, kind: str, edit: Callable[[h5py.File], None]) -> bytes | None:
    if kind == "keras":
        return _edit_zip_member(data, "model.weights.h5", lambda raw: _edit_h5_bytes(raw, edit))
    if data.startswith(b"\x89HDF"):
        return _edit_h5_bytes(data, edit)
    return None


def _kind(path: Path) -> str:
    if path.suffix == ".keras":
        return "keras"
    if path.suffix == ".h5":
        return "h5"
    return path.suffix.lstrip(".")  # json, npz


def _mutate(data: bytes, kind: str, mutation: str, draw: Callable) -> bytes:
    if mutation == "bytes":
        return _flip_bytes(data, draw)
    if mutation == "truncate":
        return _truncate(data, draw)
    if mutation == "zip_entry":
        result = _zip_entries(data, draw)
    elif mutation == "json_value":
        result = _json_value(data, kind, draw)
    elif mutation == "h5_attr":
        result = _h5_member(data, kind, lambda handle: _h5_attr(handle, draw))
    else:
        result = _h5_member(data, kind, lambda handle: _h5_dataset(handle, draw))
    return _flip_bytes(data, draw) if result is None else result


def _target(seed: Seed, mutation: str, draw: Callable) -> str:
    """Which of a seed's files the mutation applies to (the one holding what it mutates)."""
    files = [seed.model] + ([seed.weights] if seed.weights else [])
    fitting = {
        "zip_entry": [f for f in files if f.endswith((".keras", ".npz"))],
        "json_value": [f for f in files if f.endswith((".keras", ".json")) or f.endswith(".h5") and f == seed.model],
        "h5_attr": [f for f in files if f.endswith((".keras", ".h5"))],
        "h5_dataset": [f for f in files if f.endswith((".keras", ".h5"))],
    }.get(mutation, files)
    return draw(st.sampled_from(fitting or files))


# ---------------------------------------------------------------- the contract


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang(f"conversion ran over {SECONDS} s")


def _convert(args: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(SECONDS)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, err.getvalue()


def _peak_rss() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


MUTATIONS = ["bytes", "truncate", "zip_entry", "json_value", "h5_attr", "h5_dataset"]


@pytest.fixture(scope="module", autouse=True)
def _report_outcomes():
    yield
    total = sum(OUTCOMES.values())
    print(f"\nmutation property: {total} mutated files, " + ", ".join(f"{k}: {v}" for k, v in sorted(OUTCOMES.items())))


@pytest.mark.parametrize("mutation", MUTATIONS)
@given(data=st.data())
def test_mutated_file_keeps_the_contract(tmp_path_factory, mutation, data):
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    target = _target(seed, mutation, data.draw)
    folder = tmp_path_factory.mktemp("mut")
    for name in filter(None, (seed.model, seed.weights)):
        shutil.copy(FIXTURES / name, folder / name)
    original = (FIXTURES / target).read_bytes()
    (folder / target).write_bytes(_mutate(original, _kind(FIXTURES / target), mutation, data.draw))
    out = folder / "out.onnx"
    args = ["convert", str(folder / seed.model), "-o", str(out)]
    if seed.weights:
        args += ["--weights", str(folder / seed.weights)]
    peak_before = _peak_rss()
    code, err = _convert(args)
    OUTCOMES[f"{mutation} exit {code}"] += 1
    assert code in (0, 2), err
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".out.onnx")]
    assert leftovers == [], leftovers
    if code == 0:
        onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert not out.exists()
    # the process's peak may come from earlier tests: this example must not raise it past 3 GiB
    assert _peak_rss() <= max(peak_before, MEMORY), f"peak resident memory {_peak_rss():,} bytes"
