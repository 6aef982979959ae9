"""The embedded base model: corpus disjointness and determinism, two-phase pretraining,
and the zero-shot helpers."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from rdmldg.analysis.icl import balanced_shots, ratio_shots
from rdmldg.analysis.style import style_summary
from rdmldg.data.world import PALETTE
from rdmldg.models.corpus import plain_chain, pretraining_examples, vision_corpus
from rdmldg.params import PretrainParams

CLASSES = ["ball", "cross", "house", "ring", "star"]


def _pixels(ex):
    return np.asarray(ex.images[-1]).tobytes()


def test_corpus_is_deterministic_and_balanced():
    a = pretraining_examples(CLASSES, 40, 0, 24)
    b = pretraining_examples(CLASSES, 40, 0, 24)
    assert [(_pixels(x), x.target) for x in a] == [(_pixels(x), x.target) for x in b]
    assert pd.Series([x.meta["label"] for x in a]).value_counts().tolist() == [8] * 5
    assert {x.meta["task"] for x in a} == {"caption", "answer", "choice", "reason", "fewshot"}


def test_neutral_style_is_a_silhouette_on_white():
    for ex in pretraining_examples(CLASSES, 10, 3, 32):
        img = np.asarray(ex.images[-1]).reshape(-1, 3)
        white = (img > 245).all(axis=1).mean()
        assert 0.35 < white < 0.97  # mostly white background, a coloured shape


def test_generic_vision_corpus_is_deterministic_balanced_and_not_one_style():
    images, labels = vision_corpus(CLASSES, 40, 0, 32, "generic")
    again, _ = vision_corpus(CLASSES, 40, 0, 32, "generic")
    assert [np.asarray(a).tobytes() for a in images] == [np.asarray(b).tobytes() for b in again]
    assert np.bincount(labels).tolist() == [8] * 5
    white = [(np.asarray(im).reshape(-1, 3) > 245).all(axis=1).mean() for im in images]
    assert np.median(white) < 0.2  # random surfaces, not silhouettes on white
    spread = np.std([np.asarray(im, np.float64).mean((0, 1)) for im in images], axis=0)
    assert (spread > 0.08 * 255).all()  # every channel's mean colour varies across the corpus
    digits, _ = vision_corpus(["zero", "one", "seven"], 6, 0, 32, "generic")
    assert len(digits) == 6


def test_plain_chains_differ_from_rich_teacher_chains():
    from rdmldg.chains import format_chain
    from rdmldg.teachers.attribute import write_chain

    rng = np.random.default_rng(0)
    attrs = {"colour": "red", "bg_tone": "sky", "background": "plain", "texture": "dots", "dx": 0.0, "dy": 0.0,
             "scale": 0.7, "rotation": 10.0, "noise": 0.0}
    teacher = [format_chain(**write_chain("photo", c, attrs, rng)) for c in CLASSES]
    own = [plain_chain(c, colour) for c in CLASSES for colour in list(PALETTE)[:1]]
    table = style_summary({"self": own, "teacher": teacher})
    assert table.loc["self", "parses"] == table.loc["teacher", "parses"] == 1.0
    assert table.loc["teacher", "mean_words"] > 2 * table.loc["self", "mean_words"]
    assert table.loc["self", "overlap_with_teacher"] < 0.5


def test_unknown_classes_are_refused():
    with pytest.raises(ValueError, match="model.source: checkpoint"):
        pretraining_examples(["giraffe"], 2, 0, 24)


def test_two_phase_pretraining_runs_saves_and_reloads(tmp_path, monkeypatch):
    import torch

    from rdmldg import numerics
    from rdmldg.models.checkpoints import load, save_checkpoint
    from rdmldg.models.embedded import PRESETS, build_model, build_processor, train_tokenizer
    from rdmldg.models.pretrain import pretrain, pretrain_vision, tokenizer_corpus, vision_tower

    p = PretrainParams(examples=48, epochs=1, vision_examples=64, vision_epochs=2, batch_size=8, vocab_size=400)
    spec = PRESETS["smoke"]
    tok = train_tokenizer(tokenizer_corpus(CLASSES, []), p.vocab_size)
    processor, model = build_processor(tok, spec), build_model(spec, tok)
    examples = pretraining_examples(CLASSES, p.examples, p.seed, spec.image_size)
    images, labels = vision_corpus(CLASSES, p.vision_examples, p.seed, spec.image_size, p.vision_corpus)
    threads = torch.get_num_threads()
    monkeypatch.setenv(numerics.THREADS_VAR, "1")
    numerics.configure_torch()
    try:
        initial = {n: w.clone() for n, w in model.model.vision_tower.state_dict().items()}
        vision = pretrain_vision(vision_tower(model), processor.image_processor, images, labels, len(CLASSES), p)
        after_phase1 = {n: w.clone() for n, w in model.model.vision_tower.state_dict().items()}
        assert any(not torch.equal(initial[n], after_phase1[n]) for n in initial)  # phase 1 trains the tower
        run = pretrain(model, processor, examples, p, progress=False)
        # phase 2 leaves the tower as phase 1 made it (freeze_vision), and unfrozen afterwards
        assert all(torch.equal(after_phase1[n], w) for n, w in model.model.vision_tower.state_dict().items())
        assert all(w.requires_grad for w in model.model.vision_tower.parameters())
        # the pinned thread count survives pretraining (parallel sums split work by thread count)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)  # the rest of the suite keeps its threads
    assert len(vision["history"]) == 2 and run["tokens"] > 0 and run["history"]
    save_checkpoint(model, processor, tmp_path / "base")
    loaded, _ = load(tmp_path / "base")
    for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), n


def _pool():
    return pd.DataFrame({"class_name": [c for c in CLASSES for _ in range(4)],
                         "path": [f"{c}/{i}.png" for c in CLASSES for i in range(4)]})


def test_balanced_shots_are_distinct_classes_without_equal_neighbours():
    rng = np.random.default_rng(0)
    for k in (0, 2, 4, 5):
        shots = balanced_shots(_pool(), k, rng)
        assert len(shots) == k and shots["class_name"].nunique() == k
    eight = balanced_shots(_pool(), 8, rng)["class_name"].tolist()
    assert all(a != b for a, b in pairwise(eight))


def test_label_shift_shots_carry_the_asked_share():
    rng = np.random.default_rng(1)
    for share, expected in ((0.0, 0), (0.25, 2), (0.5, 4), (0.75, 6)):
        shots = ratio_shots(_pool(), 8, "ring", share, rng)
        assert len(shots) == 8 and (shots["class_name"] == "ring").sum() == expected
