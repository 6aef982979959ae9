"""Figures for the reports (seaborn on matplotlib; inline in the executed notebooks)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from rdmldg.data.images import load_image

sns.set_theme(context="notebook", style="whitegrid")


def count_heatmap(table: pd.DataFrame, title: str):
    fig, ax = plt.subplots(figsize=(1 + 0.7 * table.shape[1], 1 + 0.5 * table.shape[0]))
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set(title=title, xlabel="class", ylabel="domain")
    return fig


def sample_grid(manifest: pd.DataFrame, root: Path, per_cell: int = 1, cell_px: int = 96):
    """One row per domain, one column per class; the first `per_cell` images of each pair."""
    domains = manifest.drop_duplicates("domain").sort_values("env")["domain"].tolist()
    classes = sorted(manifest["class_name"].unique())
    fig, axes = plt.subplots(len(domains), len(classes) * per_cell, squeeze=False,
                             figsize=(1.2 * len(classes) * per_cell, 1.25 * len(domains)))
    for r, d in enumerate(domains):
        for c, k in enumerate(classes):
            paths = manifest.loc[(manifest.domain == d) & (manifest.class_name == k), "path"].head(per_cell)
            for j in range(per_cell):
                ax = axes[r, c * per_cell + j]
                ax.set_xticks([]), ax.set_yticks([])
                if j < len(paths):
                    ax.imshow(load_image(root / paths.iloc[j]).resize((cell_px, cell_px)))
                if r == 0 and j == 0:
                    ax.set_title(k, fontsize=9)
            axes[r, 0].set_ylabel(d, fontsize=9)
    fig.tight_layout()
    return fig


def attribute_distributions(manifest: pd.DataFrame, attributes: list[str]):
    """Per attribute, its distribution in each domain (counts for categories, violins for numbers)."""
    fig, axes = plt.subplots(1, len(attributes), figsize=(3.6 * len(attributes), 3.2), squeeze=False)
    for ax, attr in zip(axes[0], attributes, strict=False):
        col = f"attr_{attr}"
        if pd.api.types.is_numeric_dtype(manifest[col]):
            sns.violinplot(data=manifest, x="domain", y=col, ax=ax, cut=0, inner="quartile")
        else:
            sns.countplot(data=manifest, y=col, hue="domain", ax=ax, order=sorted(manifest[col].unique()))
            ax.legend(fontsize=7)
        ax.set(title=attr, xlabel="", ylabel="")
    fig.tight_layout()
    return fig


def image_row(images: list, titles: list[str], height: float = 2.2, title: str = ""):
    """Images side by side, each under its title, without axes."""
    fig, axes = plt.subplots(1, len(images), figsize=(13, height), squeeze=False)
    for ax, image, text in zip(axes[0], images, titles, strict=True):
        ax.imshow(image)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(text, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def grouped_bars(table: pd.DataFrame, columns: list[str], title: str, ylabel: str, chance: float | None = None):
    long = table[columns].reset_index().melt(id_vars=table.index.name or "index", var_name="measure")
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(table), 3.4))
    sns.barplot(data=long, x=table.index.name or "index", y="value", hue="measure", ax=ax)
    if chance is not None:
        ax.axhline(chance, ls="--", c="grey", lw=1, label="chance")
    for container in ax.containers:
        ax.bar_label(container, fmt="%.2f", fontsize=8)
    ax.set(title=title, ylabel=ylabel, ylim=(0, max(1.0, float(np.nanmax(long["value"])) * 1.15)))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def stacked_bars(table: pd.DataFrame, title: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(table), 3.4))
    table.plot(kind="bar", stacked=True, ax=ax, colormap="tab10", rot=0)
    ax.set(title=title, ylabel=ylabel, xlabel="")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _card(image_path: Path, px: int, head: str, body: str) -> str:
    """One HTML card: the image (embedded PNG, offline) beside a header line and a body."""
    buf = io.BytesIO()
    load_image(image_path).resize((px, px)).save(buf, format="PNG")
    src = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f"<div style='display:flex;gap:12px;padding:8px 0;border-bottom:1px solid #ddd'>"
            f"<img src='data:image/png;base64,{src}' width='{px}' height='{px}' alt='{html.escape(image_path.name)}'>"
            f"<div style='font-size:90%'><div style='color:#555'>{head}</div>{body}</div></div>")


def chain_cards(rows: list[dict], image_root: Path, px: int = 112) -> str:
    """Cards: each image beside its teacher chain's five sections."""
    from rdmldg.chains import SECTIONS

    return "".join(_card(
        image_root / r["image_id"], px,
        f"{html.escape(r['domain'])} · true class <b>{html.escape(r['class_name'])}</b> · kept candidate "
        f"{r['candidate'] + 1} (rejected before: {html.escape('; '.join(r['rejections'])) or 'none'})",
        "".join(f"<div><b>{s}</b> {html.escape(r['chain'][s.lower()])}</div>" for s in SECTIONS)) for r in rows)


