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
# # Stage 7 — OOD analysis: the study's answer
#
# **Question.** Do reasoning chains help the MLLM generalise to an unseen domain — and why, or
# why not? Every number is read from files this run wrote, or from two small experiments run
# here on the base (Challenge 2, domain invariance). The papers' numbers (InternVL3-8B on the
# four real datasets) are shown beside ours for reference only.

# %% tags=["parameters"]
params_dir = "params"

# %%
import pandas as pd
from IPython.display import HTML, display

from rdmldg import plots, stage
from rdmldg.analysis import challenge2, invariance, paired, published, rounds, summary, zeroshot
from rdmldg.analysis.heldout import lodo_metrics, read_heldout
from rdmldg.data import split_column
from rdmldg.evaluation import domainbed
from rdmldg.methods import readout as readout_of
from rdmldg.models import token_probs
from rdmldg.models.base import load_base

session = stage.begin("analysis", params_dir)
params, analysis_params = session.params, session.params.eval.analysis
manifest, info, root, chains = session.prepared()
domains = [d for d in info["domains"] if d in params.heldout_domains()]  # the folds this study ran
methods, chance = ["zeroshot", *params.study.methods], 1 / len(info["classes"])
display(session.provenance_table())

# %% [markdown]
# ## 1. Leave-one-domain-out accuracy (training-domain validation)
# Test: each held-out domain's `in` split; each run's stage was chosen on the sources' `out`
# splits. Cells are mean ± SE over trial seeds; Avg is the mean over domains. Each method is
# read the way it answers: `q_cls` class log-likelihood, or for reasoning SFT and SARR the
# CONCLUSION of a greedy `q_reason` chain. Below: every method in every readout.

# %%
heldout = read_heldout(session.root, info["domains"], methods, domains, analysis_params, params.study.seed)
lodo = heldout.lodo
table = domainbed.formatted(lodo["answer"], domains).assign(readout=[readout_of(m) for m in methods])
display(table, pd.concat({r: domainbed.formatted(lodo[r], domains) for r in domainbed.READOUT_TABLES},
                         names=["readout"]))
session.save_table(lodo["answer"].round(2), "lodo")
session.save_table(table, "lodo_formatted")
print(f"{len(heldout.records)} DomainBed records, {len(params.data.trial_seeds)} trial seed(s); chance {chance:.1%}")
session.save_figure(plots.lodo_bars(lodo["answer"], methods, domains, chance), "lodo");

# %% [markdown]
# ### Which differences are real? Paired comparisons on the same test images
# Compared image by image, the images' shared difficulty cancels. Intervals
# (`eval.analysis.confidence`): bootstrap over trial seeds, then over test images within each
# (trial, domain); **significant** when the interval excludes zero. Above them: binomial SEs.

# %%
display(heldout.binomial.loc[methods].round(2))
session.save_table(heldout.diffs.round(2), "paired_differences", index=False)
avg_diffs = heldout.diffs[heldout.diffs["domain"] == paired.AVG]
print("\n".join(paired.verdict(row) for _, row in avg_diffs.iterrows()))
session.save_figure(plots.paired_intervals(avg_diffs, analysis_params.confidence), "paired-differences")
metrics = lodo_metrics(heldout, methods, analysis_params.confidence, len(params.data.trial_seeds),
                       info["dataset"], domains, chance)

# %% [markdown]
# ## 2. Ablation, beside the paper's (OfficeHome / TerraInc, InternVL3-8B)
# Ours is this run's Avg on its own dataset and model: compare the *ordering* of the rows.

# %%
ablation = published.ablation_beside(lodo, methods)
display(ablation, published.MAIN)
session.save_table(ablation, "ablation")
print(published.SOURCE)

# %% [markdown]
# ## 3. Challenge 1: how confident is each model in the class tokens?
# Each ground-truth class token's probability on ~32 source training images per fold, under
# `q_cls` and inside the teacher chain's CONCLUSION (teacher-forced). Paper (TerraInc): p > 0.75
# for 92.23 % of class tokens after label SFT, 86.33 % after reasoning SFT.

# %%
c1 = token_probs.challenge1_table(heldout.probes, methods)
display(c1.round(3))
session.save_figure(plots.challenge1_boxes(heldout.probes, methods), "challenge1")
metrics["challenge1"] = token_probs.challenge1_metrics(c1, methods)

