"""A weight's declared shape and dtype are checked against the config before its data is read.

Readers hand out :class:`~kerasrnn2onnx.io.handles.WeightHandle` values; the spec stage
compares each with what the config requires and only then reads it. The crafted files
declare a 1.6 GB kernel (chunked, no chunk written, so the file stays a few KB) for an
LSTM(4) on 3 features; the size limits are raised as for a trusted file, so only the shape
check stands between the file and a 1.6 GB read. Every h5py data read is recorded, and the
test asserts the planted dataset's data was never touched.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from kerasrnn2onnx.cli import main
from kerasrnn2onnx.io import guard, load_raw_model

from ..conftest import FIXTURES, convert_fails, edit_keras_weights

WEIGHT_PATH = {"h5": "model_weights/lstm/lstm/lstm_cell/kernel:0", "keras": "layers/lstm/cell/vars/0",
               "json": "gru/gru/gru_cell/kernel:0"}


def _crafted(kind: str, tmp_path: Path, edit: Callable[[h5py.File], None]) -> list:
    """CLI arguments for a copy of a real fixture of ``kind`` whose weights HDF5 ``edit`` changed."""
    if kind == "keras":
        model = tmp_path / "model.keras"
        edit_keras_weights(FIXTURES / "k3_lstm.keras", model, edit)
        return [model]
    if kind == "h5":
        model = tmp_path / "model.h5"
        shutil.copy(FIXTURES / "k2_lstm.h5", model)
        weights, args = model, [model]
    else:
        config, weights = tmp_path / "model.json", tmp_path / "model.weights.h5"
        shutil.copy(FIXTURES / "k2_json_weights_h5.json", config)
        shutil.copy(FIXTURES / "k2_json_weights_h5.weights.h5", weights)
        args = [config, "--weights", weights]
    with h5py.File(weights, "r+") as handle:
        edit(handle)
    return args

HUGE = (200_000, 2048)  # float32: 1,638,400,000 bytes, under the 2 GiB max_weights_bytes
EXPECTED = {"h5": ("lstm", "(3, 16)"), "keras": ("lstm", "(3, 20)"), "json": ("gru", "(3, 9)")}
TRUSTED = ["--max-inflation", "1000000000"]  # a file the user vouches for: declared != stored is allowed


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The HDF5 paths whose data is read (any ``dataset[...]`` or ``read_direct``)."""
    seen: list[str] = []
    getitem, direct = h5py.Dataset.__getitem__, h5py.Dataset.read_direct

    def recording_getitem(self, *args, **kwargs):
        seen.append(self.name)
        return getitem(self, *args, **kwargs)

    def recording_direct(self, *args, **kwargs):
        seen.append(self.name)
        return direct(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording_getitem)
    monkeypatch.setattr(h5py.Dataset, "read_direct", recording_direct)
    return seen


def _plant(kind: str, make: Callable[[h5py.Group, str], None]) -> Callable[[h5py.File], None]:
    def edit(handle: h5py.File) -> None:
        parent, name = WEIGHT_PATH[kind].rsplit("/", 1)
        del handle[WEIGHT_PATH[kind]]
        make(handle[parent], name)
    return edit


@pytest.mark.parametrize("kind", ["h5", "keras", "json"])
def test_huge_declared_kernel_is_refused_before_any_read(capsys, tmp_path, reads, kind):
    args = _crafted(kind, tmp_path, _plant(kind, lambda g, n: g.create_dataset(n, HUGE, np.float32,
                                                                                 chunks=(64, 64))))
    assert sum(a.stat().st_size for a in args if isinstance(a, Path)) < 100_000
    reads.clear()
    layer, expected = EXPECTED[kind]
    convert_fails(capsys, tmp_path, [*args, *TRUSTED], f"layer '{layer}'", "kernel", "(200000, 2048)",
             f"expected {expected}")
    planted = "/" + WEIGHT_PATH[kind]
    assert planted not in reads, "the planted dataset's data was read"