def right_and_wrong(test: pd.DataFrame, methods: list[str], per_kind: int = 2) -> list[dict]:
    """For each chain-trained method in `methods`, its first `per_kind` right and wrong held-out
    chains (rows of the test predictions), for `prediction_cards`."""
    chained, rows = test[test["reason_text"].notna()], []
    for m in [m for m in ("reasoning", "rdmldg") if m in methods]:
        sub = chained[chained["method"] == m]
        rows += sub[sub["reason"] == sub["class_name"]].head(per_kind).to_dict("records")
        rows += sub[sub["reason"] != sub["class_name"]].head(per_kind).to_dict("records")
    return rows


def prediction_cards(rows: list[dict], image_root: Path, px: int = 96) -> str:
    """Cards: each image beside the model's generated chain and whether it concluded right."""
    return "".join(_card(
        image_root / r["path"], px,
        f"{html.escape(r['method'])} · held-out {html.escape(r['domain'])} · true <b>{html.escape(r['class_name'])}</b>"
        f" · concluded <b>{html.escape(str(r['reason']))}</b> "
        f"({'right' if r['reason'] == r['class_name'] else 'wrong'})",
        f"<div style='white-space:pre-wrap;font-family:monospace'>{html.escape(r['reason_text'])}</div>") for r in rows)


def note(text: str, fontsize: int = 8):
    """A figure that only says why there is nothing to plot (so a stage's declared plot exists)."""
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0, 0.5, text, fontsize=fontsize)
    return fig


def lodo_bars(table: pd.DataFrame, methods: list[str], domains: list[str], chance: float):
    """Held-out accuracy per domain and Avg, one bar per method, ± its standard error."""
    long = table[[*domains, "Avg"]].reset_index().melt(id_vars="algorithm", var_name="held-out domain",
                                                      value_name="accuracy")
    fig, ax = plt.subplots(figsize=(10, 3.6))
    sns.barplot(data=long, x="held-out domain", y="accuracy", hue="algorithm", hue_order=methods, ax=ax)
    for container, m in zip(ax.containers, methods, strict=False):  # one container per method, one bar per column
        for bar, d in zip(container, [*domains, "Avg"], strict=False):
            se = table.loc[m].get(f"{d} se", np.nan)
            if np.isfinite(se) and se > 0:
                ax.errorbar(bar.get_x() + bar.get_width() / 2, bar.get_height(), yerr=se, color="k", lw=1)
    ax.axhline(100 * chance, ls="--", c="grey", lw=1)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 100), title="leave-one-domain-out accuracy (dashed: chance)")
    ax.legend(fontsize=8, ncol=3)
    return fig


def paired_intervals(avg: pd.DataFrame, confidence: float):
    """Each pair's Avg difference with its interval; red where the interval excludes 0."""
    avg = avg.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(avg) + 1.2))
    below, above = avg["difference"] - avg["ci_low"], avg["ci_high"] - avg["difference"]
    ax.errorbar(avg["difference"], range(len(avg)), xerr=[below, above], fmt="none", ecolor="k", capsize=3)
    ax.scatter(avg["difference"], range(len(avg)), c=["tab:red" if x else "tab:grey" for x in avg["significant"]],
               zorder=3)
    ax.axvline(0, c="grey", ls="--", lw=1)
    ax.set_yticks(range(len(avg)), [f"{a} − {b}" for a, b in zip(avg["a"], avg["b"], strict=True)])
    ax.invert_yaxis()
    ax.set(xlabel=f"Avg accuracy difference (points), {100 * confidence:.0f} % paired bootstrap interval",
           title="paired differences on the held-out test images (red: interval excludes 0)")
    return fig


