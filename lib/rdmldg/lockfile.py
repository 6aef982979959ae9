"""requirements.lock: every package of the environment at one exact version.

`make lock` writes it from pyproject.toml with pip-tools; `make env` installs with it as
constraints and then checks here that the environment holds exactly what it lists.

    python -m rdmldg.lockfile verify [requirements.lock]
"""

from __future__ import annotations

import hashlib
import re
import sys
from importlib import metadata
from pathlib import Path

LOCK = "requirements.lock"
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "verify" or len(argv) > 2:
        print("usage: python -m rdmldg.lockfile verify [requirements.lock]", file=sys.stderr)
        return 2
    lock = Path(argv[1] if len(argv) == 2 else LOCK)
    problems = differences(pins(lock), installed())
    if problems:
        print(f"the environment is not {lock}:\n  - " + "\n  - ".join(problems)
              + "\nFix: `make clean-env env` rebuilds it from the lock", file=sys.stderr)
        return 1
    print(f"environment = {lock} ({len(pins(lock))} packages, sha256 {digest(lock)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
