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
import seaborn as sns
from IPython.display import display

from rdmldg import chain_dataset, methods, stage
from rdmldg.data import image_root, read_prepared
from rdmldg.fingerprints import inputs_digest
from rdmldg.models.base import base_model_type, load_base
from rdmldg.models.token_probs import class_token_probs, confidence_shares, probe_items
from rdmldg.training import launch
from rdmldg.training import run as train_run
from rdmldg.training.pathways import image_encoding

session = stage.begin(f"train-{method}", params_dir)
method_spec = methods.get(method)
params = session.params
manifest, info = read_prepared(session.root / "data" / "prepared")
classes = info["classes"]
root = image_root(info, session.root)
chains = {r["image_id"]: r["text"] for r in chain_dataset.read(session.root / "data" / "chains")[0]}
print(f"{method_spec.name}: {method_spec.description}; folds: {params.heldout_domains()}; "
      f"trial seeds: {params.data.trial_seeds}; SARR rounds: {params.train.sarr.rounds if method_spec.sarr else 0}")
print("image encoding:", image_encoding(base_model_type(session.root), params.train.share_image_encoding))
print(params.train.global_batch_note())
display(session.provenance_table())

# %% [markdown]
# ## Train every fold (and every DomainBed trial seed: each draws its own in/out splits)

# %%
results, curves, stages, challenge = {}, [], [], []
inputs = inputs_digest(session.root)
plans = train_run.fold_plans(params, method_spec, manifest, root, chains, session.root / "models" / "runs", inputs)
if params.train.compute.num_processes > 1:  # train every fold under accelerate launch; below only reads the results
    launch.train_folds(session.root, params, method, Path(params_dir), inputs)
for plan in plans:
    base, processor = load_base(session.root, params.model)
    probe = probe_items(plan.train_items)
    before = class_token_probs(base, processor, probe, classes, params.eval.batch_size)
    result = train_run.run(params, method_spec, base, processor, plan, classes, progress=False)
    after = class_token_probs(result["model"], processor, probe, classes, params.eval.batch_size)
    for when, probs in (("before", before), ("after", after)):
        for prompt, values in probs.items():
            challenge.append({"run": plan.name, "when": when, "prompt": prompt, **confidence_shares(values)})
    curves.append(result["history"].assign(heldout=plan.heldout, trial=plan.trial))
    stages.append(result["stages"].assign(heldout=plan.heldout, trial=plan.trial,
                                          selected=result["stages"]["stage"] == result["selected_stage"]))
    results[plan.name] = {"selected_stage": result["selected_stage"], "train_images": len(plan.train_items),
                          "val_accuracy": float(result["stages"]["val_accuracy"].iloc[result["selected_stage"]])}
    print(plan.name, results[plan.name])
curves, stages, challenge = pd.concat(curves), pd.concat(stages), pd.DataFrame(challenge)

# %% [markdown]
# ## Loss per pathway

# %%
cols = [c for c in ("loss_label", "loss_reasoning") if c in curves and curves[c].abs().sum() > 0]
long = curves.melt(id_vars=["heldout", "trial", "step", "stage"], value_vars=cols, var_name="pathway",
                   value_name="pathway_loss")
g = sns.relplot(data=long, x="step", y="pathway_loss", hue="pathway", style="stage", col="heldout", row="trial",
                kind="line", height=2.8, aspect=1.0, facet_kws={"sharey": False})
figures = session.root / "reports" / "figures"
figures.mkdir(parents=True, exist_ok=True)
g.figure.suptitle(f"{method}: loss per pathway", y=1.02)
g.savefig(figures / f"train-{method}.png", dpi=80, metadata={"Software": None})

# %% [markdown]
# ## Challenge 1: confidence in the ground-truth class tokens, before vs after training
# Share of class tokens with p > 0.75 (high) and p < 0.25 (low), under `q_cls` and inside the
# CONCLUSION of the teacher chain under `q_reason` (teacher-forced), on a spread sample of
# about 32 training images per fold (they carry teacher chains; the validation split does not).

# %%
display(challenge.pivot_table(index=["prompt", "when"], values=["high (p>0.75)", "low (p<0.25)"]).round(3))

# %% [markdown]
# ## Stages and SARR rounds (validation accuracy selects the stage)

# %%
with pd.option_context("display.max_colwidth", 120):
    display(stages)

# %% [markdown]
# ## Metrics and plots

# %%
plots_dir = session.root / "reports" / "plots"
plots_dir.mkdir(parents=True, exist_ok=True)
curves.to_csv(plots_dir / f"train-{method}.csv", index=False)
summary = challenge.groupby(["prompt", "when"])[["high (p>0.75)", "low (p<0.25)"]].mean()
session.write_metrics({
    "method": method, "runs": results,
    "mean_val_accuracy": float(pd.DataFrame(results).T["val_accuracy"].mean()),
    "challenge1": {f"{p}_{w}": v for (p, w), v in summary.to_dict("index").items()},
    "sarr_rounds": stages.drop(columns=["sarr_reasons", "tokens"]).to_dict("records") if method_spec.sarr else [],
})
session.write_run_info({"steps": int(stages["steps"].sum()), "tokens": int(stages["tokens"].sum()),
                  "images_per_epoch": sum(r["train_images"] for r in results.values())}, name=f"train-{method}")
