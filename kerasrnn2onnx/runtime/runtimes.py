"""Runtimes other than onnxruntime, for ``verify --runtime`` and the portability tests.

Each adapter loads a serialized ONNX model once and runs it on ``{input name: array}``
feeds, returning the graph outputs in order. They are imported lazily (each runtime is an
optional extra) and never used by the conversion itself. ``web`` runs onnxruntime-web's
WebAssembly build under Node through ``scripts/ort_web_driver.mjs``, one Node process for
all models, so a test run pays Node's start-up once.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..errors import MissingDependencyError, RuntimeInputError, UnsupportedError

RUNTIMES = ("onnxruntime", "openvino", "tract", "opencv", "web")


class RuntimeModel:
    """One model loaded on one runtime."""

    name = "runtime"

    def __init__(self, model: bytes) -> None:
        proto = onnx.load_from_string(model)
        initializers = {i.name for i in proto.graph.initializer}
        self.input_names = [i.name for i in proto.graph.input if i.name not in initializers]
        self.output_names = [o.name for o in proto.graph.output]

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the runtime holds (a process, temporary files)."""


class _OnnxRuntime(RuntimeModel):
    name = "onnxruntime"

    def __init__(self, model: bytes) -> None:
        super().__init__(model)
        from .session import import_onnxruntime

        ort = import_onnxruntime()
        self._session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return list(self._session.run(self.output_names, dict(feeds)))


