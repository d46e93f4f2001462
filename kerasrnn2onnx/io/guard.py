"""The untrusted-input rules: every byte a reader takes from a model file passes here first.

A conversion service runs this converter on uploads it does not trust, so a model file
must not make it read anything outside the file, nor spend unbounded memory or time.
The rules, enforced before any data is read:

* HDF5: only hard links are followed (soft, external and user-defined links are refused,
  so nothing outside the file is ever opened); datasets with external raw storage or a
  virtual layout are refused (their data lives in other files); filters must be HDF5's
  built-in ones (a plugin filter would load code); every object is reached by one path
  only (no cycles, no exponential hard-link graphs); the walk is bounded in depth and in
  objects; the declared size of all datasets together is within ``max_weights_bytes``.
* Zip (``.keras``, ``.npz``): entries must be unencrypted and use a method ``zipfile``
  implements; each entry's declared size is checked and it is read with a cap, since the
  header alone proves nothing about what a deflate stream inflates to.
* ``.npy`` members: the header's shape and dtype are checked before the array is allocated.
* JSON: size and nesting depth are checked before parsing, so later walks are bounded.

Limits are one :class:`Limits` value: defaults fit any real Keras recurrent model; raise
them with ``KERASRNN2ONNX_<FIELD>`` environment variables, the CLI's ``--max-...`` flags
or :func:`use_limits` / the API's ``limits=`` argument.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import io
import json
import os
import re
import tokenize
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConversionError, ModelFileError
from .handles import WeightHandle

try:  # h5py is a base dependency; the guard only gives a clearer message when it is broken.
    import h5py
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise ImportError("kerasrnn2onnx needs h5py: pip install h5py") from exc

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Limits:
    """Resource bounds for one conversion; every field can be raised for a known-good file."""

    max_weights_bytes: int = dataclasses.field(default=2 * GiB, metadata={
        "help": "declared bytes of all arrays in one weights/inputs file (HDF5 or .npz) or one .keras archive entry"})
    max_inflation: int = dataclasses.field(default=100, metadata={
        "help": "declared bytes per stored byte (a compression ratio) of a file's arrays or an archive entry, "
                "beyond the first 16 MiB: a small file cannot declare gigabytes"})
    max_config_bytes: int = dataclasses.field(default=64 * MiB, metadata={
        "help": "bytes of one JSON document (config.json, metadata.json, model_config, a JSON config)"})
    max_json_depth: int = dataclasses.field(default=100, metadata={"help": "nesting depth of a JSON document"})
    max_h5_objects: int = dataclasses.field(default=100_000, metadata={"help": "HDF5 objects (groups, datasets) "
                                                                               "in one file"})
    max_h5_depth: int = dataclasses.field(default=64, metadata={"help": "HDF5 group nesting depth"})
    max_unroll_steps: int = dataclasses.field(default=1024, metadata={
        "help": "timesteps an unrolled layer may have (auto uses Scan above it; --strategy unroll is refused)"})
    max_verify_timesteps: int = dataclasses.field(default=100_000, metadata={
        "help": "timesteps of verify's and tune's inputs (the NumPy reference loops over them in Python)"})
    max_verify_values: int = dataclasses.field(default=1 << 26, metadata={
        "help": "values (batch x timesteps x features) of one verify or tune input"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by ``KERASRNN2ONNX_MAX_...`` variables (sizes accept K/M/G suffixes)."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(f"KERASRNN2ONNX_{field.name.upper()}")
            if raw is not None:
                values[field.name] = parse_size(raw, f"KERASRNN2ONNX_{field.name.upper()}")
        return cls(**values)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConversionError(f"limit {field.name} must be a positive integer, got {value!r}")


def parse_size(text: str, what: str) -> int:
    """``"4096"``, ``"512M"``, ``"4GiB"`` -> bytes (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ConversionError(f"{what}: expected a positive integer (optionally with K, M, G or T), got {text!r}")
    return int(match.group(1)) << (10 * " kmgt".index(match.group(2).lower() or " "))


_LIMITS: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("kerasrnn2onnx_limits", default=None)


def current_limits() -> Limits:
    """The limits in force: those given to :func:`use_limits`, else the environment's."""
    limits = _LIMITS.get()
    return limits if limits is not None else Limits.from_env()


@contextlib.contextmanager
def use_limits(limits: Limits | None) -> Iterator[Limits]:
    """Run a block under ``limits`` (``None``: keep the ones in force)."""
    if limits is None:
        yield current_limits()
        return
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


INFLATION_SLACK = 16 * MiB  # arrays this small may compress any amount (zero biases deflate 1000:1)


def refuse_inflated(declared: int, stored: int, what: str, source: object) -> None:
    """Refuse data that declares far more bytes than the file stores (a compression bomb or
    unwritten chunked storage): memory stays proportional to the file's size."""
    ratio = current_limits().max_inflation
    if declared > INFLATION_SLACK + ratio * stored:
        raise ModelFileError(source, f"{what}: {declared:,} bytes declared but {stored:,} stored, over "
                                     f"{ratio}x inflation (raise it with --max-inflation if the file is trusted)")


def refuse_over(value: int, limit_name: str, what: str, source: object) -> None:
    """One line naming what is too big, the limit and how to raise it."""
    limit = getattr(current_limits(), limit_name)
    if value > limit:
        flag = "--" + limit_name.replace("_", "-")
        raise ModelFileError(source, f"{what} is {value:,}, over the limit {limit:,} (raise it with {flag} or "
                                     f"KERASRNN2ONNX_{limit_name.upper()} if the file is trusted)")


# ---------------------------------------------------------------- errors where data enters

# What h5py, zipfile, numpy and the JSON decoder raise for a corrupt file. Mapped to a
# ModelFileError naming the file and entry, so only our own bugs reach the CLI's exit 3.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError, EOFError,
    UnicodeDecodeError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError,
    SyntaxError, tokenize.TokenError,  # numpy parses a .npy header as a Python literal
)


