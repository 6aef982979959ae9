# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: RD-MLDG (.venv)
#     language: python
#     name: rdmldg
# ---

# %% [markdown]
# # Stage 6 — evaluate: every run, and the zero-shot base, on every environment
#
# **Question.** How accurate is each trained model on its held-out domain (DomainBed's test
# accuracy: the held-out domain's `in` split), and on every other split — read three ways?
#
# * `loglik`: `q_cls`, the class with the highest log-likelihood (the DomainBed accuracy);
# * `generate`: `q_cls`, greedy answer, parsed with word boundaries (unparseable = wrong);
# * `reason`: `q_reason`, greedy chain, the class inside its CONCLUSION (a subsample per split).
#
# Each run gets `reports/domainbed/<run>/results.jsonl` in DomainBed's format, so
# `python -m domainbed.scripts.collect_results --input_dir reports/domainbed` tabulates it
# (DomainBed prints per-dataset tables only for its own dataset names; the analysis stage
# derives the same training-domain-validation table for any dataset).

# %% tags=["parameters"]
params_dir = "params"

# %%
import shutil

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from IPython.display import display
from tqdm import tqdm

from rdmldg import chain_dataset, stage
from rdmldg.analysis.token_probs import class_token_probs
from rdmldg.data import image_root, read_prepared, split_column
from rdmldg.evaluation import domainbed
from rdmldg.evaluation.evaluate import env_accuracies, evaluation_rows, predict, readout_table
from rdmldg.evaluation.runs import AdapterSwapper, trained_runs, zero_shot_runs
from rdmldg.evaluation.store import load_or_compute
from rdmldg.models.base import load_base
from rdmldg.training import run as train_run

S = stage.begin("evaluate", params_dir)
P = S.params
manifest, info = read_prepared(S.root / "data" / "prepared")
classes, domains = info["classes"], info["domains"]
env_of = manifest.groupby("domain")["env"].first().to_dict()
root = image_root(info, S.root)
chains = {r["image_id"]: r["text"] for r in chain_dataset.read(S.root / "data" / "chains")[0]}
runs = zero_shot_runs(P) + trained_runs(S.root, P)
out_dir, db_dir = S.root / "reports" / "evaluation", S.root / "reports" / "domainbed"
for stale in [d for d in (*out_dir.glob("*"), *db_dir.glob("*")) if d.is_dir()]:
    if stale.name not in {r.name for r in runs}:
        shutil.rmtree(stale)  # a run the params no longer ask for
print(f"{len(runs)} models × {len(domains)} environments × (in, out); "
      f"q_cls on {P.eval.test_images_per_domain or 'every'} test image(s) per held-out domain and "
      f"{P.eval.images_per_split or 'all'} per other split, q_reason on {P.eval.chain_images_per_split or 'all'}")
display(S.provenance_table())

# %% [markdown]
# ## Evaluate (finished runs are reused while their adapter, inputs and eval params are unchanged)

# %%
model, processor = load_base(S.root, P.model)
wear = AdapterSwapper(model)
inputs = train_run.inputs_digest(S.root)
tables, preds, probes, records, n_reused = [], [], [], {}, 0
for run in tqdm(runs, desc="evaluate", mininterval=5):
    split_col = split_column(run.trial)
    heldouts = P.heldout_domains() if run.heldout == "all" else [run.heldout]
    rows = evaluation_rows(manifest, split_col, P.eval, P.study.seed, test_domains=heldouts)
    current = wear(run)
    fold = P.heldout_domains()[0] if run.heldout == "all" else run.heldout
    key = train_run.fingerprint(run.digest(), run.trial, fold, P.eval.model_dump(), P.study.seed, inputs)

    def compute():
        pred = predict(current, processor, rows, root, classes, P.eval)
        train_items, _ = train_run.fold_items(P, manifest, root, chains, fold, split_col)
        probe = train_items[:: max(1, len(train_items) // 32)]  # as the train stage's Challenge-1 probe
        return pred, {k: v.tolist() for k, v in class_token_probs(current, processor, probe, classes,
                                                                  P.eval.batch_size).items()}

    pred, probs, reused = load_or_compute(out_dir / run.name, key, compute)
    n_reused += reused
    table = readout_table(pred).assign(method=run.method, trial=run.trial, run=run.name)
    accs = env_accuracies(table)
    step, hparams, stage_no = 0, {}, None
    if run.folder is not None:
        stage_no, step = run.selected()
        hparams = P.train.model_dump()
    records[run.name] = [domainbed.record(run.method, info["dataset"], env_of[h], run.trial, step, accs, len(domains),
                                          hparams, run=run.name, selected_stage=stage_no) for h in heldouts]
    domainbed.write_results(db_dir / run.name, records[run.name])
    tables.append(table.assign(heldout=run.heldout))
    preds.append(pred.assign(method=run.method, trial=run.trial, heldout=run.heldout, run=run.name))
    probes += [{"method": run.method, "run": run.name, "prompt": k, "p": p} for k, v in probs.items() for p in v]
tables, preds, probes = pd.concat(tables), pd.concat(preds), pd.DataFrame(probes)
del model, wear

# %% [markdown]
# ## Held-out accuracy per run (the held-out domain's `in` split)
# The zero-shot base is one model for every fold: its row is the same images, read per domain.

# %%
def heldout_rows(t: pd.DataFrame) -> pd.DataFrame:
    is_test = (t["heldout"] == t["domain"]) | ((t["heldout"] == "all") & (t["method"] == "zeroshot"))
    return t[is_test & (t["split"] == "in")]


test = heldout_rows(tables)
grid = test.pivot_table(index="method", columns=["readout", "domain"], values="accuracy", sort=False)
display(grid.round(3))
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
for ax, readout in zip(axes, ("loglik", "generate", "reason")):
    sns.heatmap(grid[readout], annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", cbar=False, ax=ax)
    ax.set(title=f"held-out accuracy, {readout}", xlabel="held-out domain", ylabel="")
fig.tight_layout()
figures = S.root / "reports" / "figures"
figures.mkdir(parents=True, exist_ok=True)
fig.savefig(figures / "evaluate-heldout.png", dpi=90, metadata={"Software": None})

# %% [markdown]
# ## Parse failures: how often the generated answer names no single class

# %%
fails = tables[tables["readout"] != "loglik"].pivot_table(index="method", columns="readout",
                                                          values="parse_failure_rate", sort=False)
display(fails.round(3))
ax = fails.plot.bar(rot=0, figsize=(8, 3))
ax.set(ylabel="parse-failure rate", ylim=(0, 1), title="unparseable answers (all environments and splits)");

# %% [markdown]
# ## Every environment and split (mean over runs of a method)

# %%
display(tables.pivot_table(index=["method", "readout"], columns=["domain", "split"], values="accuracy",
                           sort=False).round(3))

# %% [markdown]
# ## Metrics

# %%
heldout_mean = test.groupby(["method", "readout"], sort=False)["accuracy"].mean().unstack()
S.write_metrics({
    "runs": len(runs),
    "images_evaluated": len(preds),  # q_cls, both readouts, summed over the models
    "chains_generated": int(preds["chain"].sum()),  # q_reason
    "heldout_accuracy": heldout_mean.to_dict("index"),
    "parse_failure_rate": fails.to_dict("index"),
})
print(f"{len(runs)} models evaluated ({n_reused} reused from an earlier run); "
      f"DomainBed records in {db_dir.relative_to(S.root)}")
