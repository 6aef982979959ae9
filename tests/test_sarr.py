"""SARR keeps only correct self-chains; Challenge-1 token probabilities are real probabilities."""

from __future__ import annotations

import pytest
from PIL import Image

from rdmldg.chains import format_chain
from rdmldg.models import architectures
from rdmldg.models.token_probs import class_token_probs, confidence_shares
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
    with pytest.raises(ValueError,
                       match=rf"chain_max_new_tokens \({need - 1}\) is shorter .* at least {need} in params/eval.yaml"):
        check_room(processor, items, need - 1)


# ----------------------------------------------------------------------------- served generation
def _served_params(tmp_path, base_url: str):
    from rdmldg import params as params_mod

    p = params_mod.Params(**{c: s() for c, s in params_mod.CONCERNS.items()})
    served = p.train.sarr.served.model_copy(update={"base_url": base_url, "backoff_s": 0.01, "concurrency": 4})
    sarr_p = p.train.sarr.model_copy(update={"rounds": 1, "generator": "served", "served": served})
    train = p.train.model_copy(update={"lr": 1e-2, "epochs": 1, "batch_size": 4, "sarr": sarr_p})
    return p.model_copy(update={"train": train, "eval": p.eval.model_copy(update={"chain_max_new_tokens": 256})})


def _served_items():
    classes = ["ball", "star", "ring"]
    return classes, [TrainItem(f"img{i}", Image.new("RGB", (32, 32), (20 * i, 90, 30)), classes[i % 3],
                               format_chain(summary="s", caption="c", reasoning="r", reflection="f",
                                            conclusion=classes[i % 3]), "cartoon") for i in range(6)]


def test_sarr_round_from_a_served_model_names_its_adapter_and_asks_greedily(tmp_path):
    """The round's chains come from the server: the previous stage's adapter loaded under its
    own name, then every source image asked q_reason exactly, greedily, of that adapter."""
    from chat_server import ChatServer, Reply
    from rdmldg import methods
    from rdmldg.chains import q_reason
    from rdmldg.training import run as train_run
    from rdmldg.training.served import png_data_url

    classes, items = _served_items()
    label_of = {png_data_url(it.image): it.label for it in items}

    def app(payload, headers):
        if headers[":path"].endswith("/load_lora_adapter"):
            return Reply(200, "loaded")
        return Reply(200, format_chain(summary="s", caption="c", reasoning="r", reflection="f",
                                       conclusion=label_of[payload["messages"][0]["content"][0]["image_url"]["url"]]))

    with ChatServer(app) as server:
        p = _served_params(tmp_path, server.base_url)
        model, processor = architectures.llava(texts=["ball star ring look"] * 4)
        plan = train_run.FoldPlan(0, "sketch", items, items[:3], "served-test", tmp_path / "sarr" / "trial0" / "sketch")
        result = train_run.run(p, methods.get("sarr"), model, processor, plan, classes, progress=False)
        requests = [(payload, h[":path"]) for payload, h in server.requests]

    (load, load_path), *asks = requests
    assert load_path == "/v1/load_lora_adapter"
    assert load["lora_name"].startswith("sarr-trial0-sketch-stage0-")
    assert load["lora_path"] == str((plan.out_dir / "stage0" / "adapter").resolve())
    assert len(asks) == len(items) and {path for _, path in asks} == {"/v1/chat/completions"}
    for payload, _ in asks:
        assert payload["model"] == load["lora_name"] and payload["temperature"] == 0.0 and payload["top_p"] == 1.0
        assert payload["max_tokens"] == 256
        image, text = payload["messages"][0]["content"]
        assert image["type"] == "image_url" and text == {"type": "text", "text": q_reason(classes)}
    assert result["stages"]["sarr_kept"].tolist()[1] == len(items)  # every served chain concluded the label


def test_a_server_without_lora_support_is_named_with_the_fix(tmp_path):
    from chat_server import ChatServer, Reply
    from rdmldg.training.served import ServedGenerationError, served_chains

    classes, items = _served_items()
    with ChatServer(lambda payload, headers: Reply(404)) as server:
        p = _served_params(tmp_path, server.base_url).train.sarr.served
        with pytest.raises(ServedGenerationError, match="--enable-lora"):
            served_chains(p, tmp_path / "adapter", "a", items, classes, "sketch", 64)


def _model_with_loud_dropout():
    """A tiny LLaVA with LoRA adapters whose dropout (0.9) changes every output it touches."""
    import torch

    from rdmldg.models.lora import add_lora

    model, processor = architectures.llava()
    model = add_lora(model, rank=8, alpha=64, dropout=0.9)
    with torch.no_grad():  # LoRA's B starts at zero: give the adapters something for dropout to drop
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.5)
    return model, processor


def test_self_chains_are_generated_without_dropout_whatever_mode_the_model_was_left_in():
    """A round that continues from an adopted or resumed stage gets a freshly wrapped model,
    which peft leaves in training mode: its chains must still be the greedy chains of the
    model, not of the model with LoRA dropout switched on."""
    model, processor = _model_with_loud_dropout()
    model.eval()
    want = sarr.self_chains(model, processor, _items(), CLASSES, heldout="sketch", max_new_tokens=8, batch_size=2)
    model.train()
    got = sarr.self_chains(model, processor, _items(), CLASSES, heldout="sketch", max_new_tokens=8, batch_size=2)
    assert got == want


def test_class_token_probabilities_are_read_without_dropout():
    model, processor = _model_with_loud_dropout()
    model.eval()
    want = class_token_probs(model, processor, _items(), CLASSES)
    model.train()
    got = class_token_probs(model, processor, _items(), CLASSES)
    assert all((got[k] == want[k]).all() for k in want) and len(want["q_reason"]) > 0