@contextlib.contextmanager
def reading(source: object, what: str) -> Iterator[None]:
    """Map a library's error while reading ``what`` of ``source`` to one ModelFileError.

    Only wrap calls into h5py / zipfile / numpy readers: our own errors pass through.
    """
    try:
        yield
    except ConversionError:
        raise
    except DATA_ERRORS as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(source, f"{what} is unreadable ({detail})") from None


# ---------------------------------------------------------------- JSON


def load_json(data: bytes | str, source: object, what: str) -> Any:
    """Parse a JSON document after checking its size and nesting depth.

    The depth is measured on the text (strings blanked out) before parsing, so a
    10,000-level document costs one linear scan instead of a RecursionError, and every
    later walk of the parsed value is bounded by ``max_json_depth``.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    refuse_over(len(raw), "max_config_bytes", f"{what} size in bytes", source)
    depth = json_depth(raw)
    refuse_over(depth, "max_json_depth", f"{what} nesting depth", source)
    try:
        text = raw.decode("utf-8")
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ModelFileError(source, f"{what} is not valid JSON ({str(exc)[:200]})") from None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(raw: bytes) -> int:
    """Deepest bracket nesting of a JSON text, ignoring brackets inside strings."""
    stripped = _JSON_STRING.sub(b'""', raw)
    codes = np.frombuffer(stripped, dtype=np.uint8)
    step = (np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
            - np.isin(codes, (ord("]"), ord("}"))).astype(np.int64))
    return int(np.cumsum(step).max(initial=0))


# ---------------------------------------------------------------- zip


def _zip_methods() -> frozenset[int]:
    methods = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
    with contextlib.suppress(ImportError):
        import bz2  # noqa: F401

        methods.add(zipfile.ZIP_BZIP2)
    with contextlib.suppress(ImportError):
        import lzma  # noqa: F401

        methods.add(zipfile.ZIP_LZMA)
    return frozenset(methods)


ZIP_METHODS = _zip_methods()


def vet_zip_entry(info: zipfile.ZipInfo, limit_name: str, source: object) -> None:
    """Refuse an encrypted entry, a compression method ``zipfile`` lacks, or a declared size over the limit."""
    if info.flag_bits & 0x1:
        raise ModelFileError(source, f"archive entry '{info.filename}' is encrypted")
    if info.compress_type not in ZIP_METHODS:
        raise ModelFileError(source, f"archive entry '{info.filename}' uses unsupported compression method "
                                     f"{info.compress_type}")
    refuse_over(info.file_size, limit_name, f"archive entry '{info.filename}' declared size in bytes", source)
    refuse_inflated(info.file_size, info.compress_size, f"archive entry '{info.filename}'", source)


def read_zip_entry(archive: zipfile.ZipFile, name: str, limit_name: str, source: object) -> bytes:
    """An entry's bytes, read with a cap at the limit whatever its header declares."""
    with reading(source, f"archive entry '{name}'"):
        info = archive.getinfo(name)
        vet_zip_entry(info, limit_name, source)
        limit = getattr(current_limits(), limit_name)
        with archive.open(info) as handle:
            data = handle.read(min(info.file_size, limit) + 1)
    if len(data) > info.file_size:
        raise ModelFileError(source, f"archive entry '{name}' inflates past its declared size")
    return data


