"""Every library module a stage notebook imports is among the stage's DVC deps, so editing it
reruns the stage (direct imports; the modules they import in turn are the deps' business)."""

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(notebook: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(notebook.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rdmldg"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("rdmldg"))
    return names


def _module_file(name: str) -> Path | None:
    base = ROOT / "lib" / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(ROOT)
    return None  # a name imported from a module (a function, a class), not a module


def test_every_imported_library_module_is_a_dependency_of_its_stage():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = []
    for name, stage in stages.items():
        stage = stage.get("do", stage)  # foreach stages keep theirs under `do`
        cmd = stage["cmd"]
        notebook = next((w for w in cmd.split() if w.startswith("notebooks/")), None)
        if notebook is None:
            continue
        deps = [Path(d) for d in stage.get("deps", [])]
        for module in sorted(_imported_modules(ROOT / notebook)):
            f = _module_file(module)
            if f is not None and f.name != "__init__.py" and not any(f == d or d in f.parents for d in deps):
                missing.append(f"{name}: {f}")
    assert not missing, "stage deps lack imported modules (add them to dvc.yaml):\n" + "\n".join(missing)
