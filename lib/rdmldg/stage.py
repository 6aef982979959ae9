"""What every stage notebook does first and last: resolve params, record provenance, seed;
write metrics. Kept here so the notebooks stay short and identical in these steps."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from rdmldg import numerics, paths, provenance, seeding
from rdmldg import params as params_mod
from rdmldg.data import image_root, read_prepared
from rdmldg.data.chain_records import teacher_chains


class Prepared(NamedTuple):
    """What the prepare and chains stages left for the stages after them."""
    manifest: pd.DataFrame
    info: dict               # the dataset's facts: classes, domains, where the images are
    image_root: Path         # the folder the manifest's paths are relative to
    chains: dict[str, str]   # image_id → the accepted teacher chain


@dataclass(frozen=True)
class Stage:
    name: str
    root: Path
    params: params_mod.Params
    provenance: dict

    def provenance_table(self) -> pd.DataFrame:
        return pd.DataFrame({"value": {k: str(v) for k, v in self.provenance.items()}})

    def write_metrics(self, metrics: dict, name: str | None = None) -> Path:
        """reports/metrics/<name>.json, floats rounded to 6 significant digits (stable diffs).
        Results only: the same params give the same file on every machine."""
        return _write_json(paths.metrics_dir(self.root) / f"{name or self.name}.json", metrics)

    def prepared(self, with_chains: bool = True) -> Prepared:
        """The manifest, the dataset's facts, the image folder and (unless `with_chains` is
        False: the chains stage itself) the teacher chains."""
        manifest, info = read_prepared(self.root / "data" / "prepared")
        chains = teacher_chains(self.root / "data" / "chains") if with_chains else {}
        return Prepared(manifest, info, image_root(info, self.root), chains)

    def save_figure(self, fig, name: str, dpi: int = 90) -> Path:
        """reports/figures/<name>.png, without the matplotlib version stamp (stable bytes)."""
        out = paths.reports_dir(self.root) / "figures" / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        return out

    def save_table(self, table: pd.DataFrame, name: str, **to_csv) -> Path:
        """reports/tables/<name>.csv."""
        out = paths.reports_dir(self.root) / "tables" / f"{name}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, **to_csv)
        return out

    def read_metrics(self, name: str) -> dict:
        """reports/metrics/<name>.json as an earlier stage wrote it."""
        path = paths.metrics_dir(self.root) / f"{name}.json"
        if not path.exists():
            raise FileNotFoundError(f"no {path.relative_to(self.root)}: its stage has not run (dvc repro)")
        return json.loads(path.read_text())

    def write_run_info(self, info: dict, name: str | None = None) -> Path:
        """reports/runinfo/<name>.json: facts of this run that are not results (seconds,
        throughput, cache hits), kept out of the metrics so `dvc metrics diff` shows science."""
        return _write_json(paths.reports_dir(self.root) / "runinfo" / f"{name or self.name}.json", info)


def _write_json(out: Path, values: dict) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_rounded(values), indent=2, sort_keys=True) + "\n")
    return out


def _rounded(obj):
    if isinstance(obj, dict):
        return {str(k): _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    if isinstance(obj, float):
        return obj if not math.isfinite(obj) or obj == 0 else float(f"{obj:.6g}")
    if hasattr(obj, "item"):  # numpy scalars
        return _rounded(obj.item())
    return obj


def begin(name: str, params_dir: str | Path | None = None) -> Stage:
    root = paths.find_root()
    p = params_mod.load(Path(root / params_dir) if params_dir else None)
    seeding.seed_everything(p.study.seed)
    numerics.configure_torch()
    return Stage(name, root, p, provenance.record(root))
