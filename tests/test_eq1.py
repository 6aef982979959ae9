"""Eq. 1 against a hand computation, and against the token-mean loss it is not."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from rdmldg.methods import CLS, REASON
from rdmldg.models import architectures
from rdmldg.models.sequences import IGNORE
from rdmldg.training.loss import eq1, token_mean
from rdmldg.training.pathways import PathwayCollator, TrainItem, forward, tile_rows


def _hand(logits, labels, pathway, n_images):
    """Eq. 1 spelled out with Python loops: summed label NLL + chain NLL / T_i, over images."""
    total = 0.0
    for s in range(logits.shape[0]):
        nll, count = 0.0, 0
        for t in range(logits.shape[1] - 1):
            y = int(labels[s, t + 1])
            if y == IGNORE:
                continue
            row = [float(v) for v in logits[s, t]]
            top = max(row)
            nll += -(row[y] - top - math.log(sum(math.exp(v - top) for v in row)))
            count += 1
        total += nll if int(pathway[s]) == CLS else nll / count
    return total / n_images


def test_eq1_matches_the_hand_computation():
    torch.manual_seed(0)
    logits = torch.randn(4, 7, 5)
    labels = torch.full((4, 7), IGNORE)
    labels[0, 5:] = torch.tensor([1, 2])          # image 0, label: 2 tokens
    labels[1, 2:] = torch.tensor([3, 0, 4, 1, 2])  # image 0, chain: 5 tokens
    labels[2, 6] = 3                               # image 1, label: 1 token
    labels[3, 4:] = torch.tensor([2, 2, 0])        # image 1, chain: 3 tokens
    pathway = torch.tensor([CLS, REASON, CLS, REASON])
    got = eq1(logits, labels, pathway, n_images=2)
    assert float(got["loss"]) == pytest.approx(_hand(logits, labels, pathway, 2), rel=1e-5)
    assert float(got["label"] + got["reasoning"]) == pytest.approx(float(got["loss"]), rel=1e-6)
    assert abs(float(got["loss"]) - float(token_mean(logits, labels))) > 0.1  # not the token mean


def test_chain_length_normalisation_makes_long_chains_count_once():
    """Doubling a chain (same per-token NLL) leaves its Eq. 1 term unchanged; the token mean moves."""
    logits = torch.zeros(2, 9, 4)  # uniform: every token costs log 4
    short = torch.full((2, 9), IGNORE)
    short[0, 8] = 1
    short[1, 6:] = torch.tensor([1, 2, 3])
    long = short.clone()
    long[1, 2:] = torch.tensor([1, 2, 3, 1, 2, 3, 0])
    pathway = torch.tensor([CLS, REASON])
    a, b = eq1(logits, short, pathway, 1)["loss"], eq1(logits, long, pathway, 1)["loss"]
    assert float(a) == pytest.approx(float(b)) == pytest.approx(2 * math.log(4))
    assert float(token_mean(logits, short)) == pytest.approx(float(token_mean(logits, long)))  # uniform: equal
    logits[1, :4] = 5.0  # make early chain tokens cheap-ish: per-chain mean vs token mean now differ
    assert float(eq1(logits, long, pathway, 1)["loss"]) != pytest.approx(float(token_mean(logits, long)))


@pytest.mark.parametrize("arch", sorted(architectures.BUILDERS))
def test_shared_image_encoding_gives_the_same_logits(arch):
    model, processor = architectures.BUILDERS[arch]()
    model.eval()
    items = [TrainItem(f"i{k}", Image.new("RGB", (32, 32), (60 * k, 20, 90)), "ball",
                       "<SUMMARY>s</SUMMARY> chain " * (k + 1) if k != 1 else None) for k in range(3)]
    batch = PathwayCollator(processor, ["ball", "star"])(items)
    label, chain = batch["groups"]  # each pathway padded to its own width
    assert label["pathway"].tolist() == [CLS] * 3 and chain["pathway"].tolist() == [REASON] * 2
    assert label["image_index"].tolist() == [0, 1, 2] and chain["image_index"].tolist() == [0, 2]  # 1 has no chain
    assert label["input_ids"].shape[1] < chain["input_ids"].shape[1]
    assert int(batch["attention_mask"].sum()) == int(label["attention_mask"].sum() + chain["attention_mask"].sum())
    with torch.no_grad():
        shared, separate = forward(model, batch, True), forward(model, batch, False)
    assert len(shared) == 2 and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(shared, separate, strict=True))


def test_shared_encoding_handles_images_with_different_tile_counts():
    """InternVL tiles by aspect ratio: a wide, a square and a tall image give different numbers
    of pixel rows; each image is still encoded once and every sequence sees its own tiles."""
    model, processor = architectures.internvl(max_tiles=4)
    model.eval()
    shapes = [(96, 32), (32, 32), (32, 64)]
    items = [TrainItem(f"i{k}", Image.new("RGB", wh, (70 * k, 40, 90)), "ball", "<SUMMARY>s</SUMMARY> c " * (k + 1))
             for k, wh in enumerate(shapes)]
    batch = PathwayCollator(processor, ["ball", "star"])(items)
    label = batch["groups"][0]
    rows = tile_rows(label["input_ids"], label["pixel_values"].shape[0], model.config.image_token_id)
    assert len(set(rows)) > 1 and rows[1] == 1  # mixed tile counts; the square image is one tile
    with torch.no_grad():
        shared, separate = forward(model, batch, True), forward(model, batch, False)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(shared, separate, strict=True))


def test_tile_rows_refuses_pixels_that_do_not_match_the_image_tokens():
    ids = torch.tensor([[7, 7, 1], [7, 1, 1]])  # 2 and 1 image tokens
    assert tile_rows(ids, 3, image_token_id=7) == [2, 1]
    with pytest.raises(ValueError, match="cannot split 4 pixel rows"):
        tile_rows(ids, 4, image_token_id=7)


def test_reasoning_only_batch_with_a_chainless_image_shares_encoding():
    model, processor = architectures.llava()
    model.eval()
    items = [TrainItem("a", Image.new("RGB", (32, 32), (9, 9, 9)), "ball", None),
             TrainItem("b", Image.new("RGB", (32, 32), (200, 9, 9)), "ball", "<SUMMARY>x</SUMMARY>")]
    batch = PathwayCollator(processor, ["ball"], pathways=(REASON,))(items)
    assert [g["image_index"].tolist() for g in batch["groups"]] == [[1]]
    with torch.no_grad():
        (shared,), (separate,) = forward(model, batch, True), forward(model, batch, False)
    assert torch.allclose(shared, separate, atol=1e-5)


def test_label_only_batches_carry_no_reasoning_sequences():
    _, processor = architectures.llava()
    items = [TrainItem("a", Image.new("RGB", (32, 32)), "ball", "<SUMMARY>x</SUMMARY>")]
    batch = PathwayCollator(processor, ["ball"], pathways=(CLS,))(items)
    assert [g["pathway"].tolist() for g in batch["groups"]] == [[CLS]]
    with pytest.raises(ValueError, match="without any target"):
        PathwayCollator(processor, ["ball"], pathways=(REASON,))([TrainItem("b", Image.new("RGB", (32, 32)), "ball")])