@pytest.mark.parametrize("kind", ["h5", "keras", "json"])
@pytest.mark.parametrize("dtype,needle", [("compound", "non-numeric dtype"), ("string", "non-numeric dtype"),
                                          ("int32", "not floating point")])
def test_wrong_dtype_is_refused_before_any_read(capsys, tmp_path, reads, kind, dtype, needle):
    shape = (3, {"h5": 16, "keras": 20, "json": 9}[kind])  # the shape the config expects

    def make(group: h5py.Group, name: str) -> None:
        if dtype == "compound":
            group[name] = np.zeros(shape, [("a", "f4"), ("b", "i4")])
        elif dtype == "string":
            group[name] = np.full(shape, b"x" * 8, "S8")
        else:
            group[name] = np.ones(shape, np.int32)
    args = _crafted(kind, tmp_path, _plant(kind, make))
    reads.clear()
    convert_fails(capsys, tmp_path, args, WEIGHT_PATH[kind].rsplit("/", 1)[-1] if dtype != "int32" else "kernel",
             needle)
    assert "/" + WEIGHT_PATH[kind] not in reads


def test_keras3_weights_file_with_a_huge_declared_kernel_is_refused_before_any_read(capsys, tmp_path, reads):
    """A JSON config with a Keras 3 ``.weights.h5`` (object paths, matched by path alone)."""
    config = tmp_path / "model.json"
    shutil.copy(FIXTURES / "k3_json_model_weights.json", config)
    weights = tmp_path / "model.weights.h5"
    shutil.copy(FIXTURES / "k3_json_model_weights.weights.h5", weights)
    with h5py.File(weights, "r+") as handle:
        del handle["layers/gru/cell/vars/0"]
        handle["layers/gru/cell/vars"].create_dataset("0", HUGE, np.float32, chunks=(64, 64))
    reads.clear()
    convert_fails(capsys, tmp_path, [config, "--weights", weights, *TRUSTED], "layer 'gru'", "kernel", "(200000, 2048)",
             "expected (3, 9)")
    assert "/layers/gru/cell/vars/0" not in reads


def test_npz_member_of_a_wrong_shape_is_refused_before_its_data_is_read(capsys, tmp_path, monkeypatch):
    """The .npz reader reads each member's header for the handle and its data only on read()."""
    stored = np.load(FIXTURES / "k2_json_npz.npz")
    arrays = {k: stored[k] for k in stored}
    arrays["arr_0"] = np.zeros((300, 2048), np.float32)
    weights = tmp_path / "w.npz"
    np.savez(weights, **arrays)
    read: list[str] = []
    original = guard.read_zip_entry

    def recording(archive: zipfile.ZipFile, name: str, *rest):
        read.append(name)
        return original(archive, name, *rest)

    monkeypatch.setattr(guard, "read_zip_entry", recording)
    convert_fails(capsys, tmp_path, [FIXTURES / "k2_json_npz.json", "--weights", weights], "(300, 2048)",
             "expected (3, 12)")
    assert "arr_0.npy" not in read


def test_each_weight_is_read_once_after_its_check(reads, tmp_path):
    """A genuine model: every stored weight is read exactly once, by the spec stage."""
    out = tmp_path / "out.onnx"
    assert main(["convert", str(FIXTURES / "k2_lstm.h5"), "-o", str(out)]) == 0
    weights = [r for r in reads if r.startswith("/model_weights/")]
    assert sorted(weights) == sorted({f"/model_weights/lstm/lstm/lstm_cell/{n}:0"
                                      for n in ("kernel", "recurrent_kernel", "bias")})


def test_loader_hands_out_unread_handles(reads):
    with load_raw_model(FIXTURES / "k2_lstm.h5") as raw:
        handles = raw.layer("lstm").weights
        assert [h.shape for h in handles] == [(3, 16), (4, 16), (16,)]
        assert all(h.dtype == np.float32 for h in handles) and reads == []
        assert handles[0].read().shape == (3, 16) and len(reads) == 1
