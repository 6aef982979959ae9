"""What produced a result: code revision, locked environment, package versions, machine, numerics."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from rdmldg import lockfile, numerics

PACKAGES = ("rdmldg", "numpy", "pandas", "pillow", "scikit-learn", "torch", "transformers", "peft",
            "accelerate", "papermill", "dvc")


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def _device() -> str:
    if "torch" not in sys.modules:  # importing torch only to ask would cost seconds
        return "cpu (torch not loaded)"
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"cpu ({torch.get_num_threads()} threads)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def record(root: Path) -> dict:
    return {
        "git_revision": _git(root, "rev-parse", "HEAD") or "unknown",
        "git_dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
        "time_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lock_sha256": lockfile.digest(Path(root) / lockfile.LOCK),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "device": _device(),
        **numerics.describe(),
        **{f"version_{p}": _version(p) for p in PACKAGES},
    }
