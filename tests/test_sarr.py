"""SARR keeps only correct self-chains; Challenge-1 token probabilities are real probabilities."""

from __future__ import annotations

import pytest
from PIL import Image

from rdmldg.analysis.token_probs import class_token_probs, confidence_shares
from rdmldg.chains import format_chain
from rdmldg.models import architectures
from rdmldg.training import sarr
from rdmldg.training.data import LeakageError
from rdmldg.training.pathways import TrainItem

CLASSES = ["ball", "star", "ring"]


def _chain(cls: str, summary: str = "plan") -> str:
    return format_chain(summary=summary, caption="c", reasoning="r", reflection="f", conclusion=cls)


def _items() -> list[TrainItem]:
    return [TrainItem(f"i{i}", Image.new("RGB", (32, 32)), c, _chain(c, "teacher"), "photo")
            for i, c in enumerate(["ball", "star", "ring", "ball"])]


GENERATED = [_chain("ball", "self"), _chain("ring", "self"), "<SUMMARY>cut off", "Answer Choice: ball"]


def test_keeps_only_self_chains_that_conclude_the_label():
    items, stats = sarr.select(_items(), GENERATED, CLASSES, "keep_previous")
    assert items[0].chain == _chain("ball", "self")          # correct: replaced by the self-chain
    assert [it.chain for it in items[1:]] == [it.chain for it in _items()[1:]]  # failures keep the teacher's
    assert stats["kept"] == 1 and stats["rejection_rate"] == 0.75
    assert stats["reasons"] == {"wrong conclusion": 1, "truncated": 1, "missing section": 1}


def test_drop_fallback_removes_the_reasoning_target():
    items, _ = sarr.select(_items(), GENERATED, CLASSES, "drop")
    assert items[0].chain == _chain("ball", "self") and [it.chain for it in items[1:]] == [None, None, None]
    with pytest.raises(ValueError, match="fallback"):
        sarr.select(_items(), GENERATED, CLASSES, "never")


def test_self_chain_generation_refuses_heldout_images():
    model, processor = architectures.llava()
    with pytest.raises(LeakageError, match="SARR generation"):
        sarr.self_chains(model, processor, _items(), CLASSES, heldout="photo", max_new_tokens=4, batch_size=2)
    texts = sarr.self_chains(model, processor, _items(), CLASSES, heldout="sketch", max_new_tokens=4, batch_size=2)
    assert len(texts) == 4


def test_class_token_probabilities():
    model, processor = architectures.llava(texts=["ball star ring plan c r f"] * 4)
    probs = class_token_probs(model.eval(), processor, _items(), CLASSES, batch_size=3)
    assert probs["q_cls"].size >= 4 and probs["q_reason"].size >= 4
    assert ((probs["q_cls"] > 0) & (probs["q_cls"] < 1)).all()
    shares = confidence_shares(probs["q_reason"])
    assert 0 <= shares["high (p>0.75)"] <= 1 and shares["tokens"] == probs["q_reason"].size


def test_a_generation_budget_shorter_than_the_chains_is_refused_before_training():
    from rdmldg.models import architectures
    from rdmldg.training.sarr import check_room

    _, processor = architectures.llava(texts=["ball star ring look"] * 4)
    chain = "<SUMMARY>look at it</SUMMARY><CONCLUSION>ball</CONCLUSION>"
    items = [TrainItem("a", None, "ball", chain), TrainItem("b", None, "ball", None)]
    need = len(processor.tokenizer(chain, add_special_tokens=False)["input_ids"]) + 1
    assert check_room(processor, items, need) == need
    with pytest.raises(ValueError, match=rf"chain_max_new_tokens \({need - 1}\) is shorter .* at least {need} in params/eval.yaml"):
        check_room(processor, items, need - 1)
