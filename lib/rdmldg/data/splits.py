"""DomainBed's split protocol, exactly (docs/science.md §2)."""

from __future__ import annotations

import numpy as np

from rdmldg.seeding import seed_hash


def split_indices(
    n: int, trial_seed: int, env_index: int, holdout_fraction: float = 0.2
) -> tuple[list[int], list[int]]:
    """(out_indices, in_indices) of one environment of n images (files in sorted order).

    The first int(holdout_fraction * n) indices of the shuffle are the `out` (validation)
    split. The split depends only on (trial_seed, env_index), never on the held-out domain.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= holdout_fraction <= 1:
        raise ValueError(f"holdout_fraction must lie in [0, 1], got {holdout_fraction}")
    keys = list(range(n))
    np.random.RandomState(seed_hash(trial_seed, env_index)).shuffle(keys)
    n_out = int(n * holdout_fraction)
    return keys[:n_out], keys[n_out:]
