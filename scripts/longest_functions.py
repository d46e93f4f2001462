"""The longest functions of a package, by source lines (``def`` line to last line).

A design measure for docs/design.md: run it on two checkouts to see whether a refactor
shortened what a reader has to hold in mind at once::

    python scripts/longest_functions.py kerasrnn2onnx --top 10
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def functions(root: Path) -> list[tuple[int, str]]:
    """``(lines, "path:qualified.name")`` for every function and method under ``root``."""
    found: list[tuple[int, str]] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))

        def visit(node: ast.AST, prefix: str, file: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = f"{prefix}{child.name}"
                    assert child.end_lineno is not None
                    found.append((child.end_lineno - child.lineno + 1, f"{file.relative_to(root.parent)}:{name}"))
                    visit(child, f"{name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")

        visit(tree, "")
    return sorted(found, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    for lines, name in functions(args.package)[: args.top]:
        print(f"{lines:4d}  {name}")


if __name__ == "__main__":
    main()
