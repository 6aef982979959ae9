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
# # Stage 2 — chains: DomainBed-Reasoning
#
# **Question.** What reasoning chains will supervise the reasoning pathway, how often does
# the teacher get them wrong, and do the chains put nuisances and evidence where they
# belong?
#
# Every source-domain training image gets a five-stage chain
# (`<SUMMARY> <CAPTION> <REASONING> <REFLECTION> <CONCLUSION>`, docs/science.md §1A). The teacher
# sees the image and the options, never the label; up to K candidates are sampled and the
# first that parses and concludes the true class is kept. Answers are cached, so an
# interrupted or repeated run asks the teacher nothing twice.

# %% tags=["parameters"]
params_dir = "params"

# %%
from IPython.display import HTML, display

from rdmldg import chain_dataset, plots, stage
from rdmldg.chains import q_reason
from rdmldg.data import chain_records

session = stage.begin("chains", params_dir)
chain_params = session.params.chains
out_dir = session.root / "data" / "chains"
display(session.provenance_table())
print(f"teacher: {chain_params.teacher}; K = {chain_params.candidates} candidates per image; "
      f"splits: {chain_params.splits}")

# %% [markdown]
# ## The prompt the teacher answers (the reasoning prompt `q_reason`)

# %%
manifest, info, root, _ = session.prepared(with_chains=False)
print(q_reason(info["classes"]))

# %% [markdown]
# ## Generate (or resume from the cache)

# %%
run = chain_dataset.build(session.params, session.root, out_dir)
print(f"{len(run.accepted)} images with a chain, {len(run.failed)} without; "
      f"{run.requested} answers used, {run.from_cache} from the cache, {run.teacher_calls} new teacher calls")

# %% [markdown]
# ## Examples, one per domain

# %%
accepted, failed = chain_records.read(out_dir)
display(HTML(plots.chain_cards(chain_dataset.first_per_domain(accepted), root)))

# %% [markdown]
# ## Rejections: rate and reasons per domain
# The rejection rate is the share of sampled candidates the filter turned down; `no_chain`
# counts images for which none of the K candidates passed (they get no reasoning target).

# %%
rejections = chain_dataset.rejection_table(accepted, failed)
display(rejections)
reasons = chain_dataset.reason_table(accepted, failed)
display(reasons)
if not reasons.empty:
    plots.stacked_bars(reasons, "rejected candidates by reason", "candidates");

# %% [markdown]
# ## Coverage: share of images with a chain, per domain × class

# %%
cov = chain_dataset.coverage(accepted, failed)
display(cov.round(3))

# %% [markdown]
# ## Length of each section (words)

# %%
import matplotlib.pyplot as plt
import seaborn as sns

lengths = chain_dataset.section_lengths(accepted)
display(lengths.groupby("section", sort=False)["words"].describe().round(1))
fig, ax = plt.subplots(figsize=(7, 3.2))
sns.boxplot(data=lengths, x="section", y="words", ax=ax)
ax.set(title="words per section", xlabel="");

# %% [markdown]
# ## Where do nuisances go?
# A chain in the intended style names the image's colour and drawing style in its CAPTION and
# keeps its REASONING to class evidence. Shares per domain (for generated data, whose
# nuisances are known):

# %%
nuisance = None
if session.params.data.source in ("synthetic", "digits"):
    from rdmldg.data import digits, world

    vocab = world if session.params.data.source == "synthetic" else digits
    nuisance = chain_dataset.nuisance_check(accepted, manifest, vocab.nuisance_words(), vocab.STYLE_WORDS)
    display(nuisance.round(3))
else:
    print("real data: nuisances unknown, check skipped")

# %% [markdown]
# ## Metrics

# %%
all_row = rejections.loc["all"]
metrics = {
    "images": len(accepted) + len(failed), "with_chain": len(accepted), "without_chain": len(failed),
    "rejection_rate": float(all_row["rejection_rate"]),
    "rejection_rate_per_domain": rejections.drop(index="all")["rejection_rate"].to_dict(),
    "rejections_by_reason": reasons.sum().to_dict() if not reasons.empty else {},
    "mean_words": float(lengths.groupby("section")["words"].mean().sum()),
}
if nuisance is not None:
    metrics["reasoning_names_a_nuisance"] = float(nuisance["reasoning_names_a_nuisance"].mean())
    metrics["caption_names_style"] = float(nuisance["caption_names_style"].mean())
print(session.write_metrics(metrics).relative_to(session.root))
session.write_run_info({"teacher_calls": run.teacher_calls, "answers_from_cache": run.from_cache})
