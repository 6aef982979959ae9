"""In-context learning probes (docs/science.md §1B): shots from the source domains or from the
target domain, a label-shift variant and a spurious-correlation variant.

Shots are class-balanced (distinct classes, drawn uniformly) and ordered so that no two
neighbouring shots share a label. Every draw comes from a generator seeded by purpose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rdmldg.chains import fewshot_prompt
from rdmldg.models.sequences import Example


def _alternate(labels: list[str], rng: np.random.Generator) -> list[int]:
    """An order of `labels` with no two equal neighbours where one exists (greedy, seeded)."""
    remaining = list(rng.permutation(len(labels)))
    order: list[int] = []
    while remaining:
        pick = next((i for i in remaining if not order or labels[i] != labels[order[-1]]), remaining[0])
        remaining.remove(pick)
        order.append(pick)
    return order


def balanced_shots(pool: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """k shots of distinct classes (cycling through classes when k exceeds their number)."""
    if k == 0:
        return pool.iloc[0:0]
    classes = sorted(pool["class_name"].unique())
    picks = [classes[i] for i in rng.permutation(len(classes))]
    wanted = [picks[i % len(picks)] for i in range(k)]
    rows = [pool[pool["class_name"] == c].iloc[int(rng.integers((pool["class_name"] == c).sum()))] for c in wanted]
    shots = pd.DataFrame(rows)
    return shots.iloc[_alternate(shots["class_name"].tolist(), rng)]


def ratio_shots(pool: pd.DataFrame, k: int, query_class: str, share: float, rng: np.random.Generator) -> pd.DataFrame:
    """Label shift: round(share·k) shots of the query's class, the rest of other classes."""
    n_same = int(round(share * k))
    same = pool[pool["class_name"] == query_class]
    other = pool[pool["class_name"] != query_class]
    rows = [same.iloc[int(rng.integers(len(same)))] for _ in range(n_same)]
    rows += [r for _, r in balanced_shots(other, k - n_same, rng).iterrows()]
    shots = pd.DataFrame(rows) if rows else pool.iloc[0:0]
    return shots.iloc[_alternate(shots["class_name"].tolist(), rng)]


def icl_example(shots: pd.DataFrame, query: pd.Series, classes: list[str], load) -> Example:
    """The few-shot prompt for one query; `load(path)` gives an image."""
    images = [load(p) for p in shots["path"]] + [load(query["path"])]
    return Example(images, fewshot_prompt(list(shots["class_name"]), classes), meta={"label": query["class_name"]})
