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
# # Stage 5 — train: one method, every leave-one-domain-out fold
#
# **Question.** How does this method fit the source domains: loss per pathway, how
# confident it becomes in the class tokens (Challenge 1), and — for SARR methods — how its
# own chains fare round by round?
#
# LoRA adapters in the vision encoder and the language model are trained on the source
# domains' `in` splits with Eq. 1 (label: summed NLL of the label tokens; reasoning: NLL
# divided by the chain's own length; averaged over images). The held-out domain never
# reaches training, validation or SARR (guarded in code). Each stage is selected on the
# sources' `out` splits.

# %% tags=["parameters"]
params_dir = "params"
method = "mtct"

# %%
from pathlib import Path

import pandas as pd
from IPython.display import display

from rdmldg import methods, plots, stage
from rdmldg.fingerprints import inputs_digest
from rdmldg.models.base import base_model_type
from rdmldg.training import launch
from rdmldg.training.folds import SHARES, train_folds
from rdmldg.training.pathways import image_encoding
from rdmldg.training.run import fold_plans

session = stage.begin(f"train-{method}", params_dir)
method_spec = methods.get(method)
params = session.params
manifest, info, root, chains = session.prepared()
print(f"{method_spec.name}: {method_spec.description}; folds: {params.heldout_domains()}; "
      f"trial seeds: {params.data.trial_seeds}; SARR rounds: {params.train.sarr.rounds if method_spec.sarr else 0}")
print("image encoding:", image_encoding(base_model_type(session.root), params.train.share_image_encoding))
print(params.train.global_batch_note())
display(session.provenance_table())

# %% [markdown]
# ## Train every fold (and every DomainBed trial seed: each draws its own in/out splits)

# %%
inputs = inputs_digest(session.root)
plans = fold_plans(params, method_spec, manifest, root, chains, session.root / "models" / "runs", inputs)
if params.train.compute.num_processes > 1:  # train every fold under accelerate launch; below only reads the results
    launch.train_folds(session.root, params, method, Path(params_dir), inputs)
folds = train_folds(session.root, params, method_spec, plans, info["classes"])

# %% [markdown]
# ## Loss per pathway

# %%
session.save_figure(plots.pathway_losses(folds.curves, f"{method}: loss per pathway"), f"train-{method}", dpi=80);

# %% [markdown]
# ## Challenge 1: confidence in the ground-truth class tokens, before vs after training
# Share of class tokens with p > 0.75 (high) and p < 0.25 (low), under `q_cls` and inside the
# CONCLUSION of the teacher chain under `q_reason` (teacher-forced), on a spread sample of
# about 32 training images per fold (they carry teacher chains; the validation split does not).

# %%
display(folds.challenge.pivot_table(index=["prompt", "when"], values=SHARES).round(3))

# %% [markdown]
# ## Stages and SARR rounds (validation accuracy selects the stage)

# %%
with pd.option_context("display.max_colwidth", 120):
    display(folds.stages)

# %% [markdown]
# ## Metrics and plots

# %%
plots_dir = session.root / "reports" / "plots"
plots_dir.mkdir(parents=True, exist_ok=True)
folds.curves.to_csv(plots_dir / f"train-{method}.csv", index=False)
session.write_metrics(folds.metrics(method_spec))
session.write_run_info(folds.run_info(), name=f"train-{method}")
