"""Shared fixtures: a scratch project (the files a stage needs to find its root); and the
rule that a deprecation raised through the library's own code fails the test."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from rdmldg import params

REPO = Path(__file__).resolve().parents[1]
LIBRARY = str(REPO / "lib" / "rdmldg")
_show_warning = warnings._showwarnmsg


def _deprecations_through_rdmldg_fail(msg: warnings.WarningMessage) -> None:
    """A FutureWarning or DeprecationWarning with an rdmldg frame on the stack becomes an error
    at the call that raised it. (Warnings name the caller `stacklevel` frames up, which for
    a deprecated keyword is torch's Module.__call__, so a module filter would miss them; the
    stack does not.) Warnings that a filter ignores never get here."""
    if issubclass(msg.category, (DeprecationWarning, FutureWarning)):
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith(LIBRARY):
                raise msg.category(f"{msg.message} [reached through {frame.f_code.co_filename}:{frame.f_lineno}]")
            frame = frame.f_back
    _show_warning(msg)


warnings._showwarnmsg = _deprecations_through_rdmldg_fail


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
