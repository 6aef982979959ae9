"""The prepared dataset: a manifest (one row per image, with splits and generating
attributes) and dataset.json (domains, classes, what the reader ignored or converted)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rdmldg.data.reader import DatasetIndex
from rdmldg.data.splits import split_indices

MANIFEST = "manifest.csv"
INFO = "dataset.json"


def split_column(trial_seed: int) -> str:
    return f"split_t{trial_seed}"


def build_manifest(index: DatasetIndex, dataset: str, trial_seeds: list[int], holdout_fraction: float,
                   attributes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows in DomainBed order; one `split_t<seed>` column (in/out) per trial seed."""
    df = index.images.copy()
    df.insert(0, "image_id", df["path"])
    df.insert(1, "dataset", dataset)
    for seed in trial_seeds:
        col = pd.Series("in", index=df.index)
        for env, rows in df.groupby("env").groups.items():
            out, _ = split_indices(len(rows), seed, int(env), holdout_fraction)
            col.loc[rows[out]] = "out"
        df[split_column(seed)] = col
    if attributes is not None and len(attributes):
        attrs = attributes.rename(columns={c: f"attr_{c}" for c in attributes.columns if c != "path"})
        df = df.merge(attrs, on="path", how="left", validate="one_to_one")
    return df


def write_prepared(out_dir: Path, manifest: pd.DataFrame, info: dict) -> None:
    """Byte-stable files: fixed column order, '\\n' line ends, sorted JSON keys."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out_dir / MANIFEST, index=False, lineterminator="\n")
    (out_dir / INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_prepared(out_dir: Path) -> tuple[pd.DataFrame, dict]:
    out_dir = Path(out_dir)
    if not (out_dir / MANIFEST).exists():
        raise FileNotFoundError(f"no {MANIFEST} in {out_dir}: run the prepare stage first (dvc repro prepare)")
    return pd.read_csv(out_dir / MANIFEST, keep_default_na=False), json.loads((out_dir / INFO).read_text())


def image_root(info: dict, project_root: Path) -> Path:
    """The folder that manifest paths are relative to."""
    root = Path(info["root"])
    return root if root.is_absolute() else project_root / root
