"""Hostile files: nothing outside the model file is read, every resource is bounded, and every
refusal is one line with exit code 2.

Each HDF5 mechanism that can point outside the file (external raw storage, a virtual
dataset, an external link, a soft link) is planted in each reader's file kind (full-model
``.h5``, a ``.keras`` archive's ``model.weights.h5``, a weights ``.h5`` beside a JSON config)
pointing at a target file of recognisable values. The target sits in its own folder, watched
with inotify during the conversion: the test asserts that no file there was opened at all,
and that the watcher does see an open done on purpose afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import os
import shutil
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from kerasrnn2onnx.cli import main
from kerasrnn2onnx.io import guard

from ..conftest import FIXTURES, edit_keras_weights, write_layer_json

MARK = np.float32(4242.125)  # the target's recognisable value
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
IN_ACCESS, IN_OPEN = 0x1, 0x20


class OpenWatch:
    """inotify on a folder: every open or read of a file inside it is recorded by the kernel."""

    def __init__(self, folder: Path) -> None:
        self.fd = _LIBC.inotify_init1(os.O_NONBLOCK)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        assert _LIBC.inotify_add_watch(self.fd, str(folder).encode(), IN_OPEN | IN_ACCESS) >= 0

    def events(self) -> bytes:
        try:
            return os.read(self.fd, 65536)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        os.close(self.fd)


def _cli(capsys, args: list[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _refused(capsys, tmp_path: Path, args: list, *needles: str) -> str:
    out = tmp_path / "out.onnx"
    code, _, err = _cli(capsys, ["convert", *args, "-o", out])
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    return lines[0]


@pytest.fixture
def outside(tmp_path: Path):
    """A folder outside the model with a raw file and an HDF5 file of MARK values, watched."""
    folder = tmp_path / "outside"
    folder.mkdir()
    values = np.full((64, 64), MARK, np.float32)
    (folder / "secret.bin").write_bytes(values.tobytes())
    with h5py.File(folder / "secret.h5", "w") as handle:
        handle["data"] = values
    return folder


def _watched_refusal(capsys, tmp_path: Path, folder: Path, args: list, *needles: str) -> None:
    watch = OpenWatch(folder)
    try:
        _refused(capsys, tmp_path, args, *needles)
        assert watch.events() == b"", "a file outside the model was opened"
        (folder / "secret.bin").read_bytes()  # the watcher itself works
        assert watch.events() != b""
    finally:
        watch.close()


# ---------------------------------------------------------------- the planted mechanisms


def _external_storage(folder: Path) -> Callable[[h5py.Group, str, tuple[int, ...]], None]:
    def plant(group: h5py.Group, name: str, shape: tuple[int, ...]) -> None:
        group.create_dataset(name, shape, np.float32,
                             external=[(str(folder / "secret.bin"), 0, h5py.h5f.UNLIMITED)])
    return plant


def _virtual(folder: Path) -> Callable[[h5py.Group, str, tuple[int, ...]], None]:
    def plant(group: h5py.Group, name: str, shape: tuple[int, ...]) -> None:
        layout = h5py.VirtualLayout(shape, np.float32)
        source = h5py.VirtualSource(str(folder / "secret.h5"), "data", shape=(64, 64))
        layout[...] = source[tuple(slice(0, n) for n in shape)] if len(shape) == 2 else source[0, : shape[0]]
        group.create_virtual_dataset(name, layout)
    return plant


def _external_link(folder: Path) -> Callable[[h5py.Group, str, tuple[int, ...]], None]:
    def plant(group: h5py.Group, name: str, shape: tuple[int, ...]) -> None:
        group[name] = h5py.ExternalLink(str(folder / "secret.h5"), "/data")
    return plant


MECHANISMS = {
    "external-storage": (_external_storage, "external raw storage"),
    "virtual": (_virtual, "virtual dataset"),
    "external-link": (_external_link, "external link"),
}


def _unwritten(shape: tuple[int, ...]) -> Callable[[h5py.Group, str, tuple[int, ...]], None]:
    """A plant for :func:`_replace`: a chunked float32 dataset declaring ``shape`` with no
    chunk written (a few KB on disk whatever it declares)."""
    def plant(group: h5py.Group, name: str, _old_shape: tuple[int, ...]) -> None:
        group.create_dataset(name, shape, np.float32, chunks=(64, 64))
    return plant


def _replace(handle: h5py.File, path: str, plant: Callable) -> None:
    shape = handle[path].shape
    parent, name = path.rsplit("/", 1)
    del handle[path]
    plant(handle[parent], name, shape)


def _crafted(kind: str, tmp_path: Path, edit: Callable[[h5py.File], None]) -> tuple[list, Callable[[], np.ndarray]]:
    """A copy of a real fixture of ``kind`` with ``edit`` applied to its weights HDF5; the CLI
    arguments and a reader of the planted weight through plain h5py (to prove it leaks)."""
    if kind == "h5":
        model = tmp_path / "model.h5"
        shutil.copy(FIXTURES / "k2_lstm.h5", model)
        with h5py.File(model, "r+") as handle:
            edit(handle)
        weight = "model_weights/lstm/lstm/lstm_cell/kernel:0"

        def leak() -> np.ndarray:
            with h5py.File(model, "r") as handle:
                return handle[weight][()]
        return [model], leak
    if kind == "keras":
        model = tmp_path / "model.keras"
        edit_keras_weights(FIXTURES / "k3_lstm.keras", model, edit)

        def leak() -> np.ndarray:
            with zipfile.ZipFile(model) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h:
                return h["layers/lstm/cell/vars/0"][()]
        return [model], leak
    config = tmp_path / "model.json"
    shutil.copy(FIXTURES / "k2_json_weights_h5.json", config)
    weights = tmp_path / "model.weights.h5"
    shutil.copy(FIXTURES / "k2_json_weights_h5.weights.h5", weights)
    with h5py.File(weights, "r+") as handle:
        edit(handle)

    def leak() -> np.ndarray:
        with h5py.File(weights, "r") as handle:
            return handle["gru/gru/gru_cell/kernel:0"][()]
    return [config, "--weights", weights], leak


WEIGHT_PATH = {"h5": "model_weights/lstm/lstm/lstm_cell/kernel:0", "keras": "layers/lstm/cell/vars/0",
               "json": "gru/gru/gru_cell/kernel:0"}


@pytest.mark.parametrize("kind", ["h5", "keras", "json"])
@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
def test_data_outside_the_file_is_never_read(capsys, tmp_path, outside, kind, mechanism):
    make, needle = MECHANISMS[mechanism]
    args, leak = _crafted(kind, tmp_path, lambda h: _replace(h, WEIGHT_PATH[kind], make(outside)))
    # An in-memory HDF5 image (the archive's model.weights.h5) resolves virtual sources and
    # external links through its own driver, so those two read fill values or fail there
    # instead of leaking; external raw storage leaks from memory too.
    if not (kind == "keras" and mechanism in ("virtual", "external-link")):
        assert np.all(leak() == MARK), "the crafted file does not reach the target: the test would prove nothing"
    _watched_refusal(capsys, tmp_path, outside, args, needle, WEIGHT_PATH[kind].rsplit("/", 1)[-1])


@pytest.mark.parametrize("kind", ["h5", "keras", "json"])
def test_soft_link_is_refused(capsys, tmp_path, outside, kind):
    def edit(handle: h5py.File) -> None:
        path = WEIGHT_PATH[kind]
        handle["moved"] = handle[path][()]
        del handle[path]
        handle[path] = h5py.SoftLink("/moved")
    args, _ = _crafted(kind, tmp_path, edit)
    _watched_refusal(capsys, tmp_path, outside, args, "soft link")


def test_link_cycle_is_refused_quickly(capsys, tmp_path):
    def edit(handle: h5py.File) -> None:
        handle["layers/lstm/cell/loop"] = handle["layers/lstm"]  # a hard link back to an ancestor
    args, _ = _crafted("keras", tmp_path, edit)
    start = time.monotonic()
    _refused(capsys, tmp_path, args, "more than one place")
    assert time.monotonic() - start < 10


def test_exponential_hard_link_paths_are_refused_quickly(capsys, tmp_path):
    def edit(handle: h5py.File) -> None:
        group = handle["layers/lstm/cell"]
        below = group.create_group("g0")
        for level in range(1, 60):  # 2**60 paths through 60 groups
            above = group.create_group(f"g{level}")
            above["a"] = below
            above["b"] = below
            below = above
    args, _ = _crafted("keras", tmp_path, edit)
    start = time.monotonic()
    _refused(capsys, tmp_path, args, "more than one place")
    assert time.monotonic() - start < 10


def test_deep_groups_are_refused(capsys, tmp_path):
    def edit(handle: h5py.File) -> None:
        handle.create_group("/".join(["d"] * 200))
    args, _ = _crafted("h5", tmp_path, edit)
    _refused(capsys, tmp_path, args, "max_h5_depth".replace("_", "-"))


@pytest.mark.parametrize("kind", ["h5", "keras", "json"])
def test_huge_declared_dataset_is_refused_before_reading(capsys, tmp_path, kind):
    """A few KB declaring 3.6 TiB (chunked, no chunk written): refused by its declared size."""
    def edit(handle: h5py.File) -> None:
        _replace(handle, WEIGHT_PATH[kind], _unwritten((1 << 20, 1 << 20)))
    args, _ = _crafted(kind, tmp_path, edit)
    assert sum(os.path.getsize(a) for a in args if isinstance(a, Path)) < 200_000
    _refused(capsys, tmp_path, args, "max-weights-bytes", "4,398,046,511,104")


@pytest.mark.parametrize("kind", ["h5", "keras", "json"])
def test_unwritten_gigabyte_under_the_size_limit_is_refused_by_inflation(capsys, tmp_path, kind):
    """1 GiB declared (under max_weights_bytes) in a few KB: the file does not hold its data."""
    def edit(handle: h5py.File) -> None:
        _replace(handle, WEIGHT_PATH[kind], _unwritten((1 << 14, 1 << 14)))
    args, _ = _crafted(kind, tmp_path, edit)
    _refused(capsys, tmp_path, args, "1,073,74", "bytes declared", "inflation", "--max-inflation")


def test_deflate_bomb_under_the_size_limit_is_refused_by_inflation(capsys, tmp_path):
    members = _archive_members(FIXTURES / "k3_lstm.keras")
    members["config.json"] = members["config.json"] + b" " * (40 << 20)  # 40 MiB < 64 MiB, deflates to ~40 KB
    bomb = tmp_path / "bomb.keras"
    _write_archive(bomb, members)
    _refused(capsys, tmp_path, [bomb], "config.json", "inflation")


def test_weight_over_a_lowered_limit_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KERASRNN2ONNX_MAX_WEIGHTS_BYTES", "256")
    _refused(capsys, tmp_path, [FIXTURES / "k2_lstm.h5"], "over the limit 256")
    monkeypatch.delenv("KERASRNN2ONNX_MAX_WEIGHTS_BYTES")
    out = tmp_path / "out.onnx"
    assert main(["convert", str(FIXTURES / "k2_lstm.h5"), "-o", str(out), "--max-weights-bytes", "1M"]) == 0
    assert out.exists()


# ---------------------------------------------------------------- zip archives


def _archive_members(src: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(src) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_archive(dst: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(dst, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("entry,limit", [("config.json", "KERASRNN2ONNX_MAX_CONFIG_BYTES"),
                                         ("model.weights.h5", "KERASRNN2ONNX_MAX_WEIGHTS_BYTES")])
def test_zip_bomb_entry_is_refused(capsys, tmp_path, monkeypatch, entry, limit):
    members = _archive_members(FIXTURES / "k3_lstm.keras")
    members[entry] = members[entry] + b" " * (8 << 20)  # 8 MiB that deflate to ~8 KB
    bomb = tmp_path / "bomb.keras"
    _write_archive(bomb, members)
    assert bomb.stat().st_size < 100_000
    monkeypatch.setenv(limit, "1M")
    _refused(capsys, tmp_path, [bomb], entry, "over the limit")


def _patch_central(data: bytes, name: bytes, patch: Callable[[bytearray, int], None]) -> bytes:
    """Apply ``patch(buffer, offset_of_central_header)`` to the central directory entry of ``name``."""
    buffer = bytearray(data)
    offset = buffer.find(b"PK\x01\x02" + b"", 0)
    while offset >= 0:
        length = struct.unpack_from("<H", buffer, offset + 28)[0]
        if bytes(buffer[offset + 46: offset + 46 + length]) == name:
            patch(buffer, offset)
            return bytes(buffer)
        offset = buffer.find(b"PK\x01\x02", offset + 4)
    raise AssertionError(name)


def test_lying_zip_header_is_read_with_a_cap(capsys, tmp_path):
    """The central directory declares 100 bytes for an entry that inflates to 8 MiB."""
    members = _archive_members(FIXTURES / "k3_lstm.keras")
    members["config.json"] = members["config.json"] + b" " * (8 << 20)
    bomb = tmp_path / "liar.keras"
    _write_archive(bomb, members)
    bomb.write_bytes(_patch_central(bomb.read_bytes(), b"config.json",
                                    lambda b, o: struct.pack_into("<I", b, o + 24, 100)))
    _refused(capsys, tmp_path, [bomb], "liar.keras")


def test_encrypted_entry_is_refused(capsys, tmp_path):
    model = tmp_path / "enc.keras"
    _write_archive(model, _archive_members(FIXTURES / "k3_lstm.keras"))

    def set_encrypted(buffer: bytearray, offset: int) -> None:
        flags = struct.unpack_from("<H", buffer, offset + 8)[0]
        struct.pack_into("<H", buffer, offset + 8, flags | 1)
    model.write_bytes(_patch_central(model.read_bytes(), b"config.json", set_encrypted))
    _refused(capsys, tmp_path, [model], "config.json", "encrypted")


def test_unknown_compression_method_is_refused(capsys, tmp_path):
    model = tmp_path / "method.keras"
    _write_archive(model, _archive_members(FIXTURES / "k3_lstm.keras"))
    model.write_bytes(_patch_central(model.read_bytes(), b"model.weights.h5",
                                     lambda b, o: struct.pack_into("<H", b, o + 10, 99)))
    _refused(capsys, tmp_path, [model], "model.weights.h5", "compression method 99")


# ---------------------------------------------------------------- JSON


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_config_is_refused(capsys, tmp_path):
    model = tmp_path / "deep.json"
    model.write_text('{"class_name": "LSTM", "config": {"units": ' + _deep(100_000) + "}}")
    _refused(capsys, tmp_path, [model, "--weights", FIXTURES / "k2_json_npz.npz"], "nesting depth")


def test_deeply_nested_config_json_in_archive_is_refused(capsys, tmp_path):
    members = _archive_members(FIXTURES / "k3_lstm.keras")
    config = json.loads(members["config.json"])
    config["config"]["name"] = "@DEEP@"
    members["config.json"] = json.dumps(config).replace('"@DEEP@"', _deep(5000)).encode()
    model = tmp_path / "deep.keras"
    _write_archive(model, members)
    _refused(capsys, tmp_path, [model], "config.json nesting depth")


def test_brackets_inside_strings_do_not_count_as_depth():
    text = json.dumps({"name": "[[[[" * 1000, "x": [[1]]}).encode()
    assert guard.json_depth(text) == 3


# ---------------------------------------------------------------- values of the wrong type


def _edit_h5_fixture(tmp_path: Path, edit: Callable[[h5py.File], None]) -> Path:
    model = tmp_path / "model.h5"
    shutil.copy(FIXTURES / "k2_lstm.h5", model)
    with h5py.File(model, "r+") as handle:
        edit(handle)
    return model


def test_numeric_weight_names_are_refused(capsys, tmp_path):
    def edit(handle: h5py.File) -> None:
        handle["model_weights/lstm"].attrs["weight_names"] = np.array([1, 2, 3])
    _refused(capsys, tmp_path, [_edit_h5_fixture(tmp_path, edit)], "weight_names", "string")


def test_non_string_keras_version_is_refused(capsys, tmp_path):
    def edit(handle: h5py.File) -> None:
        handle.attrs["keras_version"] = 2.5
    _refused(capsys, tmp_path, [_edit_h5_fixture(tmp_path, edit)], "keras_version", "string")


def test_non_string_keras_version_in_metadata_is_refused(capsys, tmp_path):
    members = _archive_members(FIXTURES / "k3_lstm.keras")
    metadata = json.loads(members["metadata.json"])
    metadata["keras_version"] = 3.1
    members["metadata.json"] = json.dumps(metadata).encode()
    model = tmp_path / "meta.keras"
    _write_archive(model, members)
    _refused(capsys, tmp_path, [model], "keras_version", "string")


def test_non_utf8_link_name_is_refused(capsys, tmp_path):
    def edit(handle: h5py.File) -> None:
        handle["model_weights"].create_group(b"\xff\xfe")
    _refused(capsys, tmp_path, [_edit_h5_fixture(tmp_path, edit)], "UTF-8")


def test_null_tensor_index_is_refused(capsys, tmp_path):
    members = _archive_members(FIXTURES / "k3_two_input.keras")
    text = members["config.json"].decode()
    assert '"keras_history": ["' in text
    config = json.loads(text)

    def null_indices(value):
        if isinstance(value, dict):
            if "keras_history" in value:
                value["keras_history"][1] = None
            for item in value.values():
                null_indices(item)
        elif isinstance(value, list):
            for item in value:
                null_indices(item)
    null_indices(config)
    members["config.json"] = json.dumps(config).encode()
    model = tmp_path / "null.keras"
    _write_archive(model, members)
    _refused(capsys, tmp_path, [model], "keras_history")


def test_string_dataset_as_weight_is_refused(capsys, tmp_path):
    def edit(handle: h5py.File) -> None:
        path = WEIGHT_PATH["h5"]
        del handle[path]
        handle[path] = np.array([b"abc"] * 3, dtype=object).astype(h5py.string_dtype())
    _refused(capsys, tmp_path, [_edit_h5_fixture(tmp_path, edit)], "non-numeric dtype")


# ---------------------------------------------------------------- .npz weights and inputs


def _npy_header_bomb(tmp_path: Path) -> Path:
    """An .npz whose one member declares a (2**40,) float64 array in a 200-byte header."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40,)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("arr_0.npy", buffer.getvalue() + b"\0" * 64)
    return path


