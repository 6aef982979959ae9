"""One reader for every source: folders in DomainBed's layout, `<dataset>/<domain>/<class>/<image>`.

Order follows DomainBed (torchvision's ImageFolder): environments are the sorted domain
folders, classes the sorted class folders, and within an environment images go class by
class, each class's files as a sorted walk. Unlike DomainBed, the class list is global and a
domain lacking a class folder is an error, so labels never shift silently.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from tqdm import tqdm

from rdmldg.data.images import UnreadableImage, decode, is_junk

# What a plain RGB file's extension should say about its content.
STANDARD_EXTENSIONS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class DatasetError(ValueError):
    """The dataset folder cannot be read as it stands; the message lists every offending path."""


@dataclass
class DatasetIndex:
    root: Path                     # the dataset folder
    domains: list[str]             # environment order
    classes: list[str]             # global, sorted
    images: pd.DataFrame           # one row per usable image, in DomainBed order
    ignored: list[str] = field(default_factory=list)   # junk files left alone
    bad: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))


def _subdirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not is_junk(e.name))


def _walk_files(class_dir: Path, dataset_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """(candidate image paths, junk paths, problems), paths relative to dataset_dir, in
    ImageFolder's order (folders sorted by path, files by name). Symbolic links are
    followed, except into a folder already walked or above (a loop would otherwise list
    the same files again at every depth)."""
    listed, problems = [], []
    walked: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):  # pruned as it goes
        walked.add(os.path.realpath(dirpath))
        keep = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if is_junk(d):
                continue
            if os.path.realpath(full) in walked | _ancestors(dirpath):
                problems.append(f"symbolic link loop: {full} -> {os.readlink(full) if os.path.islink(full) else full}"
                                " (a folder already read). Fix: remove the link")
                continue
            keep.append(d)
        dirnames[:] = sorted(keep)
        listed.append((dirpath, filenames))
    files, junk = [], []
    for dirpath, filenames in sorted(listed):
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), dataset_dir)
            (junk if is_junk(name) else files).append(rel)
    return files, junk, problems


def _ancestors(dirpath: str) -> set[str]:
    real = Path(os.path.realpath(dirpath))
    return {str(real), *map(str, real.parents)}


def _same_files(dataset_dir: Path, listing: list[str]) -> list[str]:
    """Paths that are one file reached twice (links or hard links), which would count one
    image twice, possibly under two labels or in both splits."""
    first: dict[tuple[int, int], str] = {}
    problems = []
    for rel in listing:
        try:
            st = os.stat(dataset_dir / rel)
        except OSError:
            continue  # a dangling link: reported by _inspect
        key = (st.st_dev, st.st_ino)
        if key in first:
            problems.append(f"the same file twice: {dataset_dir / first[key]} and {dataset_dir / rel} "
                            f"(both {os.path.realpath(dataset_dir / rel)}). Fix: keep one of them")
        else:
            first[key] = rel
    return problems


def _inspect(dataset_dir: Path, rel: str, max_pixels: int | None) -> dict:
    """Decode one file fully; describe it, or say why it cannot be used."""
    path = dataset_dir / rel
    if path.is_symlink() and not path.exists():
        return {"path": rel, "reason": f"link target missing (the link points to {os.readlink(path)})"}
    try:
        data = path.read_bytes()
        img = decode(data, max_pixels)
    except UnreadableImage as exc:
        return {"path": rel, "reason": str(exc)}
    except Exception as exc:  # PIL raises many types for bad files; all mean "unusable"
        return {"path": rel, "reason": f"{type(exc).__name__}: {exc}".strip()}
    ext = path.suffix.lower()
    return {
        "path": rel, "sha1": hashlib.sha1(data).hexdigest(), "width": img.width, "height": img.height,
        "mode": img.mode, "format": img.format or "",
        "converted": img.mode != "RGB" or STANDARD_EXTENSIONS.get(ext) != img.format,
    }


def _structure(dataset_dir: Path, expected_domains: list[str] | None) -> tuple[list[str], dict, list[str]]:
    """(domains, {domain: class folders}, problems) from the folder tree alone."""
    problems = []
    found = _subdirs(dataset_dir)
    domains = sorted(expected_domains) if expected_domains else found
    for d in domains:
        if d not in found:
            problems.append(f"domain folder missing: {dataset_dir / d}")
    if not domains:
        problems.append(f"no domain folders in {dataset_dir}")
    classes_of = {d: _subdirs(dataset_dir / d) for d in domains if d in found}
    for d, classes in classes_of.items():
        stray = [e.name for e in os.scandir(dataset_dir / d) if e.is_file() and not is_junk(e.name)]
        problems += [f"file outside any class folder: {dataset_dir / d / s}" for s in sorted(stray)]
        if not classes:
            problems.append(f"empty domain (no class folders): {dataset_dir / d}")
    all_classes = sorted(set().union(*classes_of.values())) if classes_of else []
    for d, classes in classes_of.items():
        if classes:
            problems += [f"domain '{d}' has no class folder '{c}': {dataset_dir / d / c}"
                         for c in all_classes if c not in classes]
    return domains, classes_of, problems


_FIX = (
    "Fix: every domain folder needs one folder per class (same names everywhere), each with at "
    "least one image; replace or delete the unreadable files listed, or set "
    "data.on_bad_image: skip in params/data.yaml to leave corrupt images out (they are counted "
    "in the prepare report)."
)


def read_domainbed(
    dataset_dir: str | Path,
    on_bad_image: Literal["error", "skip"] = "error",
    expected_domains: list[str] | None = None,
    workers: int | None = None,
    max_pixels: int | None = None,
    images_per_class: int | None = None,
) -> DatasetIndex:
    """Index a DomainBed-layout dataset folder, checking every image decodes (and, with
    `max_pixels`, is no larger than that). `images_per_class` keeps the first N files of each
    domain × class (a dry run's subset; splits are then drawn within it)."""
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"dataset folder not found: {dataset_dir}. Fix: point data.domainbed.root "
                           "in params/data.yaml at the folder that holds it")
    domains, classes_of, problems = _structure(dataset_dir, expected_domains)
    classes = sorted(set().union(*classes_of.values())) if classes_of else []
    listing, ignored = [], []
    for env, d in enumerate(domains):
        for c in classes_of.get(d, []):
            files, junk, loops = _walk_files(dataset_dir / d / c, dataset_dir)
            ignored += junk
            problems += loops
            if not files:
                problems.append(f"class folder without images: {dataset_dir / d / c}")
            listing += [(d, env, c, classes.index(c), f) for f in files[:images_per_class]]
    problems += _same_files(dataset_dir, [row[4] for row in listing])
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) * 2)) as pool:
        facts = list(tqdm(pool.map(lambda row: _inspect(dataset_dir, row[4], max_pixels), listing),
                          total=len(listing), desc=f"reading {dataset_dir.name}", unit="img", mininterval=2))
    bad = [f for f in facts if "reason" in f]
    if bad and on_bad_image == "error":
        problems += [f"corrupt or unreadable image: {dataset_dir / b['path']} ({b['reason']})" for b in bad]
    if problems:
        raise DatasetError(f"{dataset_dir}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems)
                           + f"\n{_FIX}")
    rows = [dict(zip(("domain", "env", "class_name", "label"), row[:4], strict=True), **f)
            for row, f in zip(listing, facts, strict=True) if "reason" not in f]
    if not rows:
        raise DatasetError(f"{dataset_dir}: no usable image ({len(bad)} unreadable). {_FIX}")
    images = pd.DataFrame(rows)
    images.insert(4, "env_index", images.groupby("env").cumcount())
    return DatasetIndex(dataset_dir, domains, classes, images, ignored,
                        pd.DataFrame(bad, columns=["path", "reason"]))