def confusion_matrices(test: pd.DataFrame, methods: list[str], classes: list[str]):
    """Per method, the held-out confusion matrix of its own answers, rows normalised."""
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.2), sharey=True)
    for ax, m in zip(np.atleast_1d(axes), methods, strict=True):
        sub = test[test["method"] == m]
        cm = pd.crosstab(pd.Categorical(sub["class_name"], classes), pd.Categorical(sub["answer"], classes),
                         normalize="index", dropna=False)
        sns.heatmap(cm, vmin=0, vmax=1, cmap="Blues", cbar=False, ax=ax, square=True)
        ax.set(title=m, xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig


def sarr_rounds(rounds: pd.DataFrame):
    """Self-chain rejection per SARR round and validation accuracy per stage, per method."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    # errorbar="se": seaborn's default bootstrap interval is random, and the figure must be reproducible
    sns.lineplot(data=rounds[rounds["stage"] > 0], x="stage", y="sarr_rejection_rate", hue="method", marker="o",
                 errorbar="se", ax=axes[0])
    axes[0].set(ylim=(0, 1), title="self-chain rejection rate", xlabel="SARR round")
    sns.lineplot(data=rounds, x="stage", y="val_accuracy", hue="method", marker="o", errorbar="se", ax=axes[1])
    axes[1].set(ylim=(0, 1), title="validation accuracy by stage", xlabel="stage (0: before SARR)")
    fig.tight_layout()
    return fig


def challenge1_boxes(probes: pd.DataFrame, methods: list[str]):
    """Class-token probabilities per method and prompt (dotted: the 0.75 line)."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    sns.boxplot(data=probes, x="method", y="p", hue="prompt", order=methods, ax=ax, fliersize=1)
    ax.axhline(0.75, ls=":", c="grey", lw=1)
    ax.set(ylabel="p(class token)", ylim=(0, 1), title="Challenge 1: class-token probabilities (dotted: 0.75)")
    return fig


def challenge2_gains(table: pd.DataFrame):
    """Target-token probability gain per SFT target (teacher chains, the model's own)."""
    fig, ax = plt.subplots(figsize=(5, 3))
    table["target_gain_points"].plot.bar(ax=ax, rot=0, color=["#888", "#1a5fb4"])
    ax.set(ylabel="target-token p gain (points)", title="Challenge 2: SFT target")
    return fig


def invariance_bars(mmd_mean: pd.Series, spaces: list[str]):
    """Mean MMD² between domains in each embedding space."""
    fig, ax = plt.subplots(figsize=(6, 3))
    mmd_mean.reindex(spaces).plot.bar(ax=ax, rot=0, color=["#1a5fb4", "#62a0ea", "#c01c28"])
    ax.set(ylabel="mean MMD² between domains", title="domain invariance (lower: more invariant)")
    ax.tick_params(axis="x", labelsize=8)
    return fig


def pretraining_losses(vision_history: list[dict], model_history: list[dict]):
    """The base's two pretraining phases side by side: the tower's cross-entropy per epoch, the
    whole model's token loss per step (log scale)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    pd.DataFrame(vision_history).plot(x="epoch", y="loss", ax=axes[0], legend=False,
                                      title="phase 1: vision tower (cross-entropy)")
    pd.DataFrame(model_history).plot(x="step", y="loss", ax=axes[1], legend=False,
                                     title="phase 2: whole model (token loss)")
    axes[1].set_yscale("log")
    fig.tight_layout()
    return fig


def pathway_losses(curves: pd.DataFrame, title: str):
    """Each pathway's loss per step (label and reasoning, where the method trains it), one panel
    per fold and trial seed, line style by stage (SARR rounds)."""
    cols = [c for c in ("loss_label", "loss_reasoning") if c in curves and curves[c].abs().sum() > 0]
    long = curves.melt(id_vars=["heldout", "trial", "step", "stage"], value_vars=cols, var_name="pathway",
                       value_name="pathway_loss")
    g = sns.relplot(data=long, x="step", y="pathway_loss", hue="pathway", style="stage", col="heldout",
                    row="trial", kind="line", height=2.8, aspect=1.0, facet_kws={"sharey": False})
    g.figure.suptitle(title, y=1.02)
    return g.figure


def heldout_heatmaps(grid: pd.DataFrame, readouts: tuple[str, ...] = ("loglik", "generate", "reason")):
    """Held-out accuracy, method × domain, one heatmap per readout."""
    fig, axes = plt.subplots(1, len(readouts), figsize=(13, 3.2), sharey=True)
    for ax, readout in zip(axes, readouts, strict=True):
        sns.heatmap(grid[readout], annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", cbar=False, ax=ax)
        ax.set(title=f"held-out accuracy, {readout}", xlabel="held-out domain", ylabel="")
    fig.tight_layout()
    return fig
