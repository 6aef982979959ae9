"""SARR round by round (docs/science.md §1A), read back from the train stages' metrics: how
often the model's own chains fail, and the validation accuracy of each stage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def sarr_rounds(metrics_dir: Path, methods: list[str]) -> pd.DataFrame:
    """One row per method × trial × fold × stage, from `train-<method>.json`'s `sarr_rounds`."""
    rows = []
    for m in methods:
        path = Path(metrics_dir) / f"train-{m}.json"
        if path.exists():
            rows += [{**r, "method": m} for r in json.loads(path.read_text()).get("sarr_rounds", [])]
    return pd.DataFrame(rows)


def by_round(rounds: pd.DataFrame) -> pd.DataFrame:
    """Mean rejection rate and validation accuracy per method and stage."""
    return rounds.groupby(["method", "stage"])[["sarr_rejection_rate", "val_accuracy"]].mean()


def rejection_by_round(table: pd.DataFrame) -> dict[str, float]:
    """`by_round`'s rejection rates keyed "<method>_round<stage>" (stage 0 has none)."""
    return {f"{m}_round{s}": v for (m, s), v in table["sarr_rejection_rate"].dropna().items()}