def test_npz_weights_with_a_huge_declared_array_are_refused(capsys, tmp_path):
    model, _ = write_layer_json(tmp_path, "LSTM", {"name": "lstm", "units": 3, "batch_input_shape": [None, 4, 2]},
                                [np.zeros((2, 12), np.float32)])
    _refused(capsys, tmp_path, [model, "--weights", _npy_header_bomb(tmp_path)], "arr_0", "over the limit")


def test_corrupt_npz_weights_are_refused(capsys, tmp_path):
    data = (FIXTURES / "k2_json_npz.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) - 40])
    _refused(capsys, tmp_path, [FIXTURES / "k2_json_npz.json", "--weights", cut], "cut.npz")


@pytest.mark.parametrize("make", ["bomb", "npy", "pickle"])
def test_hostile_inputs_file_is_refused(capsys, tmp_path, make):
    if make == "bomb":
        inputs = _npy_header_bomb(tmp_path)
    elif make == "npy":
        inputs = tmp_path / "x.npy"
        np.save(inputs, np.zeros((2, 5, 3), np.float32))
    else:
        inputs = tmp_path / "x.npz"
        np.savez(inputs, np.array([{"a": 1}], dtype=object))
    code, _, err = _cli(capsys, ["verify", FIXTURES / "k2_lstm.h5", "--inputs", inputs])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert inputs.name in err


# ---------------------------------------------------------------- unroll, verify sizes


def _unrolled_lstm(tmp_path: Path, steps: int) -> list:
    config = {"class_name": "Sequential", "keras_version": "2.15.0", "config": {"name": "long", "layers": [
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 3, "unroll": True,
                                          "batch_input_shape": [None, steps, 2]}}]}}
    model = tmp_path / "long.json"
    model.write_text(json.dumps(config))
    weights = tmp_path / "long.npz"
    rng = np.random.default_rng(0)
    np.savez(weights, *(rng.standard_normal(s).astype(np.float32) for s in ((2, 12), (3, 12), (12,))))
    return [model, "--weights", weights]


