"""Answer scoring on a tiny real model: log-likelihood agrees with a per-class computation,
and generation + parsing is counted honestly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rdmldg.models import architectures
from rdmldg.models.readout import accuracy, class_loglik, generate, loglik_predictions, sequence_logprobs
from rdmldg.models.sequences import Collator, single

CLASSES = ["pen", "pencil", "ball"]


@pytest.fixture(scope="module", params=sorted(architectures.BUILDERS))
def tiny(request):
    """Each architecture: llava and internvl take the prefix-cache path, qwen2_vl the plain one."""
    model, processor = architectures.BUILDERS[request.param](texts=["pen pencil ball what is this"] * 4)
    return model.eval(), processor


def _examples():
    prompts = ["what is this", "what is this object in the picture", "what"]  # unequal lengths: padding
    return [single(Image.new("RGB", (32, 32), (i * 60, 10, 10)), q) for i, q in enumerate(prompts)]


def test_loglik_matches_scoring_each_class_alone(tiny):
    model, processor = tiny
    scores = class_loglik(model, processor, _examples(), CLASSES, batch_size=2)
    for i, ex in enumerate(_examples()):
        for j, cls in enumerate(CLASSES):
            ex.target = cls
            alone = sequence_logprobs(model, Collator(processor)([ex])).item()
            assert scores[i, j] == pytest.approx(alone, abs=1e-4)


def test_loglik_includes_the_end_of_answer(tiny):
    """'pen' must pay for ending where 'pencil' goes on: scores differ from prefix scores."""
    model, processor = tiny
    scores = class_loglik(model, processor, _examples()[:1], CLASSES)
    assert np.all(scores < 0) and scores[0, 0] != scores[0, 1]


def test_generation_batches_agree_with_single_runs(tiny):
    model, processor = tiny
    together = generate(model, processor, _examples(), max_new_tokens=4, batch_size=3)
    alone = [generate(model, processor, [ex], max_new_tokens=4)[0] for ex in _examples()]
    assert together == alone


def test_accuracy_counts_unparseable_as_wrong():
    result = accuracy(["pen", None, "ball", None], ["pen", "pen", "pencil", "ball"])
    assert result == {"accuracy": 0.25, "parse_failure_rate": 0.5, "n": 4}
    assert loglik_predictions(np.array([[0.1, 0.5, 0.2]]), CLASSES) == ["pencil"]
