"""The library's imports point one way: down the layers below, never up or sideways into a
package of the same layer. A module may import its own layer's foundation modules and any
module of a lower layer; notebooks, tests and benchmarks sit above it all."""

import ast
from pathlib import Path

import module_graph
from module_graph import LIB, imports, module_name

# lowest first; a module belongs to the first entry that is a prefix of its name
LAYERS = [
    ("foundation", ["rdmldg.paths", "rdmldg.io", "rdmldg.numerics", "rdmldg.seeding", "rdmldg.fingerprints",
                    "rdmldg.lockfile", "rdmldg.provenance", "rdmldg.chains", "rdmldg.methods", "rdmldg.datasets"]),
    ("params", ["rdmldg.params"]),
    ("data", ["rdmldg.data"]),
    ("models", ["rdmldg.models"]),
    ("teachers", ["rdmldg.teachers"]),
    ("chain dataset", ["rdmldg.chain_dataset"]),
    ("training", ["rdmldg.training"]),
    ("evaluation", ["rdmldg.evaluation"]),
    ("analysis", ["rdmldg.analysis"]),
    ("stages", ["rdmldg.plots", "rdmldg.stage", "rdmldg.reports", "rdmldg.nbrun"]),
]


def layer_of(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def _package(module: str) -> str:
    """The unit that may import itself freely: a subpackage (rdmldg.training), or a top-level module."""
    return ".".join(module.split(".")[:2])


def violations() -> list[str]:
    found = []
    for path in sorted(LIB.rglob("*.py")):
        source = module_name(path.relative_to(LIB.parent))
        if source == "rdmldg":
            continue
        for target in sorted(imports(path.relative_to(LIB.parent))):
            if target == "rdmldg" or _package(target) == _package(source):
                continue
            up, same = layer_of(target) > layer_of(source), layer_of(target) == layer_of(source)
            if up or (same and LAYERS[layer_of(source)][0] != "foundation"):
                found.append(f"{source} ({LAYERS[layer_of(source)][0]}) imports {target} "
                             f"({LAYERS[layer_of(target)][0]})")
    return found


def test_every_library_import_points_down_the_layers():
    found = violations()
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The check above can fail: an analysis import inside the data layer is reported."""
    import module_graph

    real_imports = module_graph.imports

    def with_one_more(path: Path) -> set[str]:
        extra = {"rdmldg.analysis.paired"} if path == Path("lib/rdmldg/data/splits.py") else set()
        return real_imports(path) | extra

    monkeypatch.setattr("test_layers.imports", with_one_more)
    assert violations() == ["rdmldg.data.splits (data) imports rdmldg.analysis.paired (analysis)"]


# Notebooks read like the paper's sections: each cell calls the library and shows what it
# returns, so a notebook stays short and every loop lives where a test can reach it.
NOTEBOOK_LINES = 175  # the aim is ~150; the analysis notebook's nine sections take ~170 with their prose


def notebook_loops(source: str) -> list[int]:
    """Lines of `for` / `while` statements in a notebook (comprehensions are expressions, not loops)."""
    return [n.lineno for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.For, ast.While, ast.AsyncFor))]


def test_notebooks_are_short_and_hold_no_loops():
    notebooks = sorted((module_graph.ROOT / "notebooks").glob("*.py"))
    assert len(notebooks) == 7
    long = {p.name: n for p in notebooks if (n := len(p.read_text().splitlines())) > NOTEBOOK_LINES}
    loops = {p.name: lines for p in notebooks if (lines := notebook_loops(p.read_text()))}
    assert not long, f"notebooks over {NOTEBOOK_LINES} lines: {long}"
    assert not loops, f"loops in notebooks (move them into lib/rdmldg, with a test): {loops}"


def test_the_loop_check_sees_a_loop_and_not_a_comprehension():
    assert notebook_loops("x = [i for i in range(3)]\nif x:\n    for i in x:\n        print(i)\n") == [3]
