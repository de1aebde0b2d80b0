#!/usr/bin/env python3
"""Shape of the code, as the architecture notes promise it: the longest functions and every
import of a private name (``from x import _y``, or ``x._y``) across modules.

    python scripts/metrics.py [src/rofs] [--max-lines 80]

Exit 1 when a function is longer than --max-lines or a module reaches into another's private
names (a module's own ``_names`` and dunder names are fine).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def functions(tree: ast.AST) -> list[tuple[int, str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            out.append((length, node.name, node.lineno))
    return out


def private_imports(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    imported_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rofs"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    out.append((node.lineno, f"from {node.module} import {alias.name}"))
                else:
                    imported_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("rofs"):
                    imported_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in imported_modules):
            out.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).parent.parent / "src" / "rofs"))
    parser.add_argument("--max-lines", type=int, default=80)
    args = parser.parse_args()
    longest: list[tuple[int, str]] = []
    reaches: list[str] = []
    for path in sorted(Path(args.root).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        longest += [(n, f"{path}:{line} {name}") for n, name, line in functions(tree)]
        reaches += [f"{path}:{line} {what}" for line, what in private_imports(tree)]
    longest.sort(reverse=True)
    print("longest functions:")
    for n, where in longest[:5]:
        print(f"  {n:4d} {where}")
    too_long = [w for n, w in longest if n > args.max_lines]
    print(f"functions over {args.max_lines} lines: {len(too_long)}")
    print(f"imports of private names across modules: {len(reaches)}")
    for where in reaches:
        print(f"  {where}")
    return 1 if too_long or reaches else 0


if __name__ == "__main__":
    sys.exit(main())
