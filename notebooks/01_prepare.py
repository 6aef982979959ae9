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
# # Stage 1 — prepare: the DomainBed-shaped benchmark
#
# **Question.** What exactly will the models be trained and tested on — which domains and
# classes, how many images, which split, which nuisances — and is the shift between
# domains real?
#
# The data comes from one of three sources (`data.source`), all read by the same
# DomainBed-layout reader: the synthetic world (default), scikit-learn's digits, or real
# DomainBed folders. Splits follow DomainBed exactly (docs/science.md §2).

# %% tags=["parameters"]
params_dir = "params"

# %%
import pandas as pd
from IPython.display import display

from rdmldg import plots, stage
from rdmldg.data import image_root, split_column
from rdmldg.data.prepare import prepare
from rdmldg.data.shift import shift_check
from rdmldg.data.stats import counts, split_sizes, spurious_strength
from rdmldg.data.world import ATTRIBUTES, class_value

session = stage.begin("prepare", params_dir)
data_params = session.params.data
display(session.provenance_table())

# %% [markdown]
# ## Read (or generate) the dataset and check every image

# %%
out_dir = session.root / "data" / "prepared"
manifest, info, index = prepare(data_params, out_dir, session.root)
root = image_root(info, session.root)
print(f"{info['dataset']}: {info['n_images']} images, {len(info['domains'])} domains, "
      f"{len(info['classes'])} classes; manifest at {out_dir.relative_to(session.root)}/manifest.csv")

# %% [markdown]
# ## Images per domain × class

# %%
table = counts(manifest)
display(table)
plots.count_heatmap(table, "images per domain × class");

# %% [markdown]
# ## One sample per domain × class

# %%
plots.sample_grid(manifest, root, per_cell=2);

# %% [markdown]
# ## Splits (DomainBed protocol: `out` = first ⌊0.2·N⌋ of the seeded shuffle, per environment)

# %%
display(pd.concat({seed: split_sizes(manifest, split_column(seed)) for seed in data_params.trial_seeds},
                  axis=1, names=["trial seed", "split"]))

# %% [markdown]
# ## What the reader left out or converted
# Junk files are ignored; non-RGB or unusually named images are converted on load; corrupt
# images stop the stage unless `data.on_bad_image: skip`, in which case they are listed here.

# %%
print(f"ignored files: {len(info['ignored_files'])}", *info["ignored_files"][:20], sep="\n  ")
print(f"converted on load (by original mode): {info['converted'] or 'none'}")
print(f"skipped unreadable images: {len(info['bad_images'])}")
if info["bad_images"]:
    display(index.bad)

# %% [markdown]
# ## Nuisance attributes and the spurious correlation
# Each generated image keeps its generating attributes. In the synthetic world's
# `spurious_domains`, the spurious attribute takes the class's own value with probability
# `spurious_strength`; *agreement* is how often it does, against chance, and Cramér's V
# measures the attribute–class association per domain.

# %%
attr_cols = [a for a in ATTRIBUTES if f"attr_{a}" in manifest] or \
    [c.removeprefix("attr_") for c in manifest.columns if c.startswith("attr_")]
spurious = None
if attr_cols:
    plots.attribute_distributions(manifest, [a for a in ("colour", "background", "texture", "scale", "rotation")
                                             if a in attr_cols] or attr_cols[:4])
if data_params.source == "synthetic":
    spurious = spurious_strength(manifest, data_params.synthetic.spurious_attribute, class_value)
    spurious["in_spurious_domains"] = spurious.index.isin(data_params.synthetic.spurious_domains)
    display(spurious)
    plots.grouped_bars(spurious, ["agreement", "cramers_v"],
                       f"spurious attribute '{data_params.synthetic.spurious_attribute}' vs class", "value")
else:
    print("no spurious-correlation knob for this source")

# %% [markdown]
# ## Is the shift real?
# A shallow classifier on colour histograms and a grey thumbnail, trained per fold on the
# source domains' `in` splits: accuracy in domain (sources' `out` splits) against the held-out
# domain's `in` split.

# %%
shift = None
if data_params.shift_check.enabled:
    c = data_params.shift_check
    shift = shift_check(manifest, root, session.params.heldout_domains(), split_column(data_params.trial_seeds[0]),
                        c.histogram_bins, c.thumbnail, c.C)
    display(shift)
    plots.grouped_bars(shift, ["in_domain_acc", "heldout_acc"], "histogram classifier per fold",
                       "accuracy", chance=float(shift["chance"].iloc[0]))

# %% [markdown]
# ## Metrics

# %%
metrics = {
    "n_images": info["n_images"], "n_domains": len(info["domains"]), "n_classes": len(info["classes"]),
    "n_ignored_files": len(info["ignored_files"]), "n_bad_images": len(info["bad_images"]),
    "images_per_domain": table.sum(axis=1).to_dict(),
}
if shift is not None:
    metrics["shift_check"] = shift[["in_domain_acc", "heldout_acc", "drop"]].to_dict("index")
    metrics["shift_check_mean_drop"] = float(shift["drop"].mean())
if spurious is not None:
    metrics["spurious_agreement"] = spurious["agreement"].to_dict()
print(session.write_metrics(metrics).relative_to(session.root))
