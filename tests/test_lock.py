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
    wanted = project["dependencies"] + [d for ds in project["optional-dependencies"].values() for d in ds]
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
    assert found == ["a: locked 1.0, installed 1.1", "b: locked 2.0, not installed", "c: installed 3.0, not in the lock"]
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
