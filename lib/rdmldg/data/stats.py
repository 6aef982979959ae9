"""Descriptive statistics of a prepared dataset, as tables the prepare report shows."""

from __future__ import annotations

import numpy as np
import pandas as pd


def counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Images per domain (rows, environment order) × class (columns)."""
    table = pd.crosstab(manifest["domain"], manifest["class_name"])
    order = manifest.drop_duplicates("domain").sort_values("env")["domain"]
    return table.loc[order]


def split_sizes(manifest: pd.DataFrame, split_col: str) -> pd.DataFrame:
    table = pd.crosstab(manifest["domain"], manifest[split_col])
    return table.reindex(columns=["in", "out"], fill_value=0)


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Association of two categorical variables in [0, 1] (0: independent)."""
    table = pd.crosstab(a, b).to_numpy(dtype=np.float64)
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return 0.0
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum())
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def spurious_strength(manifest: pd.DataFrame, attribute: str, class_value) -> pd.DataFrame:
    """Per domain: how often the attribute takes the class's own value, against chance, and
    Cramér's V between attribute and class."""
    col = f"attr_{attribute}"
    values = manifest[col].nunique()
    rows = []
    for domain, part in manifest.groupby("domain", sort=False):
        own = part["class_name"].map(lambda c: class_value(attribute, c))
        rows.append({"domain": domain, "agreement": float((part[col] == own).mean()),
                     "chance": 1 / values, "cramers_v": cramers_v(part[col], part["class_name"])})
    return pd.DataFrame(rows).set_index("domain")
