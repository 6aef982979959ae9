"""requirements.lock: every package of the environment at one exact version.

`make lock` writes it from pyproject.toml with pip-tools; `make env` installs with it as
constraints and then checks here that the environment holds exactly what it lists.

A CUDA machine installs requirements-gpu.lock instead (`make env GPU=1`; `make` picks it by
itself where `nvidia-smi` exists): the same pins, except torch's CUDA build from PyPI in place
of the CPU wheel, torchvision to match, and the CUDA libraries they bring. It is derived from
requirements.lock by resolving the `gpu` extra against it with pip (wheel metadata only,
nothing large is downloaded):

    python -m rdmldg.lockfile verify [requirements.lock]
    python -m rdmldg.lockfile gpu [--check]     # write (or check) requirements-gpu.lock
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

LOCK = "requirements.lock"
GPU_LOCK = "requirements-gpu.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """{canonical name: version} of every `name==version` line of the lock."""
    out = {}
    for n, line in enumerate(Path(lock).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _PIN.match(line)
        if not m:
            raise ValueError(f"{lock}:{n}: not a pin (name==version): {line!r}. Fix: regenerate it with `make lock`")
        out[canonical(m.group(1))] = m.group(2)
    return out


def digest(lock: Path) -> str:
    """Short sha256 of the lock file, for provenance tables."""
    path = Path(lock)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "no lock file"


def installed(exclude: tuple[str, ...] = ("rdmldg",)) -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()
            if d.metadata["Name"] and canonical(d.metadata["Name"]) not in exclude}


def differences(locked: dict[str, str], present: dict[str, str]) -> list[str]:
    """What keeps the environment from being exactly the lock (empty when it is)."""
    out = [f"{n}: locked {v}, installed {present[n]}" for n, v in sorted(locked.items())
           if n in present and present[n] != v]
    out += [f"{n}: locked {v}, not installed" for n, v in sorted(locked.items()) if n not in present]
    out += [f"{n}: installed {v}, not in the lock" for n, v in sorted(present.items()) if n not in locked]
    return out


def gpu_constraints(cpu_pins: dict[str, str]) -> list[str]:
    """The CPU lock's pins as constraints for the CUDA resolution: torch keeps its version but
    loses the `+cpu` local label, so PyPI's default (CUDA) build satisfies it."""
    return [f"{n}=={v.split('+')[0] if n == 'torch' else v}" for n, v in sorted(cpu_pins.items())]


def project_requirements(pyproject: Path, extras: tuple[str, ...]) -> list[str]:
    project = tomllib.loads(Path(pyproject).read_text())["project"]
    return list(project["dependencies"]) + [r for e in extras for r in project["optional-dependencies"][e]]


def resolve_gpu(root: Path) -> dict[str, str]:
    """{name: version} pip would install on a Linux x86-64 CUDA machine from PyPI, within the CPU lock."""
    requirements = project_requirements(root / "pyproject.toml", ("dev", "lab", "gpu"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # no local wheel folders
    env["PIP_CONFIG_FILE"] = os.devnull
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(gpu_constraints(pins(root / LOCK))) + "\n")
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), "-c", str(constraints), *requirements]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip could not resolve the GPU environment:\n{done.stderr[-3000:]}")
        installs = json.loads(report.read_text())["install"]
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}


def write_gpu_lock(path: Path, resolved: dict[str, str]) -> Path:
    lines = ["# requirements-gpu.lock: requirements.lock for a Linux x86-64 CUDA machine, written by",
             "# `python -m rdmldg.lockfile gpu` (torch's CUDA build from PyPI, torchvision, the CUDA",
             "# libraries; every other pin as in requirements.lock). Install: make env GPU=1"]
    Path(path).write_text("\n".join(lines + [f"{n}=={v}" for n, v in sorted(resolved.items())]) + "\n")
    return Path(path)


def _refused(problems: list[str], what: str, fix: str) -> bool:
    """Print the differences, if any, with the fix; True when there were some."""
    if problems:
        print(f"{what}:\n  - " + "\n  - ".join(problems) + f"\nFix: {fix}", file=sys.stderr)
    return bool(problems)


def _gpu(root: Path, check: bool) -> int:
    resolved = resolve_gpu(root)
    lock = root / GPU_LOCK
    if check:
        if _refused(differences(pins(lock), resolved), f"{GPU_LOCK} is not what PyPI resolves now",
                    "python -m rdmldg.lockfile gpu"):
            return 1
        print(f"{GPU_LOCK}: {len(resolved)} packages, as PyPI resolves them within {LOCK}")
        return 0
    print(f"wrote {write_gpu_lock(lock, resolved)} ({len(resolved)} packages)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "gpu":
        from rdmldg import paths

        return _gpu(paths.find_root(), "--check" in argv[1:])
    if not argv or argv[0] != "verify" or len(argv) > 2:
        print("usage: python -m rdmldg.lockfile verify [requirements.lock] | gpu [--check]", file=sys.stderr)
        return 2
    lock = Path(argv[1] if len(argv) == 2 else LOCK)
    if _refused(differences(pins(lock), installed()), f"the environment is not {lock}",
                "`make clean-env env` rebuilds it from the lock"):
        return 1
    print(f"environment = {lock} ({len(pins(lock))} packages, sha256 {digest(lock)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
