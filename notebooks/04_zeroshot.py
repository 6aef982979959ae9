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
# # Stage 4 — zero-shot: the base model out of distribution, before fine-tuning
#
# **Question.** How does the base MLLM fare on each domain without fine-tuning; do in-context
# examples help, and how fragile is that help; and is a failure one of *seeing* or of
# *mapping* what it sees to the class name? (docs/science.md §1B.)
#
# * Zero-shot: the "Choice list" prompt (generated, `Answer Choice:` parsed) and `q_cls`
#   (scored by class log-likelihood in one forward pass, and generated + parsed).
# * In-context learning: 0/2/4/8 class-balanced shots with alternating labels, drawn from the
#   source domains or from the target domain; a label-shift variant (8 shots, share of the
#   query's class varied); a spurious-correlation variant (in the shots a nuisance always
#   takes its class's value; in the queries it agrees, or it is flipped to another class's).
# * Mapping deficiency: a linear probe (logistic regression, C = 0.316) on frozen
#   vision-tower features, per domain, beside the model's own zero-shot accuracy.

# %% tags=["parameters"]
params_dir = "params"

# %%
import seaborn as sns
from IPython.display import display

from rdmldg import stage
from rdmldg.analysis import zeroshot as zs
from rdmldg.data import split_column
from rdmldg.models.base import load_base

session = stage.begin("zeroshot", params_dir)
eval_params = session.params.eval
manifest, info, root, _ = session.prepared(with_chains=False)
classes, split_col = info["classes"], split_column(session.params.data.trial_seeds[0])
images = zs.Images(root)
model, processor = load_base(session.root, session.params.model)
display(session.provenance_table())
print(f"chance = {1 / len(classes):.3f}")

# %% [markdown]
# ## Zero-shot accuracy per domain

# %%
zero = zs.zero_shot(model, processor, manifest, images, classes, eval_params, split_col)
display(zero.round(3))
ax = zero[["q_cls_loglik", "q_cls_generate", "choice_list_generate"]].plot.bar(rot=0, figsize=(8, 3.4))
ax.axhline(1 / len(classes), ls="--", c="grey", lw=1)
ax.set(title="zero-shot accuracy (dashed: chance)", ylabel="accuracy", ylim=(0, 1));

# %% [markdown]
# ## Mapping deficiency: what the vision tower knows vs what the model says

# %%
probe = zs.mapping_probe(model, processor, manifest, images, split_col, eval_params.zeroshot.probe_C)
mapping = probe.join(zero[["q_cls_loglik"]]).rename(columns={"q_cls_loglik": "mllm_zero_shot"})
mapping["gap"] = mapping["probe_accuracy"] - mapping["mllm_zero_shot"]
display(mapping.round(3))
ax = mapping[["probe_accuracy", "mllm_zero_shot"]].plot.bar(rot=0, figsize=(8, 3.4))
ax.set(title="linear probe on frozen vision features vs the MLLM's zero-shot answer", ylabel="accuracy", ylim=(0, 1));

# %% [markdown]
# ## In-context learning: shots from the source domains vs from the target domain

# %%
icl = zs.in_context(model, processor, manifest, images, classes, eval_params, split_col)
display(icl.pivot_table(index=["domain", "shots_from"], columns="shots", values="accuracy").round(3))
g = sns.relplot(data=icl, x="shots", y="accuracy", hue="shots_from", col="domain", kind="line", marker="o",
                height=2.8, aspect=0.9)
g.set(ylim=(0, 1));

# %% [markdown]
# ## Label shift: 8 source shots, share of the query's own class varied

# %%
shift = zs.label_shift(model, processor, manifest, images, classes, eval_params, split_col)
display(shift.pivot_table(index="domain", columns="share_of_query_class", values="accuracy").round(3))
ax = sns.lineplot(data=shift, x="share_of_query_class", y="accuracy", hue="domain", marker="o")
ax.set(ylim=(0, 1), title="label shift in the shots");

# %% [markdown]
# ## Spurious correlation in the shots

# %%
spurious = None
if session.params.data.source == "synthetic":
    from rdmldg.data.world import class_value

    spurious = zs.spurious_shots(model, processor, manifest, images, classes, eval_params, split_col,
                                 session.params.data.synthetic.spurious_attribute, class_value)
    display(spurious.pivot_table(index="domain", columns="queries", values="accuracy").round(3))
else:
    print("the spurious variant needs the synthetic world's attributes")

# %% [markdown]
# ## Metrics

# %%
metrics = {
    "zero_shot": zero.drop(columns="n").to_dict("index"),
    "probe_accuracy": probe["probe_accuracy"].to_dict(),
    "mean_q_cls_loglik": float(zero["q_cls_loglik"].mean()),
    "mean_choice_list_generate": float(zero["choice_list_generate"].mean()),
    "best_domain_vs_chance": float(zero["q_cls_loglik"].max() * len(classes)),
    "icl_mean_by_shots": icl.groupby(["shots_from", "shots"])["accuracy"].mean().unstack().to_dict("index"),
    "label_shift_mean": shift.groupby("share_of_query_class")["accuracy"].mean().to_dict(),
}
if spurious is not None and len(spurious):
    metrics["spurious_mean"] = spurious.groupby("queries")["accuracy"].mean().to_dict()
print(session.write_metrics(metrics).relative_to(session.root))
