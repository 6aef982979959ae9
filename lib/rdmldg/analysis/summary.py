"""What the analysis stage reports, as one typed definition: the notebook builds it, writes it
to `reports/metrics/analysis.json`, and the front page (`rdmldg.reports`) reads it back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import pandas as pd

from rdmldg.analysis import instrument


class Headline(TypedDict):
    best_method: str          # highest fine-tuned Avg (the first, if tied)
    best_avg: float
    best_methods: list[str]   # every method at that Avg: more than one is a tie
    zeroshot_avg: float


class AnalysisMetrics(TypedDict, total=False):
    lodo: dict[str, dict[str, dict[str, float]]]   # readout ("answer": each method's own) → method → column
    methods: list[str]                              # "zeroshot" first, then the study's methods
    readouts: dict[str, str]                        # method → the readout it answers by
    dataset: str
    domains: list[str]                              # the held-out domains this study ran
    trial_seeds: int
    chance: float
    test_images_per_domain: dict[str, int]
    binomial_se: dict[str, dict[str, float]]        # method → domain (and Avg) → points
    paired: list[dict]                              # paired.comparisons rows, each with its verdict
    paired_confidence: float
    headline: Headline
    challenge1: dict[str, dict[str, float]]
    challenge2: dict
    invariance_mmd2: dict[str, float]
    sarr_rejection_by_round: dict[str, float]
    mapping_gap_mean: float
    instrument: list[dict]                          # instrument.checks rows


def headline(answer: pd.DataFrame) -> Headline:
    """The best fine-tuned Avg (and any tie) beside the zero-shot base's, from the LODO table."""
    best = answer["Avg"].drop("zeroshot", errors="ignore")
    return {"best_method": best.idxmax(), "best_avg": float(best.max()),
            "best_methods": best[best == best.max()].index.tolist(),
            "zeroshot_avg": float(answer.loc["zeroshot", "Avg"])}


def instrument_checks(metrics: AnalysisMetrics, label_runs: dict | None) -> list[dict]:
    """Each instrument target (`analysis.instrument`) as this run measured it; `label_runs` is
    the label stage's metrics (None when label SFT is not in the study)."""
    avg = pd.Series({m: row["Avg"] for m, row in metrics["lodo"]["answer"].items()})
    first_round = metrics.get("sarr_rejection_by_round", {}).get("rdmldg_round1")
    return instrument.checks({
        "zeroshot_avg": avg.get("zeroshot"),
        "label_source_val": 100 * label_runs["mean_val_accuracy"] if label_runs else None,
        "label_lift": avg["label"] - avg["zeroshot"] if {"label", "zeroshot"} <= set(avg.index) else None,
        "label_class_tokens_high": 100 * metrics["challenge1"]["label"]["q_cls_high"] if label_runs else None,
        "sarr_acceptance_after_mtct": None if first_round is None else 100 * (1 - first_round),
        "avg_binomial_se_max": max(metrics["binomial_se"][m]["Avg"] for m in metrics["methods"]),
    })


def read(metrics_dir: Path) -> AnalysisMetrics | None:
    """analysis.json as the stage wrote it, or None before the first analysis."""
    path = Path(metrics_dir) / "analysis.json"
    return json.loads(path.read_text()) if path.exists() else None
