"""Pass counts of the real-Keras fixtures on one runtime, for the README's runtime table.

    python scripts/runtime_parity.py --runtime tract --target tract [--match 'k3_*'] [--json out.json]

Every non-stateful fixture is converted with ``--target`` and run on ``--runtime``; a
fixture passes when every case matches Keras at the fixture's tolerance. A refusal of the
target (a ConversionError) is counted apart from a failure, and so is the adapter's refusal
of a graph its runtime cannot run (a portable graph's Scan on OpenCV). A runtime that crashes the
process (tract aborts on some graphs) only loses that fixture: the sweep runs in a child
process that is restarted after the fixture it died on.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(runtime: str, target: str, strategy: str, names: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import kerasrnn2onnx
    from kerasrnn2onnx.errors import ConversionError
    from kerasrnn2onnx.runtime.runtimes import load_on
    from tests.conftest import MANIFEST, SAMPLES, load_file_module

    load_file_module(SAMPLES / "custom_cells.py", "custom_cells")  # the custom-cell fixtures' converters
    by_name = {f.name: f for f in MANIFEST}
    for name in names:
        print(json.dumps({"start": name}), flush=True)
        fixture = by_name[name]
        try:
            proto = kerasrnn2onnx.convert(fixture.model, target=target, strategy=strategy, **fixture.load_kwargs())
        except ConversionError as exc:
            print(json.dumps({"name": name, "result": "refused", "why": str(exc)}), flush=True)
            continue
        try:
            model = load_on(runtime, proto.SerializeToString())
        except ConversionError as exc:  # the adapter refuses a graph the runtime cannot run (Scan on OpenCV)
            print(json.dumps({"name": name, "result": "refused", "why": str(exc)}), flush=True)
            continue
        except Exception as exc:  # noqa: BLE001 - a runtime's failure is a result here
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            print(json.dumps({"name": name, "result": "fail", "why": f"{type(exc).__name__}: {first}"}), flush=True)
            continue
        try:
            worst = 0.0
            for ins, expected in fixture.cases:
                outs = model.run(dict(zip(model.input_names, ins, strict=True)))
                for a, e in zip(outs, expected, strict=True):
                    a = np.asarray(a, dtype=np.float64).reshape(e.shape)
                    np.testing.assert_allclose(a, e, **fixture.tolerance(np.float32))
                    worst = max(worst, float(np.max(np.abs(a - e))) if e.size else 0.0)
            model.close()
            print(json.dumps({"name": name, "result": "pass", "max_abs_error": worst}), flush=True)
        except Exception as exc:  # noqa: BLE001 - a runtime's failure is a result here
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            print(json.dumps({"name": name, "result": "fail", "why": f"{type(exc).__name__}: {first}"}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", required=True)
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--match", default="*")
    parser.add_argument("--json", help="write every fixture's result here")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.runtime, args.target, args.strategy, args.child)
        return 0
    sys.path.insert(0, str(ROOT))
    from tests.conftest import MANIFEST

    names = [f.name for f in MANIFEST if not f.sequential and "stateful" not in f.tags
             and any(fnmatch.fnmatch(f.name, p) for p in args.match.split(","))]
    results: dict[str, dict] = {}
    remaining = list(names)
    while remaining:
        command = [sys.executable, __file__, "--runtime", args.runtime, "--target", args.target,
                   "--strategy", args.strategy, "--child", *remaining]
        child = subprocess.run(command, capture_output=True, text=True, check=False)
        current = None
        for line in child.stdout.splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if "start" in entry:
                current = entry["start"]
            else:
                results[entry["name"]] = entry
                current = None
        if current is not None:  # the runtime took the process down on this fixture
            tail = (child.stderr.strip().splitlines() or ["no message"])[-1][:300]
            results[current] = {"name": current, "result": "crash", "why": f"exit {child.returncode}: {tail}"}
        remaining = [n for n in names if n not in results]
        if current is None and remaining:
            for name in remaining:
                results[name] = {"name": name, "result": "crash", "why": child.stderr.strip()[-300:]}
            break
    kinds = ("pass", "fail", "crash", "refused")
    counts = {kind: sum(1 for r in results.values() if r["result"] == kind) for kind in kinds}
    for entry in results.values():
        if entry["result"] != "pass":
            print(f"{entry['name']}: {entry['result']}: {entry.get('why', '')}")
    print(f"{args.runtime} target {args.target} strategy {args.strategy}: {counts['pass']}/{len(names)} pass, "
          f"{counts['fail']} fail, "
          f"{counts['crash']} crash, {counts['refused']} refused")
    if args.json:
        Path(args.json).write_text(json.dumps({"runtime": args.runtime, "target": args.target, "counts": counts,
                                               "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
