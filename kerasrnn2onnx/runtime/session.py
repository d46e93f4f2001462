"""The Session: runs a converted model, stateless or not, and carries recurrent states
between calls the way a stateful Keras model does.

ONNX models are stateless: a converted stateful layer (or any layer converted with
``--expose-states``) takes its initial states as extra inputs and returns its final states
as extra outputs; the ``states`` metadata entry lists them. The Session feeds the carried
states, keeps the new ones, and hides both from the caller, so ``run`` looks like one call
of the Keras model. States are batch-major ``(batch, width)``, like Keras's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from ..errors import MissingDependencyError, RuntimeInputError
from .providers import import_onnxruntime, resolve_providers

NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
               "tensor(bool)": np.bool_}


class Session:
    """Run a converted model and carry its recurrent states from call to call.

    ``run(inputs)`` takes arrays in model-input order (or a dict by input name) and returns
    the model's outputs in order; ``reset_states()`` zeroes every state and
    ``reset_states(samples=[i, ...])`` only those batch rows (one stream ends, others go
    on); ``states`` reads or sets them by ``"<layer>/<state>"``. ``intra_op_threads``
    defaults to the converter's measured recommendation for small models (metadata
    ``recommended_intra_op_threads``), else onnxruntime's default. ``profile_prefix`` turns
    on onnxruntime's profiler (files start with it); ``node_providers()`` then says which
    execution provider ran each node, the way to prove nothing fell back to the CPU.
    """

    def __init__(self, model: str | os.PathLike | onnx.ModelProto | bytes,
                 providers: Sequence[Any] | str | None = None, *, intra_op_threads: int | None = None,
                 profile_prefix: str | None = None) -> None:
        ort = import_onnxruntime()
        if isinstance(model, onnx.ModelProto):
            payload: Any = model.SerializeToString()
        elif isinstance(model, bytes):
            payload = model
        else:
            payload = os.fspath(model)
            if not os.path.isfile(payload):
                raise RuntimeInputError(f"{payload}: ONNX file not found")
        chosen_providers = resolve_providers(providers, ort)

        def create(threads: int | None) -> Any:
            options = ort.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
            if profile_prefix is not None:
                options.enable_profiling = True
                options.profile_file_prefix = profile_prefix
            return ort.InferenceSession(payload, options, providers=chosen_providers)

        self._session = create(intra_op_threads)
        metadata = self._session.get_modelmeta().custom_metadata_map
        if intra_op_threads is None and "recommended_intra_op_threads" in metadata:
            # the converter's measured recommendation; it exists only for small models, so
            # creating the session again costs little (and spares a second parse up front)
            intra_op_threads = int(metadata["recommended_intra_op_threads"])
            self._session = create(intra_op_threads)
        first = chosen_providers[0][0] if isinstance(chosen_providers[0], tuple) else chosen_providers[0]
        if self._session.get_providers()[0] != first:
            raise MissingDependencyError(f"onnxruntime could not start {first} (CUDA or cuDNN libraries missing?)")
        self.intra_op_threads = intra_op_threads
        self._io = json.loads(metadata.get("states", "[]"))
        state_inputs = {entry["input"] for entry in self._io}
        state_outputs = {entry["output"] for entry in self._io}
        self._inputs = [i for i in self._session.get_inputs() if i.name not in state_inputs]
        self.input_names = [i.name for i in self._inputs]
        # per input: (name, numpy dtype, rank, ((axis, fixed size), ...)) checked on every call
        self._checks = [(i.name, np.dtype(NUMPY_TYPES.get(i.type, np.float32)), len(i.shape),
                         tuple((k, d) for k, d in enumerate(i.shape) if isinstance(d, int))) for i in self._inputs]
        self.output_names = [o.name for o in self._session.get_outputs() if o.name not in state_outputs]
        self._fetch = self.output_names + [entry["output"] for entry in self._io]
        self._state_inputs = [entry["input"] for entry in self._io]
        shapes = {i.name: i.shape for i in self._session.get_inputs()}
        fixed = {shapes[e["input"]][0] for e in self._io if isinstance(shapes[e["input"]][0], int)}
        self._fixed_batch = fixed.pop() if fixed else None
        self._states: dict[str, np.ndarray] | None = None
        if self._fixed_batch is not None:
            self.reset_states()
        self._call = _fast_run(self._session)
        self._count = len(self.output_names)

    # -- states ----------------------------------------------------------------------
    @property
    def onnxruntime_session(self) -> Any:
        """The underlying ``onnxruntime.InferenceSession`` (for IOBinding, profiling, or
        timing without this wrapper), created with the providers and threads chosen here."""
        return self._session

    def node_providers(self, op_types: set[str] | None = None) -> dict[str, str]:
        """Ends profiling (needs ``profile_prefix``) and returns ``{node name: execution
        provider}`` for every node onnxruntime ran (only ``op_types`` when given), read from
        the profile it wrote."""
        path = self._session.end_profiling()
        if not path:
            raise RuntimeInputError("node_providers() needs a Session created with profile_prefix")
        with open(path) as handle:
            events = json.load(handle)
        placed = {}
        for event in events:
            args = event.get("args", {})
            wanted = op_types is None or args.get("op_name") in op_types
            if event.get("cat") == "Node" and "provider" in args and wanted:
                placed[event["name"].removesuffix("_kernel_time")] = args["provider"]
        return placed

    @property
    def state_names(self) -> list[str]:
        return [f"{e['layer']}/{e['state']}" for e in self._io]

    @property
    def states(self) -> dict[str, np.ndarray]:
        """Copies of the carried states, by ``"<layer>/<state>"`` (empty before the first
        call of a model whose batch size is dynamic)."""
        if self._states is None:
            return {}
        return {f"{e['layer']}/{e['state']}": self._states[e["input"]].copy() for e in self._io}

    @states.setter
    def states(self, values: Mapping[str, np.ndarray]) -> None:
        by_name = {f"{e['layer']}/{e['state']}": e for e in self._io}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise RuntimeInputError(f"unknown state(s) {', '.join(unknown)}; the model has {', '.join(by_name)}")
        current = dict(self._states or {})
        for name, value in values.items():
            entry = by_name[name]
            array = np.ascontiguousarray(value, dtype=np.float32)
            batch = self._batch_of(current) or self._fixed_batch or array.shape[0]
            if array.shape != (batch, entry["width"]):
                raise RuntimeInputError(f"state '{name}' has shape {array.shape}, expected ({batch}, {entry['width']})")
            current[entry["input"]] = array
        if len(current) != len(self._io):
            missing = [n for n, e in by_name.items() if e["input"] not in current]
            raise RuntimeInputError(f"set every state at once the first time; missing {', '.join(missing)}")
        self._states = current

    def reset_states(self, samples: Sequence[int] | None = None) -> None:
        """Zero every state, or only the batch rows in ``samples``."""
        if samples is None:
            batch = self._fixed_batch or self._batch_of(self._states or {})
            if batch is None:
                self._states = None  # dynamic batch and never run: allocated on the first call
                return
            self._states = {e["input"]: np.zeros((batch, e["width"]), np.float32) for e in self._io}
            return
        if self._states is None:
            return
        rows = np.asarray(list(samples), dtype=np.int64)
        batch = self._batch_of(self._states)
        if batch is None:
            return  # no carried states: nothing to reset
        if rows.size and (rows.min() < -batch or rows.max() >= batch):
            raise RuntimeInputError(f"samples {list(samples)} out of range for batch {batch}")
        for array in self._states.values():
            array[rows] = 0.0

    @staticmethod
    def _batch_of(states: Mapping[str, np.ndarray]) -> int | None:
        for array in states.values():
            return int(array.shape[0])
        return None

    # -- running ---------------------------------------------------------------------
    def _arrays(self, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        # the common streaming call (one array, or a list) is tested first: this runs per step
        if isinstance(inputs, np.ndarray):
            arrays: list[Any] = [inputs]
        elif isinstance(inputs, (list, tuple)):
            arrays = list(inputs)
        elif isinstance(inputs, Mapping):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise RuntimeInputError(f"missing input(s): {', '.join(missing)}")
            arrays = [inputs[n] for n in self.input_names]
        else:
            arrays = [np.asarray(inputs)]
        if len(arrays) != len(self.input_names):
            raise RuntimeInputError(f"expected {len(self.input_names)} input(s) ({', '.join(self.input_names)}), "
                                    f"got {len(arrays)}")
        feeds = {}
        for (name, dtype, rank, fixed), meta, array in zip(self._checks, self._inputs, arrays, strict=True):
            if not (isinstance(array, np.ndarray) and array.dtype == dtype and array.flags.c_contiguous):
                array = np.ascontiguousarray(array, dtype=dtype)
            shape = array.shape
            bad = len(shape) != rank
            for axis, size in fixed:  # a loop, not any(genexpr): a generator costs ~1 us per call
                if bad or shape[axis] != size:
                    bad = True
                    break
            if bad:
                shown = "(" + ", ".join(str(e) if isinstance(e, int) else "?" for e in meta.shape) + ")"
                raise RuntimeInputError(f"input '{name}' has shape {shape}, the model expects {shown}")
            feeds[name] = array
        return feeds

    def run(self, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """One call: the model's outputs, in order; carried states advance."""
        feeds = self._arrays(inputs)
        if not self._io:
            return self._call(self.output_names, feeds, None)
        states = self._states
        batch = feeds[self.input_names[0]].shape[0]
        if states is None:
            states = self._states = {e["input"]: np.zeros((batch, e["width"]), np.float32) for e in self._io}
        carried = next(iter(states.values())).shape[0]
        if carried != batch:
            raise RuntimeInputError(f"input batch {batch} but the carried states have batch {carried}"
                                    + ("" if self._fixed_batch else "; call reset_states() to change it"))
        feeds.update(states)
        results = self._call(self._fetch, feeds, None)
        count = self._count
        self._states = dict(zip(self._state_inputs, results[count:], strict=True))
        return results[:count]


def _fast_run(session: Any) -> Any:
    """The run call for the Session's hot path. On a CPU-only session it is the binding's
    own ``run``, skipping ``InferenceSession.run``'s per-call Python checks (input names,
    OrtValue ownership, graph capture), which the Session has already made or which cannot
    apply (it feeds NumPy arrays by the model's own names): that is what keeps a one-step
    streaming call as cheap as a bare ``InferenceSession.run`` (scripts/bench_session.py).
    Elsewhere (CUDA, whose provider fallback lives in that wrapper) the public ``run``."""
    raw = getattr(session, "_sess", None)
    if raw is not None and callable(getattr(raw, "run", None)) and session.get_providers() == ["CPUExecutionProvider"]:
        return raw.run
    return session.run
