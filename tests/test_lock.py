"""requirements.lock: a pin for every package, in step with pyproject.toml, in every provenance table."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from rdmldg import lockfile, provenance

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / lockfile.LOCK


def test_the_lock_satisfies_every_dependency_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [d for extra, ds in project["optional-dependencies"].items() for d in ds
                                        if extra != "gpu"]  # the CUDA machine's: requirements-gpu.lock
    pins = lockfile.pins(LOCK)
    stale = []
    for line in wanted:
        req = Requirement(line)
        name = lockfile.canonical(req.name)
        if name == "rdmldg":
            continue
        if name not in pins or not req.specifier.contains(pins[name], prereleases=True):
            stale.append(f"{line} (locked: {pins.get(name, 'absent')})")
    assert stale == [], f"requirements.lock is out of step with pyproject.toml; run `make lock`: {stale}"
    assert pins["torch"].startswith("2.13.0") and "torchvision" not in pins  # the CPU wheel, never torchvision


def test_differences_name_what_keeps_an_environment_from_the_lock():
    found = lockfile.differences({"a": "1.0", "b": "2.0"}, {"a": "1.1", "c": "3.0"})
    assert found == ["a: locked 1.0, installed 1.1", "b: locked 2.0, not installed",
                     "c: installed 3.0, not in the lock"]
    assert lockfile.differences({"a": "1.0"}, {"a": "1.0"}) == []


def test_a_line_that_is_not_a_pin_is_refused(tmp_path):
    bad = tmp_path / "requirements.lock"
    bad.write_text("# header\nnumpy==2.0\ntorch>=2\n")
    with pytest.raises(ValueError, match=r"requirements.lock:3: not a pin.*make lock"):
        lockfile.pins(bad)


def test_provenance_records_the_lock_hash_and_the_numerics():
    record = provenance.record(REPO)
    assert record["lock_sha256"] == lockfile.digest(LOCK) and len(record["lock_sha256"]) == 16
    assert record["numerics"] in ("pinned", "native") and record["cpu"]


# ----------------------------------------------------------------------------- the CUDA lock
def test_gpu_lock_is_the_cpu_lock_with_cuda_torch_and_torchvision():
    cpu, gpu = lockfile.pins(REPO / lockfile.LOCK), lockfile.pins(REPO / lockfile.GPU_LOCK)
    assert cpu["torch"].endswith("+cpu") and gpu["torch"] == cpu["torch"].removesuffix("+cpu")
    assert {n: v for n, v in gpu.items() if n in cpu and n != "torch"} == {n: v for n, v in cpu.items() if n != "torch"}
    added = set(gpu) - set(cpu)
    assert "torchvision" in added and all(n.startswith(("nvidia-", "cuda-", "triton", "torchvision")) for n in added)
    # torchvision 0.M pairs with torch 2.(M-15): 0.28 with 2.13
    torch_minor, vision_minor = int(gpu["torch"].split(".")[1]), int(gpu["torchvision"].split(".")[1])
    assert vision_minor == torch_minor + 15
    extra = [Requirement(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
             ["optional-dependencies"]["gpu"]]
    assert all(gpu[lockfile.canonical(r.name)] in r.specifier for r in extra)


def test_gpu_constraints_let_pypi_choose_the_cuda_build():
    assert lockfile.gpu_constraints({"torch": "2.13.0+cpu", "numpy": "2.4.6"}) == ["numpy==2.4.6", "torch==2.13.0"]


@pytest.mark.parametrize("gpu, lock, extras", [("1", "requirements-gpu.lock", "dev,lab,gpu"),
                                               ("0", "requirements.lock", "dev,lab")])
def test_make_env_installs_the_lock_of_the_machine(gpu, lock, extras):
    import subprocess

    plan = subprocess.run(["make", "-n", "-B", "env", f"GPU={gpu}"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout
    assert f"-c {lock} -e '.[{extras}]'" in plan and f"rdmldg.lockfile verify {lock}" in plan