# %% [markdown]
# ## 4. Challenge 2: the teacher's chains vs the model's own
# First fold: the images whose base self-chain concludes correctly are fine-tuned on twice
# (reasoning only), on the teacher's chains and on the model's own. Paper: target-token
# probability +1.88 points with teacher chains, +29.74 with self chains.

# %%
base, processor = load_base(session.root, params.model)
challenge_2 = challenge2.run(params, manifest, root, chains, info["classes"], base, processor,
                             lambda: load_base(session.root, params.model)[0], session.root / ".c2")
print(challenge_2.describe())
if not challenge_2.skipped:
    display(challenge_2.table().round(3), challenge_2.top_tokens())
session.save_figure(plots.note(f"Challenge 2 not run: {challenge_2.skipped}") if challenge_2.skipped
                    else plots.challenge2_gains(challenge_2.table()), "challenge2")
metrics["challenge2"] = challenge_2.metrics()

# %% [markdown]
# ## 5. Domain invariance: chain text vs image embeddings
# MMD² between domains in the base's own embeddings (decoder: teacher chains; vision tower:
# images); a third row keeps only REASONING + CONCLUSION. Paper (MMD): chains 0.099, images 0.239.

# %%
mmd = invariance.domain_mmd(base, processor, manifest, chains, root, split_column(params.data.trial_seeds[0]),
                            analysis_params.mmd_images_per_domain, params.study.seed)
mmd_mean = mmd.groupby(level="space")["mmd2"].mean()
display(mmd.reset_index(level=0).pivot_table(index=["domain_a", "domain_b"], columns="space", values="mmd2").round(4),
        mmd_mean.round(4).to_frame("mean MMD² over domain pairs"))
session.save_figure(plots.invariance_bars(mmd_mean, list(invariance.SPACES)), "invariance")
metrics["invariance_mmd2"] = mmd_mean.to_dict()

# %% [markdown]
# ## 6. SARR rounds: share of self-chains that fail, and validation accuracy, per round
# Paper: rejection falls from about 40 % to 15 % over 3 rounds.

# %%
sarr = rounds.sarr_rounds(session.root / "reports" / "metrics", params.study.methods)
if len(sarr):
    display(rounds.by_round(sarr).round(3))
    metrics["sarr_rejection_by_round"] = rounds.rejection_by_round(rounds.by_round(sarr))
session.save_figure(plots.sarr_rounds(sarr) if len(sarr) else plots.note("no SARR method in study.methods", 9),
                    "sarr-rounds")

# %% [markdown]
# ## 7. Zero-shot, in-context learning and mapping deficiency (from the zero-shot stage)

# %%
zs = session.read_metrics("zeroshot")
mapping = zeroshot.mapping_table(zs)
display(mapping.round(3), pd.DataFrame(zs["icl_mean_by_shots"]).T.round(3).rename_axis("shots from"))
if "spurious_mean" in zs:
    print("spurious-correlation shots (accuracy):", {k: round(v, 3) for k, v in zs["spurious_mean"].items()})
metrics["mapping_gap_mean"] = float(mapping["mapping gap"].mean())

# %% [markdown]
# ## 8. Held-out confusion matrices and example chains (each method's own readout, folds pooled)

# %%
plots.confusion_matrices(heldout.test, methods, info["classes"])
examples = plots.right_and_wrong(heldout.test, methods)
display(HTML(plots.prediction_cards(examples, root)) if examples else "no chains generated")

# %% [markdown]
# ## Is the instrument working? And the metrics: all (front page), and the headline (`dvc metrics show`)
# A run answers the question only if the base knows the classes yet suffers the shift,
# fine-tuning moves it, SARR has chains to keep, and the test sets resolve a few points.

# %%
label_runs = session.read_metrics("train-label") if "label" in methods else None
metrics["instrument"] = summary.instrument_checks(metrics, label_runs)
display(pd.DataFrame(metrics["instrument"]).set_index("key").round(2))
print(session.write_metrics(metrics).relative_to(session.root))
print(session.write_metrics(paired.compact_headline(lodo["answer"]["Avg"].to_dict(), metrics["paired"]),
                            "headline").relative_to(session.root))
