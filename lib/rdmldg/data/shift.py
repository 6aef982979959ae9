"""'Is the shift real?': a pixel/colour-histogram classifier per leave-one-domain-out fold.

Trained on the source domains' `in` splits; accuracy on the sources' `out` splits (in
domain) against the held-out domain's `in` split (DomainBed's test split). A large drop says
the domains differ in ways a shallow classifier cannot bridge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rdmldg.data.images import load_image


def image_features(paths: list[Path], bins: int, thumb: int) -> np.ndarray:
    feats = []
    for path in paths:
        img = load_image(path)
        arr = np.asarray(img)
        hist = [np.histogram(arr[..., c], bins=bins, range=(0, 256))[0] for c in range(3)]
        hist = np.concatenate(hist).astype(np.float64) / arr[..., 0].size
        grey = np.asarray(img.convert("L").resize((thumb, thumb)), np.float64).ravel() / 255
        feats.append(np.concatenate([hist, grey]))
    return np.stack(feats)


def shift_check(manifest: pd.DataFrame, root: Path, heldout: list[str], split_col: str,
                bins: int = 8, thumb: int = 8, C: float = 1.0) -> pd.DataFrame:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = image_features([root / p for p in manifest["path"]], bins, thumb)
    y = manifest["label"].to_numpy()
    is_in = (manifest[split_col] == "in").to_numpy()
    rows = []
    for target in heldout:
        tgt = (manifest["domain"] == target).to_numpy()
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
        model.fit(X[~tgt & is_in], y[~tgt & is_in])
        in_acc = model.score(X[~tgt & ~is_in], y[~tgt & ~is_in])
        out_acc = model.score(X[tgt & is_in], y[tgt & is_in])
        rows.append({"heldout": target, "in_domain_acc": in_acc, "heldout_acc": out_acc,
                     "drop": in_acc - out_acc, "chance": 1 / manifest["label"].nunique()})
    return pd.DataFrame(rows).set_index("heldout")
