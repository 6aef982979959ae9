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

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import HTML, display

from rdmldg import chain_dataset, stage
from rdmldg.analysis import challenge2 as c2
from rdmldg.analysis import instrument, invariance, paired, published
from rdmldg.chains import parse_chain
from rdmldg.data import image_root, load_image, read_prepared, split_column
from rdmldg.evaluation import domainbed, store
from rdmldg.evaluation.runs import Run
from rdmldg.methods import readout as readout_of
from rdmldg.models.base import load_base
from rdmldg.plots import prediction_cards
from rdmldg.seeding import derive_seed
from rdmldg.training import data as train_data

S = stage.begin("analysis", params_dir)
P, A = S.params, S.params.eval.analysis
manifest, info = read_prepared(S.root / "data" / "prepared")
classes = info["classes"]
domains = [d for d in info["domains"] if d in P.heldout_domains()]  # the folds this study ran
root = image_root(info, S.root)
chains = {r["image_id"]: r["text"] for r in chain_dataset.read(S.root / "data" / "chains")[0]}
metrics_dir, reports = S.root / "reports" / "metrics", S.root / "reports"
figures, tables_dir = reports / "figures", reports / "tables"
figures.mkdir(parents=True, exist_ok=True)
tables_dir.mkdir(parents=True, exist_ok=True)
methods = ["zeroshot", *P.study.methods]
chance = 1 / len(classes)
metrics = {}


def save(fig, name: str) -> None:
    fig.savefig(figures / f"{name}.png", dpi=90, bbox_inches="tight", metadata={"Software": None})


display(S.provenance_table())

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
lodo = {}
for readout in ("loglik", "generate", "reason"):
    chosen = domainbed.select_training_domain_validation(domainbed.readout_view(records, readout))
    lodo[readout] = domainbed.lodo_table(chosen, info["domains"], methods, tested=domains)
lodo["answer"] = domainbed.own_readout(lodo, methods)
headline = domainbed.formatted(lodo["answer"], domains).assign(readout=[readout_of(m) for m in methods])
display(headline)
lodo["answer"].round(2).to_csv(tables_dir / "lodo.csv")
headline.to_csv(tables_dir / "lodo_formatted.csv")
n_trials = len(P.data.trial_seeds)
print(f"{len(records)} DomainBed records; {n_trials} trial seed(s); chance = {100 * chance:.1f} %")

# %%
long = lodo["answer"][[*domains, "Avg"]].reset_index().melt(id_vars="algorithm", var_name="held-out domain",
                                                               value_name="accuracy")
fig, ax = plt.subplots(figsize=(10, 3.6))
sns.barplot(data=long, x="held-out domain", y="accuracy", hue="algorithm", hue_order=methods, ax=ax)
for container, m in zip(ax.containers, methods):  # one container per method, one bar per column
    for bar, d in zip(container, [*domains, "Avg"]):
        se = lodo["answer"].loc[m].get(f"{d} se", np.nan)
        if np.isfinite(se) and se > 0:
            ax.errorbar(bar.get_x() + bar.get_width() / 2, bar.get_height(), yerr=se, color="k", lw=1)
ax.axhline(100 * chance, ls="--", c="grey", lw=1)
ax.set(ylabel="test accuracy (%)", ylim=(0, 100), title="leave-one-domain-out accuracy (dashed: chance)")
ax.legend(fontsize=8, ncol=3)
save(fig, "lodo")

# %% [markdown]
# ### Every method in every readout: `q_cls` log-likelihood, `q_cls` generated and parsed, and
# the CONCLUSION of a `q_reason` chain (all on every test image)

# %%
for readout in ("loglik", "generate", "reason"):
    print(readout)
    display(domainbed.formatted(lodo[readout], domains))

# %% [markdown]
# ### Which differences are real? Paired comparisons on the same test images
# Every method is read on the same held-out test images, so two methods are compared image by
# image: the shared difficulty of the images cancels, and the interval is much narrower than
# the two methods' standard errors added. 95 % intervals (`eval.analysis.confidence`) come
# from a bootstrap over trial seeds, then over test images within each (trial, domain); Avg is
# the mean of the per-domain differences. A difference is **significant** when its interval
# excludes zero. The binomial standard error of each method's accuracy is beside.

