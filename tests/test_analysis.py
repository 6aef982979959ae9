"""The analysis stage's measurements: MMD, Challenge 2's token statistics, published tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from rdmldg.analysis import challenge2 as c2
from rdmldg.analysis import invariance, published
from rdmldg.chains import format_chain
from rdmldg.models import architectures
from rdmldg.training.pathways import TrainItem

CLASSES = ["ball", "star", "ring"]


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    sigma = invariance.median_distance(np.vstack([a, b]))
    same = invariance.mmd2(a, b, sigma)
    shifted = invariance.mmd2(a, b + 1.0, sigma)
    far = invariance.mmd2(a, b + 3.0, sigma)
    assert abs(same) < 0.02 and shifted > 10 * abs(same) and far > shifted


def test_pairwise_mmd_covers_every_pair_of_domains():
    rng = np.random.default_rng(1)
    feats = np.vstack([rng.normal(size=(30, 4)) + shift for shift in (0, 0, 4)])
    domains = ["a"] * 30 + ["b"] * 30 + ["c"] * 30
    table = invariance.pairwise_mmd(feats, domains).set_index(["domain_a", "domain_b"])["mmd2"]
    assert list(table.index) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert table[("a", "c")] > 5 * table[("a", "b")]


def _items() -> list[TrainItem]:
    return [TrainItem(f"i{i}", Image.new("RGB", (32, 32), (60 * i, 10, 90)), c,
                      format_chain(summary="look", caption="a shape", reasoning="round", reflection="sure",
                                   conclusion=c), "photo")
            for i, c in enumerate(["ball", "star", "ring", "ball"])]


def test_token_table_marks_the_class_tokens_and_holds_probabilities():
    torch.manual_seed(0)
    model, processor = architectures.llava(texts=[_items()[0].chain, "star ring ball"] * 4)
    table = c2.token_table(model, processor, _items(), CLASSES, batch_size=3)
    assert set(table["item"]) == {0, 1, 2, 3}
    assert table["p"].between(0, 1).all() and (table["entropy"] >= 0).all()
    per_item = table[table["class_token"]].groupby("item").size()
    assert (per_item >= 1).all() and len(per_item) == 4  # each chain's CONCLUSION class is found
    assert table["entropy"].max() <= np.log(model.get_output_embeddings().weight.shape[0]) + 1e-4


def test_gain_and_entropy_from_before_and_after_tables():
    class Tok:
        @staticmethod
        def convert_ids_to_tokens(i):
            return f"t{i}"

    class Proc:
        tokenizer = Tok()

    before = pd.DataFrame({"token": [1, 2, 1, 3], "p": [.2, .5, .3, .1], "entropy": [3., 2., 3., 1.],
                           "class_token": [True, False, True, False]})
    after = before.assign(p=[.6, .5, .7, .1], entropy=[1., 2., 1., 1.5])
    out = c2.gain_and_entropy(before, after, Proc(), top_k=2, min_count=1)
    assert out["target_gain_points"] == pytest.approx(40.0)
    assert [t["token"] for t in out["top_tokens"]] == ["t1", "t2"] and out["top_tokens"][0]["reduction"] == 2.0
    assert c2.overlap(out["top_tokens"], [{"token": "t2"}, {"token": "t9"}]) == 0.5


def test_too_few_self_chains_are_reported_not_hidden():
    assert "only 3 of 50" in c2.empty_reason({"images": 50, "self_correct": 3}, 8)
    assert c2.empty_reason({"images": 50, "self_correct": 8}, 8) is None


def test_published_tables_are_the_papers_numbers():
    assert published.MAIN.loc["RD-MLDG (InternVL3-8B)", "avg"] == 86.89
    assert list(published.ABLATION.index) == ["zeroshot", "label", "reasoning", "mtct", "sarr", "rdmldg"]
    assert published.ABLATION.loc["rdmldg", "TerraInc"] == 70.65


@pytest.mark.parametrize("arch", sorted(architectures.BUILDERS))
def test_vision_features_for_every_architecture_one_row_per_image(arch):
    """The mapping-deficiency probe reads every supported tower: LLaVA's and InternVL's take
    pixel rows (InternVL several tiles per image when it tiles), Qwen2-VL's a flat patch
    sequence with its grid."""
    from rdmldg.analysis.probe import vision_features
    from rdmldg.models.pretrain import vision_tower

    build = architectures.BUILDERS[arch]
    model, processor = build(max_tiles=4) if arch == "internvl" else build()
    model.eval()
    images = [Image.new("RGB", wh, (50 * k, 90, 30)) for k, wh in enumerate([(96, 32), (32, 32), (32, 64)])]
    feats = vision_features(vision_tower(model), processor, images, batch_size=2)
    assert feats.shape[0] == 3 and np.isfinite(feats).all()
    alone = vision_features(vision_tower(model), processor, images[2:], batch_size=1)
    assert np.allclose(feats[2], alone[0], atol=1e-5)  # batching does not mix images
