"""Fingerprint every fixture's conversion, to prove a refactor left the lowering unchanged.

For each fixture of tests/fixtures/manifest.json and each conversion setting (every
strategy on the CPU target, ``auto`` on every other target, the oldest opset, exposed
states) this records the SHA-256 of the serialized ONNX model, or the refusal message
where the setting is refused; plus the hash of ``describe``'s text and of the float64
NumPy reference's outputs on the fixture's first case. Two runs (before and after a
change) are compared with ``--compare``::

    python scripts/onnx_fingerprint.py --out /tmp/before.json
    python scripts/onnx_fingerprint.py --out /tmp/after.json --compare /tmp/before.json

Byte-identical models mean the lowering is unchanged node for node (names included).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

SETTINGS: dict[str, dict] = {
    **{f"cpu-{s}": {"strategy": s} for s in ("auto", "native", "scan", "unroll")},
    **{f"{t}-auto": {"target": t} for t in ("cuda", "openvino", "tract", "opencv", "web", "portable")},
    "cpu-auto-opset14": {"opset": 14},
    "cpu-auto-states": {"expose_states": True},
}


def _register_custom_cells() -> None:
    spec = importlib.util.spec_from_file_location("custom_cells", ROOT / "samples" / "custom_cells.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_cells"] = module
    spec.loader.exec_module(module)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def fingerprint(entry: dict) -> dict[str, str]:
    from kerasrnn2onnx import describe, load
    from kerasrnn2onnx.errors import ConversionError
    from kerasrnn2onnx.lowering import build_model
    from kerasrnn2onnx.reference import run_model

    weights = FIXTURES / entry["weights_file"] if entry.get("weights_file") else None
    kwargs = {"weights": weights, "keras_version": entry.get("keras_major_flag")}
    result: dict[str, str] = {}
    try:
        spec = load(FIXTURES / entry["model_file"], **kwargs)
    except ConversionError as exc:
        return {"load": f"refused: {exc}"}
    result["describe"] = _digest(describe(spec).encode())
    with np.load(FIXTURES / f"{entry['name']}.io.npz") as data:
        ins = [data[f"c0_in{i}"] for i in range(100) if f"c0_in{i}" in data]
    with np.errstate(all="ignore"):
        outs = run_model(spec, ins, np.float64)
    result["reference"] = _digest(b"".join(np.ascontiguousarray(o).tobytes() for o in outs))
    for name, setting in SETTINGS.items():
        try:
            proto = build_model(spec, converter_version="fingerprint", **setting)
        except ConversionError as exc:
            result[name] = f"refused: {exc}"
            continue
        result[name] = _digest(proto.SerializeToString(deterministic=True))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--compare", help="an earlier --out file: print every difference, exit 1 if any")
    parser.add_argument("--match", default="*", help="fixture name pattern(s), comma-separated")
    args = parser.parse_args()
    # fingerprint the checkout this script is in, not whatever kerasrnn2onnx the interpreter
    # imports (an editable install of another worktree): a before/after pair from two
    # checkouts sharing one venv would otherwise compare the same code with itself
    sys.path.insert(0, str(ROOT))
    _register_custom_cells()
    entries = json.loads((FIXTURES / "manifest.json").read_text())
    patterns = args.match.split(",")
    results = {e["name"]: fingerprint(e) for e in entries if any(fnmatch(e["name"], p) for p in patterns)}
    Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True))
    print(f"{len(results)} fixtures, {sum(len(r) for r in results.values())} fingerprints -> {args.out}")
    if not args.compare:
        return 0
    before = json.loads(Path(args.compare).read_text())
    differences = 0
    for name in sorted(set(before) | set(results)):
        old, new = before.get(name, {}), results.get(name, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                differences += 1
                print(f"DIFF {name} {key}: {old.get(key)} -> {new.get(key)}")
    print(f"{differences} difference(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
