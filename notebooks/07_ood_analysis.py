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
# **Question.** Do reasoning chains help the MLLM generalise to an unseen domain — and if they
# do or do not, why? Every number here is read from files this run of the pipeline wrote:
# the DomainBed records and predictions of the evaluate stage, the train and zero-shot
# metrics, and two small experiments run here on the base model (Challenge 2, domain
# invariance). The papers' published numbers are shown beside ours for reference only: they
# come from InternVL3-8B on the four real datasets, trained as the paper describes.

# %% tags=["parameters"]
params_dir = "params"

# %%
import json

import pandas as pd
from IPython.display import HTML, display

from rdmldg import chain_dataset, plots, stage
from rdmldg.analysis import challenge2, invariance, paired, published, rounds, summary
from rdmldg.analysis.zeroshot import mapping_table
from rdmldg.data import image_root, read_prepared, split_column
from rdmldg.evaluation import domainbed
from rdmldg.evaluation.pipeline import heldout_rows, read_results
from rdmldg.methods import readout as readout_of
from rdmldg.models.base import load_base
from rdmldg.models.token_probs import challenge1_metrics, challenge1_table

session = stage.begin("analysis", params_dir)
params, analysis_params = session.params, session.params.eval.analysis
manifest, info = read_prepared(session.root / "data" / "prepared")
classes = info["classes"]
domains = [d for d in info["domains"] if d in params.heldout_domains()]  # the folds this study ran
root = image_root(info, session.root)
chains = {r["image_id"]: r["text"] for r in chain_dataset.read(session.root / "data" / "chains")[0]}
reports, methods, chance = session.root / "reports", ["zeroshot", *params.study.methods], 1 / len(classes)
metrics_dir, figures, tables_dir = reports / "metrics", reports / "figures", reports / "tables"
figures.mkdir(parents=True, exist_ok=True)
tables_dir.mkdir(parents=True, exist_ok=True)


def save(fig, name: str) -> None:
    fig.savefig(figures / f"{name}.png", dpi=90, bbox_inches="tight", metadata={"Software": None})


display(session.provenance_table())

# %% [markdown]
# ## 1. Leave-one-domain-out accuracy (training-domain validation)
# Test accuracy is each held-out domain's `in` split; the model of each run was chosen by
# the source domains' `out` splits (DomainBed's training-domain validation). Cells are
# mean ± standard error over trial seeds (population std / √n); Avg is the mean of the
# per-domain means. Each method is read the way it answers: `q_cls` class log-likelihood
# for the base and every method trained on `q_cls`; the CONCLUSION of its greedy `q_reason`
# chain for reasoning SFT and SARR, which never learnt to answer `q_cls` with a class name.
# The tables below give every method in every readout.

# %%
records = domainbed.load_records(reports / "domainbed")
lodo = domainbed.lodo_tables(records, info["domains"], methods, domains)
headline = domainbed.formatted(lodo["answer"], domains).assign(readout=[readout_of(m) for m in methods])
display(headline)
lodo["answer"].round(2).to_csv(tables_dir / "lodo.csv")
headline.to_csv(tables_dir / "lodo_formatted.csv")
print(f"{len(records)} DomainBed records; {len(params.data.trial_seeds)} trial seed(s); chance = {100 * chance:.1f} %")
save(plots.lodo_bars(lodo["answer"], methods, domains, chance), "lodo")

# %% [markdown]
# ### Every method in every readout: `q_cls` log-likelihood, `q_cls` generated and parsed, and
# the CONCLUSION of a `q_reason` chain (all on every test image)

# %%
display(pd.concat({r: domainbed.formatted(lodo[r], domains) for r in domainbed.READOUT_TABLES}, names=["readout"]))

# %% [markdown]
# ### Which differences are real? Paired comparisons on the same test images
# Every method is read on the same held-out test images, so two methods are compared image by
# image: the shared difficulty of the images cancels, and the interval is much narrower than
# the two methods' standard errors added. 95 % intervals (`eval.analysis.confidence`) come
# from a bootstrap over trial seeds, then over test images within each (trial, domain); Avg is
# the mean of the per-domain differences. A difference is **significant** when its interval
# excludes zero. The binomial standard error of each method's accuracy is beside.

