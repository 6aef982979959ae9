"""DomainBed's results format and its tables (docs/science.md §2).

Each run writes `reports/domainbed/<run>/results.jsonl`: one JSON object per line, every
line newline-terminated (DomainBed's reader drops each line's last character), with
`args` {algorithm, dataset, test_envs, trial_seed, hparams_seed}, `step` and
`env{i}_in_acc` / `env{i}_out_acc` for every environment. DomainBed's own
`collect_results --input_dir reports/domainbed` reads exactly this layout; the functions
below re-derive its training-domain-validation table so the study does not depend on it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from rdmldg.io import write_jsonl

ARGS = ("algorithm", "dataset", "test_envs", "trial_seed", "hparams_seed")


def record(algorithm: str, dataset: str, test_env: int, trial_seed: int, step: int,
           accuracies: dict[str, float], n_envs: int, hparams: dict | None = None, hparams_seed: int = 0,
           **extra) -> dict:
    """One results.jsonl record; `accuracies` must hold env{i}_in_acc and env{i}_out_acc for
    every environment (extra readouts may sit beside them under other keys)."""
    missing = [f"env{i}_{s}_acc" for i in range(n_envs) for s in ("in", "out") if f"env{i}_{s}_acc" not in accuracies]
    if missing:
        raise ValueError(f"DomainBed record for {algorithm} (test env {test_env}) lacks {', '.join(missing)}")
    if not 0 <= test_env < n_envs:
        raise ValueError(f"test env {test_env} outside 0..{n_envs - 1}")
    args = {"algorithm": algorithm, "dataset": dataset, "test_envs": [int(test_env)], "trial_seed": int(trial_seed),
            "hparams_seed": int(hparams_seed)}
    return {"args": args, "hparams": hparams or {}, "step": int(step),
            **{k: float(v) for k, v in accuracies.items()}, **extra}


def write_results(folder: Path, records: list[dict]) -> Path:
    """folder/results.jsonl, newline-terminated lines, written atomically."""
    return write_jsonl(Path(folder) / "results.jsonl", records)


def load_records(input_dir: Path) -> list[dict]:
    """Every record under input_dir/<run>/results.jsonl, read the way DomainBed reads them."""
    records = []
    for sub in sorted(Path(input_dir).iterdir()):
        path = sub / "results.jsonl"
        if path.is_file():
            with path.open() as f:
                records += [json.loads(line[:-1]) for line in f]
    return records


def _val_and_test(rec: dict) -> tuple[float, float]:
    """DomainBed's training-domain validation: mean out-split accuracy of the source
    environments; the test accuracy is the test environment's in split."""
    test = rec["args"]["test_envs"][0]
    val_keys, i = [], 0
    while f"env{i}_out_acc" in rec:
        if i != test:
            val_keys.append(f"env{i}_out_acc")
        i += 1
    return float(np.mean([rec[k] for k in val_keys])), float(rec[f"env{test}_in_acc"])


