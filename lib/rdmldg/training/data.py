"""Training items for one fold, behind the leakage guard.

The held-out domain's images must never reach training, validation, SARR generation or the
"source" in-context examples. Every path that hands images to one of those calls
`guard(...)`, which raises rather than trusts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from rdmldg.data.images import load_image
from rdmldg.training.pathways import TrainItem


class LeakageError(AssertionError):
    """Images of the held-out domain reached a place only source domains may reach."""


def guard(domains: Iterable[str], heldout: str, where: str) -> None:
    found = sorted(set(domains))
    if heldout in found:
        raise LeakageError(f"{where}: images of the held-out domain '{heldout}' are present (domains {found}); "
                           "only source domains may reach training, validation, SARR and source ICL examples")


def source_rows(manifest: pd.DataFrame, heldout: str, split_col: str, split: str, where: str) -> pd.DataFrame:
    """The source domains' rows of one split (`in`: training, `out`: validation)."""
    rows = manifest[(manifest["domain"] != heldout) & (manifest[split_col] == split)]
    guard(rows["domain"], heldout, where)
    return rows


def items(rows: pd.DataFrame, root: Path, chains: dict[str, str], heldout: str, where: str) -> list[TrainItem]:
    """TrainItems with images loaded and each image's chain (None when it has none)."""
    guard(rows["domain"], heldout, where)
    return [TrainItem(r.image_id, load_image(root / r.path), r.class_name, chains.get(r.image_id), r.domain)
            for r in rows.itertuples()]