# %%
finished = store.finished_runs(reports / "evaluation")  # (run, predictions, Challenge-1 probabilities)
preds = pd.concat([p.assign(method=Run.parse(run)[0], trial=Run.parse(run)[1], heldout=Run.parse(run)[2], run=run)
                   for run, p, _ in finished])
heldout_in = (preds["split"] == "in") & preds["domain"].isin(domains)  # the base is evaluated on every domain
test = preds[heldout_in & ((preds["domain"] == preds["heldout"]) | (preds["heldout"] == "all"))]
test = domainbed.with_answers(test)
correct = paired.correctness(test, "answer")
binomial = paired.binomial_se(correct).pivot(index="method", columns="domain", values=["accuracy", "se", "n"])
display(binomial.loc[methods].round(2))
pairs = paired.study_pairs(methods)
diffs = paired.comparisons(correct, pairs, A.bootstrap_samples, A.confidence, seed=P.study.seed)
for (a, b), g in diffs.groupby(["a", "b"], sort=False):  # the paired mean is the LODO table's difference
    want = lodo["answer"].loc[a, "Avg"] - lodo["answer"].loc[b, "Avg"]
    assert abs(g.set_index("domain").loc[paired.AVG, "difference"] - want) < 1e-6, (a, b, want)
diffs.round(2).to_csv(tables_dir / "paired_differences.csv", index=False)
for _, row in diffs[diffs["domain"] == paired.AVG].iterrows():
    print(paired.verdict(row))

# %%
fig, ax = plt.subplots(figsize=(8, 0.45 * len(pairs) + 1.2))
avg = diffs[diffs["domain"] == paired.AVG].reset_index(drop=True)
ax.errorbar(avg["difference"], range(len(avg)), xerr=[avg["difference"] - avg["ci_low"], avg["ci_high"] - avg["difference"]],
            fmt="none", ecolor="k", capsize=3)
ax.scatter(avg["difference"], range(len(avg)), c=["tab:red" if x else "tab:grey" for x in avg["significant"]], zorder=3)
ax.axvline(0, c="grey", ls="--", lw=1)
ax.set_yticks(range(len(avg)), [f"{a} − {b}" for a, b in zip(avg["a"], avg["b"])])
ax.invert_yaxis()
ax.set(xlabel=f"Avg accuracy difference (points), {100 * A.confidence:.0f} % paired bootstrap interval",
       title="paired differences on the held-out test images (red: interval excludes 0)")
save(fig, "paired-differences")

# %% [markdown]
# ## 2. Ablation, beside the paper's
# The paper's columns are OfficeHome / TerraInc with InternVL3-8B; ours are this run's Avg on
# its own dataset and model. Compare the *ordering* of the rows, not the numbers.

# %%
ablation = published.ABLATION.loc[[m for m in methods if m in published.ABLATION.index]].copy()
for readout in ("answer", "loglik", "generate", "reason"):
    ablation[f"ours Avg ({readout})"] = lodo[readout].loc[ablation.index, "Avg"].round(1)
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
probes = [{"method": Run.parse(run)[0], "prompt": prompt, "p": v}
          for run, _, extras in finished for prompt, values in extras.items() for v in values]
probes = pd.DataFrame(probes)
c1 = probes.assign(high=probes["p"] > 0.75, low=probes["p"] < 0.25).pivot_table(
    index="method", columns="prompt", values=["high", "low", "p"], aggfunc="mean").reindex(methods)
display(c1.round(3))
fig, ax = plt.subplots(figsize=(10, 3.4))
sns.boxplot(data=probes, x="method", y="p", hue="prompt", order=methods, ax=ax, fliersize=1)
ax.axhline(0.75, ls=":", c="grey", lw=1)
ax.set(ylabel="p(class token)", ylim=(0, 1), title="Challenge 1: class-token probabilities (dotted: 0.75)")
save(fig, "challenge1")
metrics["challenge1"] = {m: {f"{prompt}_{k}": c1.loc[m, (k, prompt)] for k in ("high", "p")
                             for prompt in ("q_cls", "q_reason") if (k, prompt) in c1.columns} for m in methods}

