"""Where things live. Every path in the study is relative to the project root."""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("dvc.yaml", "pyproject.toml")


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: cwd) holding dvc.yaml and pyproject.toml.

    `RDMLDG_ROOT` overrides the search, for notebooks opened from elsewhere.
    """
    if env := os.environ.get("RDMLDG_ROOT"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / m).exists() for m in _MARKERS):
            return folder
    raise FileNotFoundError(
        f"no project root (a folder with {' and '.join(_MARKERS)}) at or above {here}; "
        "run from inside the checkout or set RDMLDG_ROOT"
    )


def params_dir(root: Path | None = None) -> Path:
    return (root or find_root()) / "params"


def data_dir(root: Path | None = None) -> Path:
    return (root or find_root()) / "data"


def reports_dir(root: Path | None = None) -> Path:
    return (root or find_root()) / "reports"


def metrics_dir(root: Path | None = None) -> Path:
    return reports_dir(root) / "metrics"