def test_unroll_over_the_cap_uses_scan_and_says_why(capsys, tmp_path):
    args = _unrolled_lstm(tmp_path, 100_000)
    start = time.monotonic()
    code, out, err = _cli(capsys, ["inspect", *args])
    assert code == 0, err
    assert "lowering: scan" in out and "100000 timesteps is over the unroll cap 1024" in out
    out_path = tmp_path / "long.onnx"
    code, _, err = _cli(capsys, ["convert", *args, "-o", out_path])
    assert code == 0, err
    assert time.monotonic() - start < 30
    import onnx

    onnx.checker.check_model(onnx.load(str(out_path)), full_check=True)


def test_forced_unroll_over_the_cap_is_refused(capsys, tmp_path):
    _refused(capsys, tmp_path, [*_unrolled_lstm(tmp_path, 100_000), "--strategy", "unroll"],
             "layer 'lstm'", "over the unroll cap 1024", "--max-unroll-steps")


def test_unroll_cap_can_be_raised(capsys, tmp_path):
    code, out, err = _cli(capsys, ["inspect", *_unrolled_lstm(tmp_path, 1500), "--max-unroll-steps", "2000"])
    assert code == 0, err
    assert "lowering: unroll" in out


@pytest.mark.parametrize("flag,value,needle", [("--timesteps", "1000000", "1,000,000 timesteps"),
                                               ("--batch", "100000000", "100,000,000")])
