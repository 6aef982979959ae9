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
from IPython.display import display

from rdmldg import plots, stage
from rdmldg.evaluation.pipeline import evaluate_runs, heldout_rows, result_folders
from rdmldg.evaluation.runs import trained_runs, zero_shot_runs
from rdmldg.models.base import load_base

session = stage.begin("evaluate", params_dir)
params = session.params
manifest, info, root, chains = session.prepared()
runs = zero_shot_runs(params) + trained_runs(session.root, params)
print(f"{len(runs)} models × {len(info['domains'])} environments × (in, out); "
      f"q_cls on {params.eval.test_images_per_domain or 'every'} test image(s) per held-out domain and "
      f"{params.eval.images_per_split or 'all'} per other split, "
      f"q_reason on {params.eval.chain_images_per_split or 'all'}")
display(session.provenance_table())

# %% [markdown]
# ## Evaluate (finished runs are reused while their adapter, inputs and eval params are unchanged)

# %%
model, processor = load_base(session.root, params.model)
evaluation = evaluate_runs(session.root, params, runs, manifest, info, chains, root, model, processor)
tables, preds = evaluation.tables, evaluation.predictions
del model

# %% [markdown]
# ## Held-out accuracy per run (the held-out domain's `in` split)
# The zero-shot base is one model for every fold: its row is the same images, read per domain.

# %%
test = heldout_rows(tables, params.heldout_domains())
grid = test.pivot_table(index="method", columns=["readout", "domain"], values="accuracy", sort=False)
display(grid.round(3))
session.save_figure(plots.heldout_heatmaps(grid), "evaluate-heldout");

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
session.write_metrics({
    "runs": len(runs),
    "images_evaluated": len(preds),  # q_cls, both readouts, summed over the models
    "chains_generated": int(preds["chain"].sum()),  # q_reason
    "heldout_accuracy": heldout_mean.to_dict("index"),
    "parse_failure_rate": fails.to_dict("index"),
})
print(f"{len(runs)} models evaluated ({evaluation.reused} reused from an earlier run); "
      f"DomainBed records in {result_folders(session.root)[1].relative_to(session.root)}")
