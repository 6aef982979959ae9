"""Per-run evaluation results that survive an interrupted stage: each run's files are written
atomically with a fingerprint of what produced them, and reused only while it matches."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rdmldg.fingerprints import DONE, finished
from rdmldg.io import atomic_write_text, read_jsonl, write_jsonl


def _json_value(v):
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    return None if isinstance(v, float) and np.isnan(v) else v


def finished_runs(out_dir: Path) -> list[tuple[str, pd.DataFrame, dict]]:
    """(run name, predictions, extras) of every finished run under out_dir, in name order."""
    return [(d.name, pd.DataFrame(read_jsonl(d / "predictions.jsonl")), json.loads((d / "extras.json").read_text()))
            for d in sorted(Path(out_dir).iterdir()) if (d / DONE).exists()]


def load_or_compute(folder: Path, key: str, compute: Callable[[], tuple[pd.DataFrame, dict]]
                    ) -> tuple[pd.DataFrame, dict, bool]:
    """(predictions, extras, reused). `compute` returns the predictions table and a JSON-able dict."""
    done = folder / DONE
    if finished(folder, key):
        extras = json.loads((folder / "extras.json").read_text())
        return pd.DataFrame(read_jsonl(folder / "predictions.jsonl")), extras, True
    done.unlink(missing_ok=True)
    pred, extras = compute()
    rows = ({k: _json_value(v) for k, v in r.items()} for r in pred.to_dict("records"))
    write_jsonl(folder / "predictions.jsonl", rows)
    atomic_write_text(folder / "extras.json", json.dumps(extras, sort_keys=True))
    atomic_write_text(done, json.dumps({"fingerprint": key}))
    return pred, extras, False