# %% [markdown]
# ## 4. Challenge 2: the teacher's chains vs the model's own
# On the first fold, the base model writes chains for source training images; the images
# whose self-chain concludes correctly are fine-tuned on twice (reasoning only, same
# settings): once on the teacher's chains, once on the model's own. Paper: target-token
# probability +1.88 points with teacher chains, +29.74 with self chains.

# %%
fold, trial = P.heldout_domains()[0], P.data.trial_seeds[0]
rows = train_data.source_rows(manifest, fold, split_column(trial), "in", "challenge 2")
rows = rows[rows["image_id"].isin(chains)]
rows = rows.sample(min(A.challenge2_images, len(rows)), random_state=derive_seed(P.study.seed, "c2") % 2**32)
items = train_data.items(rows.sort_index(), root, chains, fold, "challenge 2")
base, processor = load_base(S.root, P.model)
teacher_items, self_items, yield_ = c2.experiment_items(base, processor, items, classes, fold,
                                                        P.eval.chain_max_new_tokens, P.eval.generate_batch_size)
skipped = c2.empty_reason(yield_, A.challenge2_min_images)
print(f"fold {fold}: {yield_['self_correct']} of {yield_['images']} base self-chains conclude correctly")
c2_results = {}
if skipped:
    print("Challenge 2 not run:", skipped)
else:
    for name, its in (("teacher", teacher_items), ("self", self_items)):
        before = c2.token_table(base, processor, its, classes, P.eval.batch_size)
        tuned = c2.fine_tune(lambda: load_base(S.root, P.model)[0], processor, its, classes, P.train,
                             derive_seed(P.study.seed, "c2", name), A.challenge2_epochs, S.root / ".c2" / name)
        after = c2.token_table(tuned, processor, its, classes, P.eval.batch_size)
        c2_results[name] = c2.gain_and_entropy(before, after, processor, A.top_tokens, A.min_token_count)
    summary = c2.summary_table(c2_results)
    summary["paper gain (points)"] = [published.CHALLENGE2_GAIN_POINTS[k] for k in summary.index]
    display(summary.round(3))
    top = pd.DataFrame({k: [f"{t['token']} ({t['reduction']:.2f})" for t in v["top_tokens"]]
                        for k, v in c2_results.items()})
    display(top)
    shared = c2.overlap(c2_results["teacher"]["top_tokens"], c2_results["self"]["top_tokens"])
    print(f"overlap of the top-{A.top_tokens} entropy-reduction tokens: {shared:.2f}")
    fig, ax = plt.subplots(figsize=(5, 3))
    summary["target_gain_points"].plot.bar(ax=ax, rot=0, color=["#888", "#1a5fb4"])
    ax.set(ylabel="target-token p gain (points)", title="Challenge 2: SFT target")
    save(fig, "challenge2")
    c2_results["top_token_overlap"] = shared
metrics["challenge2"] = {"images": yield_["images"], "self_correct": yield_["self_correct"], "skipped": skipped,
                         **{k: {kk: vv for kk, vv in v.items() if kk != "top_tokens"} if isinstance(v, dict) else v
                            for k, v in c2_results.items()}}
if skipped:  # an honest placeholder figure, so the stage's plot exists
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0, 0.5, f"Challenge 2 not run: {skipped}", fontsize=8)
    save(fig, "challenge2")

# %% [markdown]
# ## 5. Domain invariance: chain text vs image embeddings
# MMD² between every pair of domains, in the base model's own embeddings (decoder for the
# teacher chains' text, vision tower for the images; L2-normalised, Gaussian kernel at the
# median distance). A third row drops the CAPTION and SUMMARY (which describe the style on
# purpose) and keeps REASONING + CONCLUSION. Paper (MMD): chains 0.099, images 0.239.

