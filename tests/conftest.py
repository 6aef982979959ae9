"""Shared fixtures: a scratch project (the files a stage needs to find its root); and the
rule that a deprecation raised through the library's own code fails the test."""

from __future__ import annotations

import os
import shutil
import subprocess
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


def copy_repo(dest: Path) -> dict:
    """A git repo at `dest` holding the tracked and untracked-not-ignored files of this
    checkout, without pipeline outputs; returns the environment to run its commands in."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    outputs = ("data/", "models/", "reports/")  # pipeline outputs: the copy must make its own
    for rel in files:
        if rel.startswith(outputs) and not rel.endswith(".gitignore"):
            continue
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(dest / "lib"),  # the copy's library, not the editable install's
           "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("RDMLDG_ROOT", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, env=env, check=True, capture_output=True)
    (dest / "dvc.lock").unlink(missing_ok=True)
    return env


def run_ok(cwd: Path, *cmd: str, env: dict, timeout: int = 900) -> str:
    """Run a command; fail the test with its output's tail unless it succeeds."""
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-12000:]}\n{out.stderr[-12000:]}"
    return out.stdout + out.stderr
