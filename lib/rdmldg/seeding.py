"""Seeds: one root seed per study, one derived seed per purpose."""

from __future__ import annotations

import random
import sys

import numpy as np

from rdmldg.data.splits import seed_hash


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