def select_training_domain_validation(records: list[dict]) -> pd.DataFrame:
    """One row per (dataset, algorithm, test_env, trial_seed): the test accuracy of the record
    (over hparams seeds and steps) with the best training-domain validation accuracy."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if len(r["args"]["test_envs"]) != 1:
            continue
        a = r["args"]
        groups[(a["dataset"], a["algorithm"], a["test_envs"][0], a["trial_seed"])].append(r)
    rows = []
    for (dataset, algorithm, test_env, trial), recs in sorted(groups.items()):
        scored = [(*_val_and_test(r), r["step"]) for r in recs]
        val, test, step = max(scored, key=lambda s: s[0])  # first of equals, like DomainBed's argmax
        rows.append({"dataset": dataset, "algorithm": algorithm, "test_env": test_env, "trial_seed": trial,
                     "val_acc": val, "test_acc": test, "step": step})
    return pd.DataFrame(rows)


def mean_and_se(values) -> tuple[float, float]:
    """Mean and standard error as DomainBed prints them: population std / sqrt(n); NaN for a
    single trial (DomainBed prints ± 0.0 there, which reads as certainty it does not have)."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std() / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def lodo_table(selected: pd.DataFrame, env_names: list[str], algorithms: list[str] | None = None,
               tested: list[str] | None = None) -> pd.DataFrame:
    """Leave-one-domain-out table in percent: per test environment mean ± SE over trial seeds,
    and Avg = the mean of the per-environment means (DomainBed's Avg column). `env_names` are
    all environments in index order; `tested` (default: all) the held-out ones the study ran,
    which alone make the columns and the Avg."""
    algorithms = algorithms or sorted(selected["algorithm"].unique())
    tested = env_names if tested is None else tested
    rows = []
    for alg in algorithms:
        sub = selected[selected["algorithm"] == alg]
        row, means = {"algorithm": alg}, []
        for i, name in enumerate(env_names):
            if name not in tested:
                continue
            accs = sub.loc[sub["test_env"] == i, "test_acc"]
            if len(accs):
                m, se = mean_and_se(100 * accs)
                row[name], row[f"{name} se"] = m, se
                means.append(m)
            else:
                row[name] = row[f"{name} se"] = np.nan
        row["Avg"] = float(np.mean(means)) if len(means) == len(tested) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("algorithm")


def formatted(table: pd.DataFrame, env_names: list[str], digits: int = 1) -> pd.DataFrame:
    """'mean ± se' strings, DomainBed style; X where a cell has no run."""
    out = pd.DataFrame(index=table.index)
    for name in env_names:
        out[name] = ["X" if not np.isfinite(m) else f"{m:.{digits}f}" + (f" ± {s:.{digits}f}" if np.isfinite(s) else "")
                     for m, s in zip(table[name], table[f"{name} se"], strict=True)]
    out["Avg"] = [f"{m:.{digits}f}" if np.isfinite(m) else "X" for m in table["Avg"]]
    return out


def readout_view(records: list[dict], readout: str) -> list[dict]:
    """The records with another readout's accuracies (env{i}_{split}_acc_<readout>) in the
    DomainBed keys; 'loglik' returns them unchanged."""
    if readout == "loglik":
        return records
    out = []
    for r in records:
        swapped = {k: v for k, v in r.items() if not (k.startswith("env") and k.endswith("_acc"))}
        swapped.update({k[: -len(readout) - 1]: v for k, v in r.items()
                        if k.startswith("env") and k.endswith(f"_acc_{readout}")})
        out.append(swapped)
    return out


def own_readout(tables: dict[str, pd.DataFrame], algorithms: list[str]) -> pd.DataFrame:
    """One LODO table with each algorithm's row read the way it answers (`methods.readout`):
    q_cls log-likelihood for the base and the methods trained on q_cls, the chain's CONCLUSION
    for those trained on chains alone. `tables` maps readout → lodo_table."""
    from rdmldg.methods import readout

    return pd.DataFrame([tables[readout(a)].loc[a] for a in algorithms]).rename_axis("algorithm")


def with_answers(predictions: pd.DataFrame) -> pd.DataFrame:
    """Predictions with an `answer` column: each row's prediction in its method's own readout."""
    from rdmldg.methods import readout

    own = predictions["method"].map(readout)
    answer = predictions["loglik"].where(own == "loglik", predictions["reason"])
    return predictions.assign(answer=answer, answer_readout=own)


READOUT_TABLES = ("loglik", "generate", "reason")


def lodo_tables(records: list[dict], env_names: list[str], algorithms: list[str], tested: list[str]
                ) -> dict[str, pd.DataFrame]:
    """The LODO table of every readout (training-domain validation selects each run's stage),
    plus "answer": each algorithm in its own readout (`methods.readout`)."""
    tables = {r: lodo_table(select_training_domain_validation(readout_view(records, r)), env_names, algorithms,
                            tested=tested) for r in READOUT_TABLES}
    tables["answer"] = own_readout(tables, algorithms)
    return tables