def test_verify_sizes_are_refused_before_allocating(capsys, flag, value, needle):
    start = time.monotonic()
    code, _, err = _cli(capsys, ["verify", FIXTURES / "k2_lstm.h5", flag, value])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert needle in err and "--max-verify" in err
    assert time.monotonic() - start < 10


def test_tune_sizes_are_refused_before_allocating(capsys, tmp_path):
    code, _, err = _cli(capsys, ["tune", FIXTURES / "k2_lstm.h5", "-o", tmp_path / "t.onnx", "--batch", "100000000"])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "tune:" in err and "--max-verify-values" in err
    assert not (tmp_path / "t.onnx").exists()


# ---------------------------------------------------------------- verify on non-finite data


def test_verify_with_nan_and_inf_inputs_passes_where_keras_would_propagate(capsys, tmp_path):
    with np.load(FIXTURES / "k2_lstm.io.npz") as data:
        x = data["c0_in0"].copy()
    x[0, 1, 0] = np.nan
    x[-1, 0, 1] = np.inf
    inputs = tmp_path / "nan.npz"
    np.savez(inputs, x)
    # Scan: onnxruntime's own LSTM op turns NaN inputs into finite outputs (its activations
    # clamp), where Keras propagates them; verify reports that as a mismatch, 0/N non-finite.
    code, out, err = _cli(capsys, ["verify", FIXTURES / "k2_lstm.h5", "--inputs", inputs, "--strategy", "scan"])
    assert err == "", err  # no numpy warnings
    assert code == 0, out
    row = [line for line in out.splitlines() if line.split() and line.split()[-1] == "ok"][0]
    onnx_count, ref_count = row.split()[-2].split("/")
    assert onnx_count == ref_count and int(ref_count) > 0


