"""Every library module a stage notebook reads — imported by it or by the modules it imports,
at any depth — is among the stage's DVC deps, so editing it reruns the stage."""

from pathlib import Path

import yaml

from module_graph import ROOT, closure

# DVC tracks the resolved values in params/*.yaml instead of the params package (see dvc.yaml's
# header); the package marker holds nothing
NOT_DEPS = frozenset({p.relative_to(ROOT) for p in (ROOT / "lib" / "rdmldg" / "params").glob("*.py")}
                     | {Path("lib/rdmldg/__init__.py")})


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}  # foreach stages keep theirs under `do`


def _entries(cmd: str) -> set[Path]:
    """The files a stage command runs: the module after `-m`, and the notebook it is given."""
    words = cmd.split()
    module = words[words.index("-m") + 1]
    return {Path("lib", *module.split(".")).with_suffix(".py")} | {Path(w) for w in words if w.startswith("notebooks/")}


def test_every_library_module_a_stage_reads_is_a_dependency_of_the_stage():
    missing = []
    for name, stage in _stages().items():
        deps = [Path(d) for d in stage.get("deps", [])]
        entries = _entries(stage["cmd"])
        for f in sorted(entries.union(*(closure(e, NOT_DEPS) for e in entries))):
            if not any(f == d or d in f.parents for d in deps):
                missing.append(f"{name}: {f}")
    assert not missing, "stage deps lack modules the stage reads (add them to dvc.yaml):\n" + "\n".join(missing)


def test_the_graph_follows_imports_at_every_depth():
    """The closure is what the check above relies on: a notebook's import of `training.run`
    reaches the sequences module through `training.pathways`."""
    reached = closure(Path("notebooks/05_train.py"))
    assert Path("lib/rdmldg/training/run.py") in reached
    assert Path("lib/rdmldg/models/sequences.py") in reached and Path("lib/rdmldg/training/__init__.py") in reached


def test_the_pipeline_trains_and_reads_exactly_the_methods_the_library_defines():
    """`rdmldg.methods.METHODS` is the one list of methods; dvc.yaml's train matrix, and the
    stages downstream that name each method's outputs, must follow it."""
    from rdmldg.methods import METHODS

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert stages["train"]["matrix"]["method"] == list(METHODS)
    for stage, pattern in (("evaluate", "models/runs/{}"), ("analysis", "reports/metrics/train-{}.json"),
                           ("report", "reports/train/method-{}.html")):
        named = {d for d in stages[stage]["deps"] if any(d == pattern.format(m) for m in METHODS)
                 or d.startswith(pattern.split("{}")[0])}
        assert named == {pattern.format(m) for m in METHODS}, stage
