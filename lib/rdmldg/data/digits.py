"""scikit-learn's bundled handwritten digits as DomainBed-style domains.

`rotated` follows RotatedMNIST (each domain a disjoint share of the digits, rotated by its
angle); `colored` follows ColoredMNIST in spirit but keeps all ten classes: in a domain of
correlation c a digit is drawn in its class's colour with probability c, else in another
colour, so colour predicts the class strongly in some domains and not in others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rdmldg.params import DigitsParams

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_COLOUR_NAMES = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown", "silver")
STYLE_WORDS: dict[str, list[str]] = {}


def nuisance_words() -> dict[str, list[str]]:
    return {"colour": list(DIGIT_COLOUR_NAMES), "rotation": ["rotated", "tilted", "degrees"]}


DIGIT_COLOURS = (
    (230, 60, 60), (240, 150, 40), (230, 220, 60), (80, 200, 80), (40, 190, 190),
    (60, 110, 230), (150, 80, 220), (230, 100, 190), (160, 110, 60), (200, 200, 200),
)


def _upscale(digit: np.ndarray, size: int, rotation: float) -> Image.Image:
    grey = Image.fromarray(np.round(digit * 255 / 16).astype(np.uint8), "L")
    return grey.resize((size, size), Image.BILINEAR).rotate(rotation, resample=Image.BILINEAR)


def write_digits(p: DigitsParams, dataset_dir: Path) -> pd.DataFrame:
    """Write the domains into `dataset_dir`; return per-image attributes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    order = np.random.RandomState(p.seed).permutation(len(bunch.target))
    settings = p.rotations if p.variant == "rotated" else p.colour_correlations
    names = [f"rot_{r:03d}" for r in p.rotations] if p.variant == "rotated" else \
        [f"colour_{round(c * 100):03d}" for c in p.colour_correlations]
    rows = []
    for k, (name, setting, share) in enumerate(zip(names, settings, np.array_split(order, len(settings)), strict=True)):
        rng = np.random.RandomState(p.seed * 1000 + k)
        for _n, idx in enumerate(share):
            label = int(bunch.target[idx])
            img = _upscale(bunch.images[idx], p.image_size, setting if p.variant == "rotated" else 0)
            attrs = {"rotation": setting if p.variant == "rotated" else 0}
            if p.variant == "colored":
                own = rng.random_sample() < setting
                colour = label if own else int(rng.choice([c for c in range(10) if c != label]))
                ink = np.asarray(img, np.float64)[..., None] / 255 * np.asarray(DIGIT_COLOURS[colour])
                img = Image.fromarray(np.round(ink).astype(np.uint8), "RGB")
                attrs["colour"] = DIGIT_COLOUR_NAMES[colour]
            rel = Path(name) / CLASS_NAMES[label] / f"digit_{idx:04d}.png"
            (dataset_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            img.save(dataset_dir / rel, format="PNG")
            rows.append({"path": rel.as_posix(), **attrs})
    return pd.DataFrame(rows)
