"""The library's import graph, read from source (nothing is imported): which `rdmldg` modules
each module or notebook imports, at any depth of the file (function-level imports included)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"


def module_file(name: str) -> Path | None:
    """The file of module `name` (relative to the repo), or None when `name` is not a module
    (a function or class imported from one)."""
    base = LIB / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(ROOT)
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to("lib").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The library modules the file at `path` (relative to the repo) imports."""
    found = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rdmldg"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rdmldg"))
    return {m for m in found if module_file(m)}


@cache
def closure(path: Path, skip: frozenset[Path] = frozenset()) -> frozenset[Path]:
    """Every library file that importing `path` reads: its imports, theirs, and the packages
    they sit in (a package's __init__ runs before its modules); the files in `skip` are
    neither included nor followed."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        for name in imports(todo.pop()):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                f = module_file(".".join(parts[:i]))
                if f is not None and f not in seen and f not in skip:
                    seen.add(f)
                    todo.append(f)
    return frozenset(seen)
