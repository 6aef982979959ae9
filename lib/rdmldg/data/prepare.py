"""The prepare stage's work, source by source, ending in the same DomainBed reader."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from rdmldg.data.digits import write_digits
from rdmldg.data.manifest import build_manifest, write_prepared
from rdmldg.data.reader import DatasetIndex, read_domainbed
from rdmldg.data.world import write_world
from rdmldg.params import DataParams


def _generate(p: DataParams, images_dir: Path) -> tuple[Path, pd.DataFrame]:
    """Write a built-in source in DomainBed layout; return (dataset folder, attributes)."""
    dataset_dir = images_dir / p.dataset_name()
    if dataset_dir.exists():
        shutil.rmtree(dataset_dir)  # never mix files from an earlier, different world
    dataset_dir.mkdir(parents=True)
    if p.source == "synthetic":
        def bar(jobs):
            return tqdm(jobs, desc="rendering the world", unit="img", mininterval=2)
        return dataset_dir, write_world(p.synthetic, dataset_dir, progress=bar)
    return dataset_dir, write_digits(p.digits, dataset_dir)


def _shown_root(folder: Path, project_root: Path) -> str:
    """Project-relative when inside the project (byte-stable manifests across checkouts)."""
    folder = folder.resolve()
    return os.path.relpath(folder, project_root) if folder.is_relative_to(project_root) else str(folder)


def prepare(p: DataParams, out_dir: Path, project_root: Path) -> tuple[pd.DataFrame, dict, DatasetIndex]:
    """Generate or locate the dataset, read and check it, write manifest + dataset.json."""
    project_root = project_root.resolve()
    if p.source == "domainbed":
        root = Path(p.domainbed.root).expanduser()
        root = root if root.is_absolute() else project_root / root
        dataset_dir, attributes = root / p.domainbed.dataset, None
        expected = p.domain_names()
    else:
        dataset_dir, attributes = _generate(p, out_dir / "images")
        expected = None
    subset = p.domainbed.images_per_class if p.source == "domainbed" else None
    index = read_domainbed(dataset_dir, p.on_bad_image, expected, max_pixels=p.max_image_pixels,
                           images_per_class=subset)
    manifest = build_manifest(index, p.dataset_name(), p.trial_seeds, p.holdout_fraction, attributes)
    info = {
        "dataset": p.dataset_name(), "source": p.source,
        "root": _shown_root(dataset_dir, project_root),
        "domains": index.domains, "classes": index.classes, "n_images": len(manifest),
        "trial_seeds": p.trial_seeds, "holdout_fraction": p.holdout_fraction,
        **({"images_per_class": subset} if subset else {}),  # a dry run's subset, said where it shows
        "ignored_files": index.ignored,
        "bad_images": index.bad.to_dict("records"),
        "converted": {str(k): int(v) for k, v in manifest.loc[manifest["converted"], "mode"]
                      .value_counts().sort_index().items()},
    }
    write_prepared(out_dir, manifest, info)
    return manifest, info, index