def test_non_finite_on_one_side_only_is_a_mismatch():
    from kerasrnn2onnx.parity import compare_output

    expected = np.array([1.0, np.nan, np.inf, 2.0])
    same = compare_output("y", expected.copy(), expected, 1e-5, 1e-4)
    assert same.passed and same.nonfinite == (2, 2) and same.max_abs == 0.0
    actual = np.array([1.0, 0.5, np.inf, 2.0])
    differ = compare_output("y", actual, expected, 1e-5, 1e-4)
    assert not differ.passed and differ.nonfinite == (1, 2) and "1 position" in differ.problem
    flipped = compare_output("y", np.array([1.0, np.nan, -np.inf, 2.0]), expected, 1e-5, 1e-4)
    assert not flipped.passed


def test_api_limits_argument(tmp_path):
    import kerasrnn2onnx

    with pytest.raises(kerasrnn2onnx.ModelFileError, match="over the limit 256"):
        kerasrnn2onnx.convert(FIXTURES / "k2_lstm.h5", limits=kerasrnn2onnx.Limits(max_weights_bytes=256))
    with kerasrnn2onnx.use_limits(kerasrnn2onnx.Limits(max_unroll_steps=2)):
        assert "over the unroll cap 2" in kerasrnn2onnx.describe(FIXTURES / "k3_gru_unroll.keras")


def test_npy_header_that_is_not_a_literal_is_refused(capsys, tmp_path):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (2,)})
    header = buffer.getvalue().replace(b"(2,)", b"(2,(")
    weights = tmp_path / "w.npz"
    with zipfile.ZipFile(weights, "w") as archive:
        archive.writestr("arr_0.npy", header + b"\0" * 8)
    _refused(capsys, tmp_path, [FIXTURES / "k2_json_npz.json", "--weights", weights], "arr_0")
