"""The synthetic world and the digits: determinism, structure, the spurious knob."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rdmldg.data.digits import CLASS_NAMES, DIGIT_COLOUR_NAMES, write_digits
from rdmldg.data.stats import spurious_strength
from rdmldg.data.world import (
    SHAPES,
    STYLES,
    class_value,
    image_rng,
    render,
    sample_attributes,
    shape_masks,
    write_world,
)
from rdmldg.datasets import SYNTHETIC_CLASSES, SYNTHETIC_DOMAINS
from rdmldg.params import DigitsParams, SyntheticParams


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def test_world_is_byte_identical_under_its_seed(tmp_path):
    p = SyntheticParams(images_per_class=2, image_size=24)
    a = write_world(p, tmp_path / "a")
    b = write_world(p, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)
    c = write_world(p.model_copy(update={"seed": 1}), tmp_path / "c")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert not a.equals(c)


def test_dropping_a_class_leaves_other_images_unchanged(tmp_path):
    full = SyntheticParams(images_per_class=2, image_size=24)
    fewer = full.model_copy(update={"classes": [c for c in full.classes if c != "star"]})
    write_world(full, tmp_path / "full")
    write_world(fewer, tmp_path / "fewer")
    kept = _digest(tmp_path / "fewer")
    assert kept and all(_digest(tmp_path / "full")[k] == v for k, v in kept.items())


@pytest.mark.parametrize("cls", sorted(SHAPES))
def test_every_class_draws_a_distinct_visible_shape(cls):
    attrs = {"dx": 0.0, "dy": 0.0, "scale": 0.7, "rotation": 0.0}
    alpha, band = shape_masks(cls, attrs, 48, 1)
    assert 0.05 < alpha.mean() < 0.6 and band.max() > 0.5
    others = [shape_masks(o, attrs, 48, 1)[0] for o in sorted(SHAPES) if o != cls]
    assert min(np.abs(alpha - o).mean() for o in others) > 0.02


def test_styles_differ_for_the_same_attributes():
    p = SyntheticParams()
    attrs = sample_attributes(image_rng(0, "photo", "ball", 0), "photo", "ball", p)
    imgs = {d: render(d, "ball", attrs, 48, np.random.default_rng(0)) for d in p.domains}
    for _d, img in imgs.items():
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    assert imgs["sketch"].std(axis=2).mean() < imgs["cartoon"].std(axis=2).mean()  # sketch: near-grey paper


def test_spurious_knob_sets_agreement_in_chosen_domains_only():
    p = SyntheticParams(spurious_strength=0.8, spurious_domains=["photo"])
    rows = []
    for d in ("photo", "sketch"):
        for c in p.classes:
            for i in range(150):
                a = sample_attributes(image_rng(0, d, c, i), d, c, p)
                rows.append({"domain": d, "class_name": c, "attr_colour": a["colour"]})
    table = spurious_strength(pd.DataFrame(rows), "colour", class_value)
    expected = 0.8 + 0.2 / 8  # forced, or drawn at random and landing on it anyway
    assert table.loc["photo", "agreement"] == pytest.approx(expected, abs=0.04)
    assert table.loc["sketch", "agreement"] == pytest.approx(1 / 8, abs=0.04)
    assert table.loc["photo", "cramers_v"] > 0.6 > 0.2 > table.loc["sketch", "cramers_v"]


def test_rotated_digits(tmp_path):
    attrs = write_digits(DigitsParams(rotations=[0, 45, 90]), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rot_000", "rot_045", "rot_090"]
    for dom in tmp_path.iterdir():
        assert sorted(c.name for c in dom.iterdir()) == sorted(CLASS_NAMES)
    assert len(attrs) == 1797 and set(attrs["rotation"]) == {0, 45, 90}


def test_colored_digits_follow_their_correlation(tmp_path):
    attrs = write_digits(DigitsParams(variant="colored", colour_correlations=[0.9, 0.1]), tmp_path)
    attrs["domain"] = attrs["path"].str.split("/").str[0]
    attrs["class_name"] = attrs["path"].str.split("/").str[1]
    own_colour = attrs["class_name"].map(lambda c: DIGIT_COLOUR_NAMES[CLASS_NAMES.index(c)])
    own = (attrs["colour"] == own_colour).groupby(attrs["domain"]).mean()
    assert own["colour_090"] == pytest.approx(0.9, abs=0.05)
    assert own["colour_010"] == pytest.approx(0.1, abs=0.05)


def test_the_world_draws_every_class_and_domain_the_schema_accepts():
    """The schema names the world's classes and domains (params sit below the data layer, so
    they cannot ask the renderers); the renderers must cover exactly those names."""
    assert set(SHAPES) == set(SYNTHETIC_CLASSES) and set(STYLES) == set(SYNTHETIC_DOMAINS)
