"""The held-out test results, read once for the whole analysis: LODO tables from the DomainBed
records, and from the same predictions the binomial SEs and the paired comparisons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rdmldg.analysis import paired
from rdmldg.analysis.summary import AnalysisMetrics, headline
from rdmldg.evaluation import domainbed
from rdmldg.evaluation.pipeline import heldout_rows, read_results, result_folders
from rdmldg.methods import readout
from rdmldg.params import AnalysisParams


@dataclass
class Heldout:
    """The held-out test results the analysis reads, all from the same predictions."""
    records: list[dict]             # every DomainBed record the evaluate stage wrote
    lodo: dict[str, pd.DataFrame]   # readout (and "answer": each method's own) → method × domains, Avg
    test: pd.DataFrame              # every held-out `in` prediction, `answer` in its method's readout
    correct: pd.DataFrame           # one row per method × trial × domain × image: right or not
    binomial: pd.DataFrame          # accuracy, binomial SE and n, method × domain (and Avg)
    diffs: pd.DataFrame             # the study's paired comparisons with intervals, per domain and Avg
    probes: pd.DataFrame            # every run's Challenge-1 class-token probabilities


def read_heldout(root: Path, all_domains: list[str], methods: list[str], domains: list[str], p: AnalysisParams,
                 seed: int) -> Heldout:
    """The evaluate stage's results under `root`: LODO tables from its DomainBed records
    (training-domain validation), and from its predictions on the held-out `domains` the
    binomial SEs and the paired bootstrap comparisons; raises if the two disagree on any Avg
    difference (they must come from the same predictions)."""
    records = domainbed.load_records(result_folders(root)[1])
    predictions, probes = read_results(root)
    lodo = domainbed.lodo_tables(records, all_domains, methods, domains)
    test = domainbed.with_answers(heldout_rows(predictions, domains))
    correct = paired.correctness(test, "answer")
    binomial = paired.binomial_se(correct).pivot(index="method", columns="domain", values=["accuracy", "se", "n"])
    diffs = paired.comparisons(correct, paired.study_pairs(methods), p.bootstrap_samples, p.confidence, seed=seed)
    paired.check_against_lodo(diffs, lodo["answer"])
    return Heldout(records, lodo, test, correct, binomial, diffs, probes)


def lodo_metrics(h: Heldout, methods: list[str], confidence: float, trial_seeds: int, dataset: str,
                 domains: list[str], chance: float) -> AnalysisMetrics:
    """The LODO tables, the test sets' sizes and standard errors, and the paired comparisons."""
    first_trial = h.correct[h.correct["trial"] == h.correct["trial"].min()]
    return {
        "lodo": {r: h.lodo[r].to_dict("index") for r in h.lodo},
        "methods": methods,
        "test_images_per_domain": {d: int(n) for d, n in first_trial.drop_duplicates(["domain", "image_id"])
                                   .groupby("domain").size().items()},
        "binomial_se": {m: {d: float(h.binomial.loc[m, ("se", d)]) for d in [*domains, paired.AVG]} for m in methods},
        "paired": [{**r, "verdict": paired.verdict(r)} for r in h.diffs.to_dict("records")],
        "paired_confidence": confidence,
        "trial_seeds": trial_seeds,
        "dataset": dataset,
        "domains": domains,
        "chance": chance,
        "readouts": {m: readout(m) for m in methods},
        "headline": headline(h.lodo["answer"]),
    }