# %%
predictions, probes = read_results(session.root)  # every run's predictions, and its Challenge-1 probabilities
test = domainbed.with_answers(heldout_rows(predictions, domains))
correct = paired.correctness(test, "answer")
binomial = paired.binomial_se(correct).pivot(index="method", columns="domain", values=["accuracy", "se", "n"])
display(binomial.loc[methods].round(2))
diffs = paired.comparisons(correct, paired.study_pairs(methods), analysis_params.bootstrap_samples,
                           analysis_params.confidence, seed=params.study.seed)
paired.check_against_lodo(diffs, lodo["answer"])
diffs.round(2).to_csv(tables_dir / "paired_differences.csv", index=False)
avg_diffs = diffs[diffs["domain"] == paired.AVG]
print("\n".join(paired.verdict(row) for _, row in avg_diffs.iterrows()))
save(plots.paired_intervals(avg_diffs, analysis_params.confidence), "paired-differences")
metrics = summary.lodo_metrics(lodo, methods, correct, binomial, diffs, analysis_params.confidence,
                               len(params.data.trial_seeds), info["dataset"], domains, chance)

# %% [markdown]
# ## 2. Ablation, beside the paper's
# The paper's columns are OfficeHome / TerraInc with InternVL3-8B; ours are this run's Avg on
# its own dataset and model. Compare the *ordering* of the rows, not the numbers.

# %%
ablation = published.ABLATION.loc[[m for m in methods if m in published.ABLATION.index]].copy()
ablation = ablation.join(pd.DataFrame({f"ours Avg ({r})": lodo[r]["Avg"].round(1)
                                       for r in ("answer", *domainbed.READOUT_TABLES)}))
display(ablation)
ablation.to_csv(tables_dir / "ablation.csv")
print(published.SOURCE)
display(published.MAIN)

# %% [markdown]
# ## 3. Challenge 1: how confident is each model in the class tokens?
# Probability of every ground-truth class token, on about 32 source training images per fold:
# under `q_cls` (the answer) and inside the teacher chain's CONCLUSION under `q_reason`
# (teacher-forced). Paper (TerraInc, InternVL3-8B): after label SFT 92.23 % of class tokens
# have p > 0.75, after reasoning SFT 86.33 %.

# %%
c1 = challenge1_table(probes, methods)
display(c1.round(3))
save(plots.challenge1_boxes(probes, methods), "challenge1")
metrics["challenge1"] = challenge1_metrics(c1, methods)

# %% [markdown]
# ## 4. Challenge 2: the teacher's chains vs the model's own
# On the first fold, the base model writes chains for source training images; the images
# whose self-chain concludes correctly are fine-tuned on twice (reasoning only, same
# settings): once on the teacher's chains, once on the model's own. Paper: target-token
# probability +1.88 points with teacher chains, +29.74 with self chains.

# %%
base, processor = load_base(session.root, params.model)
challenge_2 = challenge2.run(params, manifest, root, chains, classes, base, processor,
                             lambda: load_base(session.root, params.model)[0], session.root / ".c2")
print(f"fold {challenge_2.fold}: {challenge_2.counts['self_correct']} of {challenge_2.counts['images']} "
      "base self-chains conclude correctly")
if challenge_2.skipped:
    print("Challenge 2 not run:", challenge_2.skipped)
    save(plots.note(f"Challenge 2 not run: {challenge_2.skipped}"), "challenge2")  # the stage's plot still exists
else:
    c2_table = challenge2.summary_table(challenge_2.conditions)
    c2_table["paper gain (points)"] = [published.CHALLENGE2_GAIN_POINTS[k] for k in c2_table.index]
    display(c2_table.round(3))
    display(pd.DataFrame({k: [f"{t['token']} ({t['reduction']:.2f})" for t in v["top_tokens"]]
                          for k, v in challenge_2.conditions.items()}))
    print(f"overlap of the top-{analysis_params.top_tokens} entropy-reduction tokens: "
          f"{challenge_2.top_token_overlap:.2f}")
    save(plots.challenge2_gains(c2_table), "challenge2")
