"""What every stage notebook does first and last: resolve params, record provenance, seed;
write metrics. Kept here so the notebooks stay short and identical in these steps."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rdmldg import numerics, paths, provenance, seeding
from rdmldg import params as params_mod


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
