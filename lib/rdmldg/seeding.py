"""Seeds: one root seed per study, one derived seed per purpose."""

from __future__ import annotations

import hashlib
import random
import sys

import numpy as np


def seed_hash(*args) -> int:
    """DomainBed's seed derivation: md5 of the args tuple's repr, modulo 2**31.

    `seed_hash(0, 1)` hashes the string "(0, 1)"; a single argument hashes "(x,)".
    """
    return int(hashlib.md5(str(args).encode("utf-8")).hexdigest(), 16) % (2**31)


def derive_seed(root_seed: int, *purpose) -> int:
    """A seed for one purpose (e.g. `derive_seed(0, "chains", "photo")`), DomainBed-style."""
    return seed_hash(root_seed, *purpose)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and, when it is already imported, torch (import torch first)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)


def seeded_sample(rows, n: int, seed: int, *purpose):
    """`min(n, len(rows))` rows of a DataFrame drawn with `derive_seed(seed, *purpose)`, in the
    order drawn (a permutation of all of them when n ≥ len(rows))."""
    return rows.sample(min(n, len(rows)), random_state=derive_seed(seed, *purpose) % 2**32)


def sample_per_domain(rows, n: int, seed: int, *purpose, keep_order: bool = False):
    """`seeded_sample` of each domain's rows (purpose + the domain), domains in sorted order;
    with `keep_order`, each domain's rows stay in their original order."""
    import pandas as pd

    parts = [seeded_sample(g, n, seed, *purpose, d) for d, g in rows.groupby("domain")]
    return pd.concat([g.sort_index() for g in parts] if keep_order else parts)