metrics["challenge2"] = challenge_2.metrics()

# %% [markdown]
# ## 5. Domain invariance: chain text vs image embeddings
# MMD² between every pair of domains, in the base model's own embeddings (decoder for the
# teacher chains' text, vision tower for the images; L2-normalised, Gaussian kernel at the
# median distance). A third row drops the CAPTION and SUMMARY (which describe the style on
# purpose) and keeps REASONING + CONCLUSION. Paper (MMD): chains 0.099, images 0.239.

# %%
mmd = invariance.domain_mmd(base, processor, manifest, chains, root, split_column(params.data.trial_seeds[0]),
                            analysis_params.mmd_images_per_domain, params.study.seed)
mmd_mean = mmd.groupby(level="space")["mmd2"].mean()
display(mmd.reset_index(level=0).pivot_table(index=["domain_a", "domain_b"], columns="space", values="mmd2").round(4))
display(mmd_mean.round(4).to_frame("mean MMD² over domain pairs"))
save(plots.invariance_bars(mmd_mean, list(invariance.SPACES)), "invariance")
metrics["invariance_mmd2"] = mmd_mean.to_dict()

# %% [markdown]
# ## 6. SARR rounds: how the model's own chains fare, round by round
# Share of source training images whose self-chain fails (parse or wrong conclusion) and the
# stage's validation accuracy. Paper: rejection falls from about 40 % to 15 % over 3 rounds.

# %%
sarr = rounds.sarr_rounds(metrics_dir, params.study.methods)
if len(sarr):
    display(rounds.by_round(sarr).round(3))
    metrics["sarr_rejection_by_round"] = rounds.rejection_by_round(rounds.by_round(sarr))
save(plots.sarr_rounds(sarr) if len(sarr) else plots.note("no SARR method in study.methods", 9), "sarr-rounds")

# %% [markdown]
# ## 7. Zero-shot, in-context learning and mapping deficiency (from the zero-shot stage)

# %%
zs = json.loads((metrics_dir / "zeroshot.json").read_text())
mapping = mapping_table(zs)
display(mapping.round(3))
display(pd.DataFrame(zs["icl_mean_by_shots"]).T.round(3).rename_axis("shots from"))
if "spurious_mean" in zs:
    print("spurious-correlation shots (accuracy):", {k: round(v, 3) for k, v in zs["spurious_mean"].items()})
metrics["mapping_gap_mean"] = float(mapping["mapping gap"].mean())

# %% [markdown]
# ## 8. Confusion matrices on the held-out domains (each method's own readout, all folds pooled)

# %%
plots.confusion_matrices(test, methods, classes);

# %% [markdown]
# ## 9. Right and wrong chains on held-out images

# %%
examples = plots.right_and_wrong(test, methods)
display(HTML(plots.prediction_cards(examples, root)) if examples else "no chains generated")

# %% [markdown]
# ## Is the instrument working?
# A run answers the question only if it can: the base must know the classes yet
# suffer the shift, fine-tuning must move it, SARR must have chains to keep, and the test sets
# must resolve a few points. Each target, as this run measured it (blank: not in this run).

# %%
label_runs = json.loads((metrics_dir / "train-label.json").read_text()) if "label" in methods else None
metrics["instrument"] = summary.instrument_checks(metrics, label_runs)
display(pd.DataFrame(metrics["instrument"]).set_index("key").round(2))

# %% [markdown]
# ## Metrics (the front page reads these)

# %%
print(session.write_metrics(metrics).relative_to(session.root))
# the headline alone, for `dvc exp show` / `dvc metrics show` (analysis.json has hundreds of columns)
avg = lodo["answer"]["Avg"].to_dict()
print(session.write_metrics(paired.compact_headline(avg, metrics["paired"]), "headline").relative_to(session.root))
