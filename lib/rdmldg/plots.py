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
    for ax, attr in zip(axes[0], attributes):
        col = f"attr_{attr}"
        if pd.api.types.is_numeric_dtype(manifest[col]):
            sns.violinplot(data=manifest, x="domain", y=col, ax=ax, cut=0, inner="quartile")
        else:
            sns.countplot(data=manifest, y=col, hue="domain", ax=ax, order=sorted(manifest[col].unique()))
            ax.legend(fontsize=7)
        ax.set(title=attr, xlabel="", ylabel="")
    fig.tight_layout()
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


def prediction_cards(rows: list[dict], image_root: Path, px: int = 96) -> str:
    """Cards: each image beside the model's generated chain and whether it concluded right."""
    return "".join(_card(
        image_root / r["path"], px,
        f"{html.escape(r['method'])} · held-out {html.escape(r['domain'])} · true <b>{html.escape(r['class_name'])}</b>"
        f" · concluded <b>{html.escape(str(r['reason']))}</b> ({'right' if r['reason'] == r['class_name'] else 'wrong'})",
        f"<div style='white-space:pre-wrap;font-family:monospace'>{html.escape(r['reason_text'])}</div>") for r in rows)
