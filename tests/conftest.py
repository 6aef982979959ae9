"""Shared fixtures: a scratch project (the files a stage needs to find its root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdmldg import params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project root with default params written, as `apply default` leaves them."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "params" / "profiles").mkdir(parents=True)
    for profile in (REPO / "params" / "profiles").glob("*.yaml"):
        (tmp_path / "params" / "profiles" / profile.name).write_text(profile.read_text())
    params.apply_profile("default", tmp_path / "params")
    return tmp_path
