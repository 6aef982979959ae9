"""The evaluate stage's work: every run (and the zero-shot base) on every environment.

Each run's predictions are stored under `reports/evaluation/<run>/` with a fingerprint of its
adapter, fold, eval params and inputs, and reused while that holds; each run's DomainBed
records go to `reports/domainbed/<run>/results.jsonl`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from rdmldg.data import split_column
from rdmldg.evaluation import domainbed
from rdmldg.evaluation.evaluate import env_accuracies, evaluation_rows, predict, readout_table
from rdmldg.evaluation.runs import AdapterSwapper, Run
from rdmldg.evaluation.store import finished_runs, load_or_compute
from rdmldg.fingerprints import fingerprint, inputs_digest
from rdmldg.models.token_probs import class_token_probs, probe_items
from rdmldg.params import Params
from rdmldg.training.run import fold_items


@dataclass
class Evaluation:
    tables: pd.DataFrame       # accuracy per run × environment × split × readout
    predictions: pd.DataFrame  # one row per run × image evaluated
    reused: int                # runs read back from an earlier evaluation


def result_folders(root: Path) -> tuple[Path, Path]:
    """(per-run predictions, per-run DomainBed records)."""
    return root / "reports" / "evaluation", root / "reports" / "domainbed"


def _predict_and_probe(model, processor, rows, image_root, p: Params, manifest, chains, classes, fold, split_col):
    pred = predict(model, processor, rows, image_root, classes, p.eval)
    train_items, _ = fold_items(p, manifest, image_root, chains, fold, split_col)
    probs = class_token_probs(model, processor, probe_items(train_items), classes, p.eval.batch_size)
    return pred, {k: v.tolist() for k, v in probs.items()}  # the train stage's Challenge-1 probe, after it


def evaluate_runs(root: Path, p: Params, runs: list[Run], manifest: pd.DataFrame, info: dict, chains: dict[str, str],
                  image_root: Path, model, processor) -> Evaluation:
    """Evaluate `runs` with one base `model` that wears each run's adapter in turn; folders of
    runs the params no longer ask for are removed first."""
    out_dir, db_dir = result_folders(root)
    names = {r.name for r in runs}
    for stale in [d for d in (*out_dir.glob("*"), *db_dir.glob("*")) if d.is_dir() and d.name not in names]:
        shutil.rmtree(stale)
    env_of = manifest.groupby("domain")["env"].first().to_dict()
    wear, inputs = AdapterSwapper(model), inputs_digest(root)
    tables, preds, reused = [], [], 0
    for run in tqdm(runs, desc="evaluate", mininterval=5):
        split_col = split_column(run.trial)
        heldouts = p.heldout_domains() if run.heldout == "all" else [run.heldout]
        rows = evaluation_rows(manifest, split_col, p.eval, p.study.seed, test_domains=heldouts)
        fold = heldouts[0]
        key = fingerprint(run.digest(), run.trial, fold, p.eval.model_dump(), p.study.seed, inputs)
        compute = partial(_predict_and_probe, wear(run), processor, rows, image_root, p, manifest, chains,
                          info["classes"], fold, split_col)
        pred, _, was_reused = load_or_compute(out_dir / run.name, key, compute)
        reused += was_reused
        table = readout_table(pred).assign(method=run.method, trial=run.trial, run=run.name)
        stage_no, step = run.selected() if run.folder is not None else (None, 0)
        hparams = p.train.model_dump() if run.folder is not None else {}
        accs = env_accuracies(table)
        domainbed.write_results(db_dir / run.name, [
            domainbed.record(run.method, info["dataset"], env_of[h], run.trial, step, accs, len(info["domains"]),
                             hparams, run=run.name, selected_stage=stage_no) for h in heldouts])
        tables.append(table.assign(heldout=run.heldout))
        preds.append(pred.assign(method=run.method, trial=run.trial, heldout=run.heldout, run=run.name))
    return Evaluation(pd.concat(tables), pd.concat(preds), reused)


def heldout_rows(table: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """The test rows of an evaluation table (or of predictions): the `in` split of each run's
    held-out domain, among the study's held-out `domains`; the zero-shot base (held out "all":
    one model for every fold) is tested on each of them."""
    tested = (table["split"] == "in") & table["domain"].isin(domains)
    return table[tested & ((table["domain"] == table["heldout"]) | (table["heldout"] == "all"))]


def read_results(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions, Challenge-1 probabilities) of every finished run, each row naming its run's
    method, trial and held-out domain; runs in name order."""
    finished = finished_runs(result_folders(root)[0])
    predictions = pd.concat([pred.assign(**Run.parse(run)._asdict(), run=run) for run, pred, _ in finished])
    probes = pd.DataFrame([{"method": Run.parse(run).method, "prompt": prompt, "p": v}
                           for run, _, extras in finished for prompt, values in extras.items() for v in values])
    return predictions, probes