# %%
pool = manifest[(manifest[split_column(trial)] == "in") & manifest["image_id"].isin(chains)]
pool = pd.concat([g.sample(min(A.mmd_images_per_domain, len(g)), random_state=derive_seed(P.study.seed, "mmd", d) % 2**32)
                  for d, g in pool.groupby("domain")])
texts = [chains[i] for i in pool["image_id"]]
reasoning_only = [(lambda c: f"{c.reasoning} {c.conclusion}" if c else t)(parse_chain(t)) for t in texts]
spaces = {"chain text": invariance.text_features(base, processor, texts),
          "chain text (reasoning + conclusion)": invariance.text_features(base, processor, reasoning_only),
          "image": invariance.image_features(base, processor, [load_image(root / p) for p in pool["path"]])}
mmd = pd.concat({k: invariance.pairwise_mmd(v, list(pool["domain"])) for k, v in spaces.items()}, names=["space"])
mmd_mean = mmd.groupby(level="space")["mmd2"].mean()
display(mmd.reset_index(level=0).pivot_table(index=["domain_a", "domain_b"], columns="space", values="mmd2").round(4))
display(mmd_mean.round(4).to_frame("mean MMD² over domain pairs"))
fig, ax = plt.subplots(figsize=(6, 3))
mmd_mean.reindex(list(spaces)).plot.bar(ax=ax, rot=0, color=["#1a5fb4", "#62a0ea", "#c01c28"])
ax.set(ylabel="mean MMD² between domains", title="domain invariance (lower: more invariant)")
ax.tick_params(axis="x", labelsize=8)
save(fig, "invariance")
metrics["invariance_mmd2"] = mmd_mean.to_dict()

# %% [markdown]
# ## 6. SARR rounds: how the model's own chains fare, round by round
# Share of source training images whose self-chain fails (parse or wrong conclusion) and the
# stage's validation accuracy. Paper: rejection falls from about 40 % to 15 % over 3 rounds.

# %%
rounds = []
for m in P.study.methods:
    path = metrics_dir / f"train-{m}.json"
    if path.exists():
        rounds += [{**r, "method": m} for r in json.loads(path.read_text()).get("sarr_rounds", [])]
rounds = pd.DataFrame(rounds)
if len(rounds):
    by_round = rounds.groupby(["method", "stage"])[["sarr_rejection_rate", "val_accuracy"]].mean()
    display(by_round.round(3))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    # errorbar="se": seaborn's default bootstrap interval is random, and the figure must be reproducible
    sns.lineplot(data=rounds[rounds["stage"] > 0], x="stage", y="sarr_rejection_rate", hue="method", marker="o",
                 errorbar="se", ax=axes[0])
    axes[0].set(ylim=(0, 1), title="self-chain rejection rate", xlabel="SARR round")
    sns.lineplot(data=rounds, x="stage", y="val_accuracy", hue="method", marker="o", errorbar="se", ax=axes[1])
    axes[1].set(ylim=(0, 1), title="validation accuracy by stage", xlabel="stage (0: before SARR)")
    fig.tight_layout()
    metrics["sarr_rejection_by_round"] = {f"{m}_round{s}": v for (m, s), v in
                                          by_round["sarr_rejection_rate"].dropna().items()}
else:
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0, 0.5, "no SARR method in study.methods", fontsize=9)
save(fig, "sarr-rounds")

# %% [markdown]
# ## 7. Zero-shot, in-context learning and mapping deficiency (from the zero-shot stage)

# %%
zs = json.loads((metrics_dir / "zeroshot.json").read_text())
mapping = pd.DataFrame(zs["zero_shot"]).T[["q_cls_loglik", "q_cls_generate", "choice_list_generate"]]
mapping["linear probe"] = pd.Series(zs["probe_accuracy"])
mapping["mapping gap"] = mapping["linear probe"] - mapping["q_cls_loglik"]
display(mapping.round(3))
display(pd.DataFrame(zs["icl_mean_by_shots"]).T.round(3).rename_axis("shots from"))
if "spurious_mean" in zs:
    print("spurious-correlation shots (accuracy):", {k: round(v, 3) for k, v in zs["spurious_mean"].items()})