class _FileBacked(RuntimeModel):
    """Runtimes that load models from a path: the bytes go to a private temporary file."""

    def __init__(self, model: bytes) -> None:
        super().__init__(model)
        self._dir = tempfile.mkdtemp(prefix="kerasrnn2onnx-")
        self.path = os.path.join(self._dir, "model.onnx")
        with open(self.path, "wb") as handle:
            handle.write(model)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def _need(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependencyError(f"this runtime needs {module}: pip install 'kerasrnn2onnx[{extra}]'") from None


class _OpenVINO(_FileBacked):
    name = "openvino"

    def __init__(self, model: bytes) -> None:
        super().__init__(model)
        ov = _need("openvino", "openvino")
        core = ov.Core()
        # float32 throughout: on CPUs with bf16/fp16 units OpenVINO would otherwise lower precision
        self._compiled = core.compile_model(self.path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        results = self._compiled(dict(feeds))
        return [np.asarray(results[port]) for port in self._compiled.outputs]


class _Tract(_FileBacked):
    """tract wants concrete input shapes (it aborts on symbolic dims through its RNN ops):
    one optimized model per set of input shapes, made on first use."""

    name = "tract"

    def __init__(self, model: bytes) -> None:
        super().__init__(model)
        self._tract = _need("tract", "tract")
        self._runnables: dict[tuple, Any] = {}

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        arrays = [np.ascontiguousarray(feeds[name]) for name in self.input_names]
        key = tuple((a.shape, a.dtype.str) for a in arrays)
        if key not in self._runnables:
            model = self._tract.onnx().load(self.path)
            for index, array in enumerate(arrays):
                dims = ",".join(str(d) for d in array.shape)
                model.set_input_fact(index, f"{dims},{_TRACT_TYPES[array.dtype.str]}")
            self._runnables[key] = model.into_model().into_runnable()
        outputs = self._runnables[key].run(arrays)
        return [np.asarray(o.to_numpy()) for o in outputs]


_TRACT_TYPES = {"<f4": "f32", "<i4": "i32", "<i8": "i64", "|b1": "bool"}


def opencv_refusal(proto: onnx.ModelProto) -> UnsupportedError | None:
    """Why OpenCV DNN cannot run this graph, naming the layer, the feature and the target, or
    ``None``. OpenCV has no Scan (nor Loop, nor If): a ``--target portable`` graph loops over a
    dynamic time axis with Scan, which OpenCV's importer rejects with an unnamed "handleNode"
    error; the ``opencv`` target itself refuses such layers at conversion."""
    loops = [node for node in proto.graph.node if node.op_type in _OPENCV_LACKS]
    if not loops:
        return None
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    try:
        plans = json.loads(metadata.get("lowering", "{}"))
    except ValueError:
        plans = {}
    scanned = [name for name, how in plans.items() if how == "scan"] if isinstance(plans, dict) else []
    layer = scanned[0] if scanned else (loops[0].name.split("/cell/")[0] or loops[0].op_type)
    target = metadata.get("target", "unknown")
    return UnsupportedError(layer, f"target {target}: the graph uses {loops[0].op_type} (a loop over a dynamic time "
                            f"axis, or --strategy scan), which OpenCV DNN lacks: convert with --target opencv, or "
                            "give the Keras Input a fixed length")


_OPENCV_LACKS = frozenset({"Scan", "Loop", "If"})


class _OpenCV(_FileBacked):
    name = "opencv"

    def __init__(self, model: bytes) -> None:
        refusal = opencv_refusal(onnx.load_from_string(model))
        if refusal is not None:
            raise refusal
        super().__init__(model)
        cv2 = _need("cv2", "opencv")
        self._net = cv2.dnn.readNetFromONNX(self.path)
        # OpenCV 5.0 renames outputs it cannot use as layer names (a shared layer's second
        # call, 'lstm#1', becomes 'lstm_1'); its own names, in the graph's output order
        own = list(self._net.getUnconnectedOutLayersNames())
        self._forward_names = own if len(own) == len(self.output_names) else self.output_names

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        for name in self.input_names:
            self._net.setInput(np.ascontiguousarray(feeds[name]), name)
        outputs = self._net.forward(self._forward_names)
        return [np.asarray(o) for o in outputs]


def ort_web_dir() -> Path:
    """Where scripts/install_ort_web.sh put onnxruntime-web (``KERASRNN2ONNX_ORT_WEB_DIR``
    overrides)."""
    default = Path(__file__).resolve().parents[2] / ".cache" / "ort-web"
    return Path(os.environ.get("KERASRNN2ONNX_ORT_WEB_DIR", default))


def web_unavailable() -> str | None:
    """Why the web runtime cannot run here, or ``None``."""
    if shutil.which("node") is None:
        return "the web runtime needs Node.js 20+ (node was not found on PATH)"
    if not (ort_web_dir() / "node_modules" / "onnxruntime-web").is_dir():
        return (f"the web runtime needs the npm package onnxruntime-web in {ort_web_dir()}: "
                "run scripts/install_ort_web.sh (or set KERASRNN2ONNX_ORT_WEB_DIR)")
    if not _WEB_DRIVER.is_file():
        return f"the web runtime's driver {_WEB_DRIVER} is missing (it ships with a source checkout)"
    return None


_WEB_DRIVER = Path(__file__).resolve().parents[2] / "scripts" / "ort_web_driver.mjs"
_WEB_TYPES = {"<f4": "float32", "<i4": "int32", "<i8": "int64", "|b1": "bool"}


class _NodeDriver:
    """The one Node process running scripts/ort_web_driver.mjs, shared by every web model
    of this Python process (Node and WebAssembly start-up cost about a second each time)."""

    _process: subprocess.Popen | None = None

    @classmethod
    def request(cls, payload: dict) -> dict:
        if cls._process is None or cls._process.poll() is not None:
            env = dict(os.environ, KERASRNN2ONNX_ORT_WEB_DIR=str(ort_web_dir()))
            cls._process = subprocess.Popen(["node", str(_WEB_DRIVER)], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, env=env, text=True)
        process = cls._process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(payload) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            cls._process = None
            raise RuntimeInputError("onnxruntime-web's Node driver ended without an answer")
        return dict(json.loads(line))


class _Web(_FileBacked):
    name = "web"

    def __init__(self, model: bytes) -> None:
        why = web_unavailable()
        if why:
            raise MissingDependencyError(why)
        super().__init__(model)

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        encoded = {}
        for name in self.input_names:
            array = np.ascontiguousarray(feeds[name])
            encoded[name] = {"dims": list(array.shape), "type": _WEB_TYPES[array.dtype.str],
                             "data": base64.b64encode(array.tobytes()).decode()}
        reply = _NodeDriver.request({"model": self.path, "feeds": encoded, "outputs": self.output_names})
        if "error" in reply:
            raise RuntimeInputError(f"onnxruntime-web: {reply['error']}")
        return [np.frombuffer(base64.b64decode(o["data"]), np.float32).reshape(o["dims"]) for o in reply["outputs"]]

    def close(self) -> None:
        _NodeDriver.request({"close": self.path})
        super().close()


ADAPTERS: dict[str, Callable[[bytes], RuntimeModel]] = {
    "onnxruntime": _OnnxRuntime, "openvino": _OpenVINO, "tract": _Tract, "opencv": _OpenCV, "web": _Web,
}


def load_on(runtime: str, model: bytes) -> RuntimeModel:
    """``model`` (serialized ONNX) loaded on ``runtime``; a missing runtime is one line."""
    if runtime not in ADAPTERS:
        raise RuntimeInputError(f"unknown runtime '{runtime}' (choose {', '.join(RUNTIMES)})")
    return ADAPTERS[runtime](model)


def runtime_version(runtime: str) -> str:
    """The installed version of ``runtime`` (for reports and the README table)."""
    if runtime == "onnxruntime":
        from .session import import_onnxruntime

        return str(import_onnxruntime().__version__)
    if runtime == "openvino":
        return str(_need("openvino", "openvino").__version__).split("-")[0]
    if runtime == "tract":
        return str(_need("tract", "tract").version())
    if runtime == "opencv":
        return str(_need("cv2", "opencv").__version__)
    package = ort_web_dir() / "node_modules" / "onnxruntime-web" / "package.json"
    return str(json.loads(package.read_text())["version"]) if package.is_file() else "absent"
