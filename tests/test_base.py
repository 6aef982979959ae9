"""The embedded base model: corpus disjointness and determinism, two-phase pretraining,
and the zero-shot helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rdmldg.analysis.icl import balanced_shots, ratio_shots
from rdmldg.analysis.style import style_summary
from rdmldg.data.world import PALETTE
from rdmldg.models.corpus import plain_chain, pretraining_examples
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


def test_plain_chains_differ_from_rich_teacher_chains():
    from rdmldg.teachers.attribute import write_chain
    from rdmldg.chains import format_chain

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
    from rdmldg.models.pretrain import pretrain, pretrain_vision, tokenizer_corpus

    p = PretrainParams(examples=48, epochs=1, vision_epochs=2, batch_size=8, vocab_size=400)
    spec = PRESETS["smoke"]
    tok = train_tokenizer(tokenizer_corpus(CLASSES, []), p.vocab_size)
    processor, model = build_processor(tok, spec), build_model(spec, tok)
    examples = pretraining_examples(CLASSES, p.examples, p.seed, spec.image_size)
    threads = torch.get_num_threads()
    monkeypatch.setenv(numerics.THREADS_VAR, "1")
    numerics.configure_torch()
    try:
        vision = pretrain_vision(model, processor, examples, CLASSES, p)
        run = pretrain(model, processor, examples, p, progress=False)
        # the pinned thread count survives pretraining (parallel sums split work by thread count)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)  # the rest of the suite keeps its threads
    assert len(vision["history"]) == 2 and run["tokens"] > 0 and run["history"]
    save_checkpoint(model, processor, tmp_path / "base")
    loaded, _ = load(tmp_path / "base")
    for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
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
    assert all(a != b for a, b in zip(eight, eight[1:]))


def test_label_shift_shots_carry_the_asked_share():
    rng = np.random.default_rng(1)
    for share, expected in ((0.0, 0), (0.25, 2), (0.5, 4), (0.75, 6)):
        shots = ratio_shots(_pool(), 8, "ring", share, rng)
        assert len(shots) == 8 and (shots["class_name"] == "ring").sum() == expected