def open_zip(path: Any, source: object) -> zipfile.ZipFile:
    """A ZipFile, its central directory read; entries are vetted one by one as they are read."""
    with reading(source, "zip archive"):
        archive = zipfile.ZipFile(path)
    return archive


def read_file(path: Any, limit_name: str, source: object, what: str) -> bytes:
    """A whole small file (a JSON config), its size checked before reading."""
    with reading(source, what):
        size = os.stat(path).st_size
        refuse_over(size, limit_name, f"{what} size in bytes", source)
        with open(path, "rb") as handle:
            data = handle.read(getattr(current_limits(), limit_name) + 1)
    refuse_over(len(data), limit_name, f"{what} size in bytes", source)
    return data


# ---------------------------------------------------------------- .npz / .npy


def read_npz(path: Any, source: object, what: str) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` in stored order, every header checked before allocation."""
    with open_zip(path, source) as archive:
        return {key: handle.read() for key, handle in npz_handles(archive, source, what).items()}


def npz_handles(archive: zipfile.ZipFile, source: object, what: str) -> dict[str, WeightHandle]:
    """Handles on the arrays of an open ``.npz``, in stored order: every entry vetted and every
    ``.npy`` header read (numeric dtype, declared size within the limit and within the entry),
    the data read only by :meth:`WeightHandle.read` (the archive must still be open)."""
    infos = archive.infolist()
    total = 0
    for info in infos:
        vet_zip_entry(info, "max_weights_bytes", source)
        total += info.file_size
    refuse_over(total, "max_weights_bytes", f"{what} declared size in bytes", source)
    handles: dict[str, WeightHandle] = {}
    for info in infos:
        key = info.filename.removesuffix(".npy")
        label = f"{what} entry '{key}'"
        with reading(source, label), archive.open(info) as stream:
            shape, dtype, offset = _npy_header(stream, source, label)
        if info.file_size - offset < _declared_bytes(shape, dtype):
            raise ModelFileError(source, f"{label} is truncated ({info.file_size - offset} of "
                                         f"{_declared_bytes(shape, dtype)} bytes)")

        def load(name: str = info.filename, label: str = label) -> np.ndarray:
            return read_npy(read_zip_entry(archive, name, "max_weights_bytes", source), source, label)
        handles[key] = WeightHandle(key, shape, dtype, source, load)
    return handles


def _npy_header(stream: Any, source: object, what: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset from a ``.npy`` header, the dtype and declared size checked."""
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    if version == (1, 0):
        shape, _fortran, dtype = fmt.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, _fortran, dtype = fmt.read_array_header_2_0(stream)
    else:
        raise ModelFileError(source, f"{what}: unsupported .npy format version {version}")
    check_array_dtype(dtype, source, what)
    shape = tuple(int(d) for d in shape)
    refuse_over(_declared_bytes(shape, dtype), "max_weights_bytes", f"{what} declared size in bytes", source)
    return shape, dtype, stream.tell()


def read_npy(data: bytes, source: object, what: str) -> np.ndarray:
    """One ``.npy`` from bytes: numeric dtype, and a declared size that the bytes actually hold."""
    with reading(source, what):
        stream = io.BytesIO(data)
        shape, dtype, offset = _npy_header(stream, source, what)
        need = _declared_bytes(shape, dtype)
        if len(data) - offset < need:
            raise ModelFileError(source, f"{what} is truncated ({len(data) - offset} of {need} bytes)")
        stream.seek(0)
        return np.asarray(np.lib.format.read_array(stream, allow_pickle=False))


def _declared_bytes(shape: Any, dtype: np.dtype) -> int:
    count = 1
    for dim in tuple(shape or ()):
        count *= int(dim)
    return count * int(dtype.itemsize)


def check_array_dtype(dtype: np.dtype, source: object, what: str) -> None:
    """Weights and inputs are plain numbers: no strings, objects, records or references."""
    if dtype.kind not in "fiub" or dtype.fields is not None or dtype.subdtype is not None:
        raise ModelFileError(source, f"{what} has non-numeric dtype {dtype}")


# ---------------------------------------------------------------- HDF5

BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})  # deflate, shuffle, fletcher32, szip, nbit, scaleoffset, lzf
_LINK_KINDS = {h5py.h5l.TYPE_SOFT: "soft link", h5py.h5l.TYPE_EXTERNAL: "external link (to another file)"}


def open_h5(target: Any, source: object) -> h5py.File:
    """Open an HDF5 file or in-memory image read-only and vet it entirely (:func:`vet_h5`)."""
    with reading(source, "HDF5 file"):
        handle = h5py.File(target, "r")
    try:
        vet_h5(handle, source)
    except BaseException:
        handle.close()
        raise
    return handle


def vet_h5(root: h5py.Group, source: object) -> None:
    """Walk every link once, before any data is read, and refuse what could leave the file.

    Links are examined by their stored class (never followed unless hard), so an
    external link's target is not even opened. An object met twice (a cycle or a
    shared hard link) is refused: Keras never writes one, and refusing it keeps every
    later walk of the file linear in its size.
    """
    limits = current_limits()
    seen: set[int] = set()
    objects = 0
    declared = stored = 0
    stack: list[tuple[h5py.Group, str, int]] = [(root, "", 0)]
    with reading(source, "HDF5 structure"):
        seen.add(h5py.h5o.get_info(root.id).addr)
        while stack:
            group, path, depth = stack.pop()
            if depth >= limits.max_h5_depth:
                refuse_over(depth + 1, "max_h5_depth", f"HDF5 group depth at '{path}'", source)
            for raw_name in group.id:
                try:
                    name = raw_name.decode("utf-8")
                except UnicodeDecodeError:
                    raise ModelFileError(source, f"HDF5 link name {raw_name!r} under '{path or '/'}' "
                                                 "is not UTF-8") from None
                where = f"{path}/{name}"
                kind = group.id.links.get_info(raw_name).type
                if kind != h5py.h5l.TYPE_HARD:
                    what = _LINK_KINDS.get(kind, f"user-defined link (class {kind})")
                    raise ModelFileError(source, f"'{where}' is a {what}: refused, links must stay inside the file")
                objects += 1
                if objects > limits.max_h5_objects:
                    refuse_over(objects, "max_h5_objects", "number of HDF5 objects", source)
                oid = h5py.h5o.open(group.id, raw_name)
                info = h5py.h5o.get_info(oid)
                if info.addr in seen or info.rc > 1:
                    raise ModelFileError(source, f"'{where}' is linked from more than one place (a link cycle or "
                                                 "shared object): refused")
                seen.add(info.addr)
                if info.type == h5py.h5o.TYPE_GROUP:
                    stack.append((h5py.Group(oid), where, depth + 1))
                elif info.type == h5py.h5o.TYPE_DATASET:
                    size = _vet_dataset(h5py.Dataset(oid), where, source)
                    refuse_over(size, "max_weights_bytes", f"dataset '{where}' declared size in bytes", source)
                    declared += size
                    stored += h5py.Dataset(oid).id.get_storage_size()
                    refuse_over(declared, "max_weights_bytes", "declared size of the HDF5 datasets in bytes", source)
                else:
                    raise ModelFileError(source, f"'{where}' is an HDF5 object of unexpected type {info.type}")
        refuse_inflated(declared, stored, "the HDF5 datasets", source)


def _vet_dataset(dataset: h5py.Dataset, where: str, source: object) -> int:
    """The dataset's declared bytes, after refusing storage outside the file and plugin filters."""
    plist = dataset.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise ModelFileError(source, f"dataset '{where}' is a virtual dataset (maps data from other files): refused")
    if plist.get_external_count() > 0:
        raise ModelFileError(source, f"dataset '{where}' has external raw storage (its data lives in another "
                                     "file): refused")
    for index in range(plist.get_nfilters()):
        code = plist.get_filter(index)[0]
        if code not in BUILTIN_FILTERS:
            raise ModelFileError(source, f"dataset '{where}' uses filter {code}, not a built-in HDF5 filter: refused")
    shape = dataset.shape
    return _declared_bytes(shape, dataset.dtype) if shape is not None else 0


def h5_weight(dataset: Any, source: object) -> WeightHandle:
    """A handle on a weight dataset of a vetted file: storage, filters, dtype and declared size
    checked now, the data read only by :meth:`WeightHandle.read` (after the spec stage has
    compared the declared shape with the config's)."""
    if not isinstance(dataset, h5py.Dataset):
        raise ModelFileError(source, f"expected a weight array at '{getattr(dataset, 'name', dataset)}', "
                                     "found a group")
    with reading(source, f"weight '{dataset.name}'"):
        name = dataset.name
        _vet_dataset(dataset, name, source)  # also for datasets of a file not opened by open_h5
        check_array_dtype(dataset.dtype, source, f"weight '{name}'")
        if dataset.shape is None:
            raise ModelFileError(source, f"weight '{name}' has no dataspace (an empty HDF5 dataset)")
        shape = tuple(int(d) for d in dataset.shape)
        refuse_over(_declared_bytes(shape, dataset.dtype), "max_weights_bytes",
                    f"weight '{name}' declared size in bytes", source)
        dtype = np.dtype(dataset.dtype)
    return WeightHandle(name, shape, dtype, source, lambda: _read_h5_data(dataset, name, source))


def _read_h5_data(dataset: h5py.Dataset, name: str, source: object) -> np.ndarray:
    """The one read of a weight dataset's data (the file must still be open)."""
    with reading(source, f"weight '{name}'"):
        if not dataset.id.valid:
            raise ConversionError(f"{source}: weight '{name}' read after its file was closed")
        return np.asarray(dataset[()])


def read_h5_array(dataset: Any, source: object) -> np.ndarray:
    """A weight array from a vetted file: numeric, within limits, checked before the read."""
    return h5_weight(dataset, source).read()


def h5_attr(obj: Any, name: str, source: object, default: Any = None) -> Any:
    """An attribute's value, its stored size checked first; library errors become ModelFileError."""
    with reading(source, f"attribute '{name}' of '{getattr(obj, 'name', '/')}'"):
        if name not in obj.attrs:
            return default
        attr = obj.attrs.get_id(name)
        shape = attr.shape
        size = _declared_bytes(shape, attr.dtype) if shape is not None else 0
        refuse_over(size, "max_config_bytes", f"attribute '{name}' size in bytes", source)
        return obj.attrs[name]


def attr_text(value: Any, source: object, what: str) -> str:
    """A string attribute (str or UTF-8 bytes, or a one-element array of one)."""
    if isinstance(value, np.ndarray) and value.shape in ((), (1,)):
        value = value.reshape(()).item()
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError(source, f"{what} is not UTF-8 text") from None
    if isinstance(value, str):
        return value
    raise ModelFileError(source, f"{what} must be a string, got {type(value).__name__}")


def attr_texts(value: Any, source: object, what: str) -> list[str]:
    """A list-of-strings attribute (``layer_names``, ``weight_names``)."""
    if isinstance(value, (str, bytes, np.bytes_)):
        return [attr_text(value, source, what)]
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ModelFileError(source, f"{what} must be a list of strings, got shape {value.shape}")
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise ModelFileError(source, f"{what} must be a list of strings, got {type(value).__name__}")
    return [attr_text(item, source, f"{what} entry") for item in value]
