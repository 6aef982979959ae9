"""Domain invariance of chains vs images (docs/science.md §1A): how far apart the domains lie in the
base model's own embedding of the chain text and of the image.

Text: the decoder's last hidden state, mean-pooled over the chain's tokens (text alone, no
image). Image: the vision tower's last hidden state, mean-pooled over patches. Both are
L2-normalised; MMD² between two domains uses a Gaussian kernel whose bandwidth is the median
pairwise distance of the pooled sample (each space gets its own scale, so the two numbers
are comparable as "distance between domains relative to spread within them").
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rdmldg.analysis.probe import vision_features
from rdmldg.chains import parse_chain
from rdmldg.data.images import load_image
from rdmldg.models.pretrain import vision_tower
from rdmldg.seeding import sample_per_domain


@torch.inference_mode()
def text_features(model, processor, texts: list[str], batch_size: int = 16) -> np.ndarray:
    decoder = model.get_decoder()
    tok = processor.tokenizer
    device = next(model.parameters()).device
    feats = []
    for i in range(0, len(texts), batch_size):
        enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True).to(device)
        hidden = decoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state.float()
        mask = enc["attention_mask"][..., None].float()
        feats.append(((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy())
    return np.concatenate(feats)


def image_features(model, processor, images) -> np.ndarray:
    return vision_features(vision_tower(model), processor, images)


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Biased MMD² estimate with a Gaussian kernel exp(-d² / (2 σ²))."""
    def k(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
        return np.exp(-np.clip(d2, 0, None) / (2 * bandwidth ** 2))
    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def median_distance(x: np.ndarray) -> float:
    d2 = (x * x).sum(1)[:, None] + (x * x).sum(1)[None] - 2 * x @ x.T
    d = np.sqrt(np.clip(d2[np.triu_indices(len(x), 1)], 0, None))
    return float(np.median(d)) or 1.0


def pairwise_mmd(features: np.ndarray, domains: list[str]) -> pd.DataFrame:
    """MMD² for every pair of domains, in one space."""
    x = _normalise(features)
    sigma = median_distance(x)
    dom = np.asarray(domains)
    rows = [{"domain_a": a, "domain_b": b, "mmd2": mmd2(x[dom == a], x[dom == b], sigma)}
            for a, b in combinations(sorted(set(domains)), 2)]
    return pd.DataFrame(rows)


SPACES = ("chain text", "chain text (reasoning + conclusion)", "image")


def domain_mmd(model, processor, manifest: pd.DataFrame, chains: dict[str, str], image_root: Path, split_col: str,
               per_domain: int, seed: int) -> pd.DataFrame:
    """MMD² between every pair of domains in each of `SPACES`, on a seeded sample of each
    domain's `in` images that have a teacher chain (rows indexed by space, then domain pair)."""
    pool = manifest[(manifest[split_col] == "in") & manifest["image_id"].isin(chains)]
    pool = sample_per_domain(pool, per_domain, seed, "mmd")
    texts = [chains[i] for i in pool["image_id"]]
    reasoning_only = [f"{c.reasoning} {c.conclusion}" if c else t for c, t in zip(map(parse_chain, texts), texts,
                                                                                   strict=True)]
    features = dict(zip(SPACES, (text_features(model, processor, texts),
                                 text_features(model, processor, reasoning_only),
                                 image_features(model, processor, [load_image(image_root / p) for p in pool["path"]])),
                        strict=True))
    return pd.concat({k: pairwise_mmd(v, list(pool["domain"])) for k, v in features.items()}, names=["space"])
