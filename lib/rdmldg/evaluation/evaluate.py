"""One model on every environment's `in` and `out` split, three readouts per image:

* `loglik`  — q_cls, the class with the highest log-likelihood (never fails to parse);
* `generate` — q_cls, greedy answer parsed by `parse_answer`;
* `reason`  — q_reason, greedy chain; the class named inside its CONCLUSION (a chain without
  a CONCLUSION, or one naming no single class, is a parse failure and counts as wrong).

The test set — the held-out domain's `in` split — is read whole by all three readouts
(`eval.test_images_per_domain`: null), so every method is compared on the same, complete test
images whichever readout is its own (`methods.Method.readout`); the other splits, which only
model selection and the records' source accuracies read, on a seeded sample of
`eval.images_per_split`, with chains on a seeded subsample (`eval.chain_images_per_split`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rdmldg.chains import check_chain, q_cls
from rdmldg.data.images import load_image
from rdmldg.models.readout import chain_predictions, class_loglik, generate, loglik_predictions, parsed_predictions
from rdmldg.models.sequences import single
from rdmldg.params import EvalParams
from rdmldg.seeding import seeded_sample

READOUTS = ("loglik", "generate", "reason")


def _take(rows: pd.DataFrame, n: int | None, seed: int, *purpose) -> pd.DataFrame:
    if n is None or n >= len(rows):
        return rows
    return seeded_sample(rows, n, seed, *purpose).sort_index()


def evaluation_rows(manifest: pd.DataFrame, split_col: str, p: EvalParams, seed: int,
                    test_domains: list[str] = ()) -> pd.DataFrame:
    """The images a model is evaluated on: per environment and split, a seeded sample (the same
    for every model of a trial seed that holds out the same domains), with `chain` marking the
    q_reason subsample. The `in` split of each of `test_domains` is the test set: it takes
    `p.test_images_per_domain` (null: every image) instead of `p.images_per_split`, and every
    one of its images gets a chain."""
    parts = []
    for (env, split), rows in manifest.groupby(["env", split_col], sort=True):
        is_test = split == "in" and rows["domain"].iloc[0] in test_domains
        rows = _take(rows, p.test_images_per_domain if is_test else p.images_per_split, seed, "eval", env, split)
        chain_ids = set(rows["image_id"] if is_test else
                        _take(rows, p.chain_images_per_split, seed, "eval-chain", env, split)["image_id"])
        parts.append(rows.assign(split=split, chain=rows["image_id"].isin(chain_ids)))
    return pd.concat(parts)[["image_id", "domain", "env", "split", "class_name", "path", "chain"]]


def predict(model, processor, rows: pd.DataFrame, image_root, classes: list[str], p: EvalParams) -> pd.DataFrame:
    """Per image: the three readouts, the generated texts, and the true class's share of the
    class log-likelihoods (softmax over classes)."""
    model.eval()
    images = [load_image(image_root / path) for path in rows["path"]]
    cls_prompt = [single(im, q_cls(classes)) for im in images]
    scores = class_loglik(model, processor, cls_prompt, classes, p.batch_size)
    answers = generate(model, processor, cls_prompt, p.max_new_tokens, p.generate_batch_size)
    out = rows.reset_index(drop=True).copy()
    out["loglik"] = loglik_predictions(scores, classes)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    out["p_true"] = probs[np.arange(len(out)), [classes.index(c) for c in out["class_name"]]]
    out["answer"] = answers
    out["generate"] = parsed_predictions(answers, classes)
    chain_at = np.flatnonzero(out["chain"].to_numpy())
    texts, concluded = chain_predictions(model, processor, [images[i] for i in chain_at], classes,
                                         p.chain_max_new_tokens, p.generate_batch_size)
    out["reason_text"] = None
    out["reason"] = None
    out["reason_well_formed"] = None
    out.loc[chain_at, "reason_text"] = texts
    out.loc[chain_at, "reason"] = concluded
    out.loc[chain_at, "reason_well_formed"] = [check_chain(t)[0] is not None for t in texts]
    return out


def readout_table(pred: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and parse-failure rate per environment, split and readout (unparseable = wrong)."""
    rows = []
    for (env, domain, split), g in pred.groupby(["env", "domain", "split"], sort=True):
        for readout in READOUTS:
            sub = g[g["chain"]] if readout == "reason" else g
            if not len(sub):
                continue
            guess = sub[readout]
            rows.append({"env": env, "domain": domain, "split": split, "readout": readout, "n": len(sub),
                         "accuracy": float((guess == sub["class_name"]).mean()),
                         "parse_failure_rate": float(guess.isna().mean())})
    return pd.DataFrame(rows)


def env_accuracies(table: pd.DataFrame) -> dict[str, float]:
    """DomainBed keys: env{i}_{in,out}_acc from the log-likelihood readout; the other readouts
    beside them as env{i}_{in,out}_acc_<readout> and env{i}_{in,out}_parse_fail_<readout>."""
    acc = {}
    for r in table.itertuples():
        base = f"env{r.env}_{r.split}"
        if r.readout == "loglik":
            acc[f"{base}_acc"] = r.accuracy
        else:
            acc[f"{base}_acc_{r.readout}"] = r.accuracy
            acc[f"{base}_parse_fail_{r.readout}"] = r.parse_failure_rate
    return acc
