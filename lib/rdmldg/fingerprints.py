"""Fingerprints: short, stable hashes of what produced a result. Finished work (a training
stage, an evaluation run) is stored with the fingerprint of its inputs in a `done.json`, and
reused only while the fingerprint still matches."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from rdmldg import numerics

DONE = "done.json"


def fingerprint(*parts) -> str:
    """16 hex digits of sha256 over the parts as sorted-key JSON (anything else by its str)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def files_digest(files: Iterable[Path], root: Path, digest=None, chunk: int = 1 << 22):
    """`digest` (a new sha256 by default) updated with each file's path relative to `root` and
    its bytes, in the order given; returned for more updates or `.hexdigest()`."""
    digest = digest or hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode())
        with f.open("rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
    return digest


def folder_digest(folder: Path) -> str:
    """sha256 over every file under `folder` (names and bytes), in sorted order."""
    folder = Path(folder)
    return files_digest(sorted(p for p in folder.rglob("*") if p.is_file()), folder).hexdigest()


def inputs_digest(root: Path) -> str:
    """sha256 of everything a training or evaluation run reads besides params: the library code,
    the base model, the chains, the manifest, the locked environment and the numerics pins."""
    files = sorted((root / "lib" / "rdmldg").rglob("*.py")) + sorted((root / "models" / "base").glob("*")) + [
        root / "data" / "chains" / "chains.jsonl", root / "data" / "prepared" / "manifest.csv",
        root / "requirements.lock"]
    digest = hashlib.sha256(json.dumps(numerics.pins(), sort_keys=True).encode())
    return files_digest([f for f in files if f.is_file()], root, digest).hexdigest()


def stamp_of(folder: Path) -> str | None:
    """The fingerprint a finished `folder` was stored with; None if it is not finished."""
    done = Path(folder) / DONE
    return json.loads(done.read_text())["fingerprint"] if done.exists() else None


def finished(folder: Path, stamp: str) -> dict | None:
    """The `done.json` record of `folder` if it was finished with this fingerprint, else None."""
    done = Path(folder) / DONE
    if not done.exists():
        return None
    record = json.loads(done.read_text())
    return record if record["fingerprint"] == stamp else None
