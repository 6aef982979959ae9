"""Real-checkpoint code path on tiny random checkpoints of LLaVA, InternVL and Qwen2-VL,
built from configs, saved to disk and loaded offline; LoRA; the collator."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from rdmldg.models import architectures
from rdmldg.models.checkpoints import CheckpointError, load, record, save_checkpoint
from rdmldg.models.lora import add_lora, trainable_report
from rdmldg.models.sequences import IGNORE, Collator, single, target_ids

ARCHS = sorted(architectures.BUILDERS)


@pytest.fixture(scope="module", params=ARCHS)
def checkpoint(request, tmp_path_factory):
    model, processor = architectures.BUILDERS[request.param]()
    return request.param, save_checkpoint(model, processor, tmp_path_factory.mktemp(request.param) / "ckpt")


def test_saved_weights_keep_the_umask_mode(checkpoint):
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    _, path = checkpoint
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in path.iterdir() if f.is_file()}
    assert any(n.endswith(".safetensors") for n in modes)  # safetensors itself writes 0600
    assert set(modes.values()) == {0o666 & ~mask}, modes


def _batch(processor):
    return Collator(processor)([single(Image.new("RGB", (40, 30), (200, 10, 10)), "what is this", "ball"),
                                single(Image.new("RGB", (30, 44), (10, 10, 200)), "what is it", "star")])


def test_load_lora_train_one_step_and_generate_offline(checkpoint, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name, path = checkpoint
    model, processor = load(path)
    wrapped = add_lora(model, rank=8, alpha=16, dropout=0.05)
    report = trainable_report(wrapped)
    assert report.loc["vision", "trainable"] > 0 and report.loc["language", "trainable"] > 0
    assert report.loc["all", "trainable"] < 0.5 * report.loc["all", "total"]
    frozen_before = {n: p.detach().clone() for n, p in wrapped.named_parameters() if not p.requires_grad}
    batch = _batch(processor)
    opt = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-2)
    loss0 = wrapped(**batch).loss
    loss0.backward()
    opt.step()
    opt.zero_grad()
    assert wrapped(**batch).loss < loss0
    assert all(torch.equal(p, frozen_before[n]) for n, p in wrapped.named_parameters() if not p.requires_grad)
    processor.tokenizer.padding_side = "left"
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text",
                                          "text": "what is this"}]}], add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text, text], images=[Image.new("RGB", (32, 32))] * 2, return_tensors="pt", padding=True)
    out = wrapped.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 2 and out.shape[1] > inputs["input_ids"].shape[1]


def test_collator_labels_exactly_the_answer(checkpoint):
    _, path = checkpoint
    _, processor = load(path)
    batch = _batch(processor)
    for row, answer in zip(batch["labels"], ("ball", "star"), strict=True):
        assert row[row != IGNORE].tolist() == target_ids(processor, answer)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape


def test_missing_checkpoint_names_the_param_and_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match=r"model.checkpoint.*nothing is downloaded"):
        load(tmp_path / "nowhere")


def test_record_hashes_content_without_copying(checkpoint):
    _, path = checkpoint
    rec = record(path)
    assert rec["path"] == str(path.resolve()) and len(rec["content_sha256"]) == 64
    config = json.loads((path / "config.json").read_text())
    assert rec["model_type"] == config["model_type"]


def test_remote_code_stays_off_unless_asked(checkpoint, monkeypatch):
    import transformers

    seen = []
    original = transformers.AutoModelForImageTextToText.from_pretrained
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained",
                        lambda *a, **k: seen.append(k["trust_remote_code"]) or original(*a, **k))
    load(checkpoint[1])
    assert seen == [False]


def test_the_conv_stem_tower_saves_loads_and_takes_lora_in_its_convolutions(tmp_path):
    from huggingface_hub.errors import StrictDataclassClassValidationError

    from rdmldg.models.convstem import ConvStemVisionConfig, ConvStemVisionModel
    from rdmldg.models.embedded import LlavaSpec, build_model, build_processor, train_tokenizer

    spec = LlavaSpec(image_size=32, patch_size=8, stem_channels=(8, 16), vision_hidden=32, vision_layers=1,
                     vision_heads=2, text_hidden=32, text_layers=1, text_heads=2, text_kv_heads=1)
    tok = train_tokenizer(architectures.DEFAULT_TEXTS, 320)
    model, processor = build_model(spec, tok), build_processor(tok, spec)
    pixels = torch.randn(2, 3, 32, 32)
    features = model.model.get_image_features(pixel_values=pixels, vision_feature_layer=-1,
                                              vision_feature_select_strategy="full").pooler_output
    assert len(features) == 2 and features[0].shape == (spec.image_tokens, spec.text_hidden)  # 16 tokens, as patch 8
    loaded, _ = load(save_checkpoint(model, processor, tmp_path / "ckpt"))  # through the Auto classes, no remote code
    assert isinstance(loaded.model.vision_tower, ConvStemVisionModel)
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["vision_config"]["model_type"] == \
        "rdmldg_convstem_vision"
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in add_lora(loaded).named_modules() if n.endswith("lora_A")}
    stem = {n for n in adapted if ".stem." in n}
    assert {s.split("vision_tower.")[1] for s in stem} == {f"embeddings.stem.{i}.conv" for i in range(3)}
    with pytest.raises(StrictDataclassClassValidationError, match="patch_size 4 does not match"):
        ConvStemVisionConfig(patch_size=4, stem_channels=[8, 16])


def test_token_embeddings_train_the_tied_output_rows_and_survive_save_and_load(tmp_path):
    """LoRA alone leaves the embedding frozen; with token_embeddings an answer token's logit
    moves through the tied output layer too, the base weights stay untouched, and the saved
    adapter reproduces the trained logits."""
    from rdmldg.models.embedded import LlavaSpec, build_model, build_processor, train_tokenizer
    from rdmldg.models.lora import load_adapter

    spec = LlavaSpec(image_size=32, patch_size=8, stem_channels=(8, 16), vision_hidden=32, vision_layers=1,
                     vision_heads=2, text_hidden=32, text_layers=1, text_heads=2, text_kv_heads=1)
    tok = train_tokenizer(architectures.DEFAULT_TEXTS, 320)
    processor = build_processor(tok, spec)
    batch = _batch(processor)
    plain = add_lora(build_model(spec, tok, seed=0), token_embeddings=False)
    assert not any(p.requires_grad for n, p in plain.named_parameters() if "embed_tokens" in n)
    model = build_model(spec, tok, seed=0)
    assert model.config.text_config.tie_word_embeddings
    embedding_before = model.get_input_embeddings().weight.detach().clone()
    wrapped = add_lora(model, token_embeddings=True)
    assert any(p.requires_grad for n, p in wrapped.named_parameters() if "token_adapter" in n)
    opt = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=5e-2)
    loss0 = wrapped(**batch).loss.item()
    for _ in range(3):
        wrapped(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    wrapped.eval()
    with torch.no_grad():
        logits = wrapped(**batch).logits
    assert wrapped(**batch).loss.item() < loss0
    inner = wrapped.get_base_model()
    assert type(inner.get_output_embeddings()).__name__ == "TrainableTokensWrapper"  # the tied output follows
    assert torch.equal(inner.get_input_embeddings().token_adapter.base_layer.weight, embedding_before)
    wrapped.save_pretrained(tmp_path / "adapter")
    reloaded = load_adapter(build_model(spec, tok, seed=0), tmp_path / "adapter").eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(**batch).logits, logits, atol=1e-5)