metrics["mapping_gap_mean"] = float(mapping["mapping gap"].mean())

# %% [markdown]
# ## 8. Confusion matrices on the held-out domains (each method's own readout, all folds pooled)

# %%
fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.2), sharey=True)
for ax, m in zip(np.atleast_1d(axes), methods):
    sub = test[test["method"] == m]
    cm = pd.crosstab(pd.Categorical(sub["class_name"], classes), pd.Categorical(sub["answer"], classes),
                     normalize="index", dropna=False)
    sns.heatmap(cm, vmin=0, vmax=1, cmap="Blues", cbar=False, ax=ax, square=True)
    ax.set(title=m, xlabel="predicted", ylabel="true")
fig.tight_layout()

# %% [markdown]
# ## 9. Right and wrong chains on held-out images

# %%
examples = []
chained = test[test["reason_text"].notna()]
for m in [m for m in ("reasoning", "rdmldg") if m in methods]:
    sub = chained[chained["method"] == m]
    examples += sub[sub["reason"] == sub["class_name"]].head(2).to_dict("records")
    examples += sub[sub["reason"] != sub["class_name"]].head(2).to_dict("records")
display(HTML(prediction_cards(examples, root)) if examples else "no chains generated")

# %% [markdown]
# ## Metrics (the front page reads these)

# %%
metrics["lodo"] = {r: lodo[r].to_dict("index") for r in lodo}
metrics["methods"] = methods
metrics["test_images_per_domain"] = {d: int(n) for d, n in correct[correct["trial"] == correct["trial"].min()]
                                     .drop_duplicates(["domain", "image_id"]).groupby("domain").size().items()}
metrics["binomial_se"] = {m: {d: float(binomial.loc[m, ("se", d)]) for d in [*domains, paired.AVG]} for m in methods}
metrics["paired"] = [{**r, "verdict": paired.verdict(r)} for r in diffs.to_dict("records")]
metrics["paired_confidence"] = A.confidence
metrics["trial_seeds"] = n_trials
metrics["dataset"] = info["dataset"]
metrics["domains"] = domains
metrics["chance"] = chance
metrics["readouts"] = {m: readout_of(m) for m in methods}
best = lodo["answer"]["Avg"].drop("zeroshot", errors="ignore")
metrics["headline"] = {"best_method": best.idxmax(), "best_avg": float(best.max()),
                       "best_methods": best[best == best.max()].index.tolist(),  # more than one: a tie
                       "zeroshot_avg": float(lodo["answer"].loc["zeroshot", "Avg"])}

# %% [markdown]
# ## Is the instrument working?
# A run answers the question only if it can: the base must know the classes yet
# suffer the shift, fine-tuning must move it, SARR must have chains to keep, and the test sets
# must resolve a few points. Each target, as this run measured it (blank: not in this run).

# %%
avg = lodo["answer"]["Avg"]
label_runs = json.loads((metrics_dir / "train-label.json").read_text()) if "label" in methods else None
first_round = metrics.get("sarr_rejection_by_round", {}).get("rdmldg_round1")
measured = {
    "zeroshot_avg": avg.get("zeroshot"),
    "label_source_val": 100 * label_runs["mean_val_accuracy"] if label_runs else None,
    "label_lift": avg["label"] - avg["zeroshot"] if {"label", "zeroshot"} <= set(avg.index) else None,
    "label_class_tokens_high": 100 * metrics["challenge1"]["label"]["q_cls_high"] if label_runs else None,
    "sarr_acceptance_after_mtct": None if first_round is None else 100 * (1 - first_round),
    "avg_binomial_se_max": max(metrics["binomial_se"][m]["Avg"] for m in methods),
}
metrics["instrument"] = instrument.checks(measured)
display(pd.DataFrame(metrics["instrument"]).set_index("key").round(2))
print(S.write_metrics(metrics).relative_to(S.root))
# the headline alone, for `dvc exp show` / `dvc metrics show` (analysis.json has hundreds of columns)
print(S.write_metrics(paired.compact_headline(avg.to_dict(), metrics["paired"]), "headline").relative_to(S.root))
