"""Pretraining the embedded base model on its neutral corpus, with transformers' Trainer."""

from __future__ import annotations

import tempfile
import time

from rdmldg.chains import display_name, fewshot_prompt, q_choice_list, q_cls, q_reason
from rdmldg.data.world import PALETTE
from rdmldg.models.corpus import plain_chain
from rdmldg.models.embedded import PRESETS, build_model, build_processor, train_tokenizer
from rdmldg.models.sequences import Collator, Example
from rdmldg.params import ModelParams, PretrainParams


def tokenizer_corpus(classes: list[str], chain_texts: list[str]) -> list[str]:
    """Everything the model will read or write: prompts, answers, both chain styles."""
    texts = [q_cls(classes), q_reason(classes), q_choice_list(classes), "Describe the image."]
    texts += [t["text"] for t in fewshot_prompt(classes, classes) if t["type"] == "text"]
    for c in classes:
        texts += [display_name(c), f"Answer Choice: {display_name(c)}"]
        texts += [plain_chain(c, colour) + f" A {colour} {display_name(c)} on white." for colour in PALETTE]
    return texts + list(chain_texts)


def build_base(classes: list[str], chain_texts: list[str], p: ModelParams):
    """The embedded base before pretraining: its preset's spec, a processor around a BPE
    tokenizer trained on the study's own words, and the model, seeded by `p.pretrain.seed`."""
    spec = PRESETS[p.preset]
    tokenizer = train_tokenizer(tokenizer_corpus(classes, chain_texts), p.pretrain.vocab_size)
    return spec, build_processor(tokenizer, spec), build_model(spec, tokenizer, p.pretrain.seed)


def vision_tower(model):
    """The vision encoder of a LLaVA or InternVL model (`vision_tower`) or a Qwen2-VL one (`visual`)."""
    inner = model.model
    return inner.vision_tower if hasattr(inner, "vision_tower") else inner.visual


def pretrain_vision(tower, image_processor, images, labels, n_classes: int, p: PretrainParams) -> dict:
    """Phase 1: the vision tower alone learns the classes of its own corpus (`vision_corpus`)
    through a throw-away linear head on its mean-pooled patches — as a SigLIP/CLIP tower is
    pretrained before a LLaVA model is assembled. (Learned only through the language model, a
    tower this small, from scratch, stays at chance within the budget; see the README's design
    notes.) AdamW with 5 % linear warm-up, then a cosine decay, and gradients clipped at norm 1:
    without them the tower sits on a plateau far longer, or never leaves it."""
    import math

    import torch

    torch.manual_seed(p.seed)
    labels = torch.as_tensor(labels)
    pixels = torch.cat([image_processor(images[i:i + 1024], return_tensors="pt")["pixel_values"]
                        for i in range(0, len(images), 1024)])
    head = torch.nn.Linear(tower.config.hidden_size, n_classes)
    params = list(tower.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=p.vision_lr or p.lr, weight_decay=0.01)
    batch = 64
    steps = -(-len(pixels) // batch) * p.vision_epochs
    warm = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    gen = torch.Generator().manual_seed(p.seed)
    history, start = [], time.perf_counter()
    tower.train()
    for epoch in range(p.vision_epochs):
        order = torch.randperm(len(pixels), generator=gen)
        correct, total = 0, 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            logits = head(tower(pixel_values=pixels[idx]).last_hidden_state.mean(dim=1))
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            schedule.step()
            opt.zero_grad()
            correct += int((logits.argmax(-1) == labels[idx]).sum())
            total += loss.item() * len(idx)
        history.append({"epoch": epoch + 1, "loss": total / len(order), "accuracy": correct / len(order)})
    return {"history": history, "seconds": time.perf_counter() - start, "head": head}


def pretrain(model, processor, examples: list[Example], p: PretrainParams, progress: bool = True) -> dict:
    """Full-parameter pretraining; returns the loss history, wall time and tokens/s."""
    import torch
    from transformers import Trainer, TrainingArguments

    steps = -(-len(examples) // p.batch_size) * p.epochs
    # LLaVA trains its projector and language model on a frozen, already pretrained tower:
    # phase 2's single style would otherwise wash out what phase 1's corpus taught it.
    tower = vision_tower(model)
    tower.requires_grad_(not p.freeze_vision)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=p.batch_size, num_train_epochs=p.epochs,
            learning_rate=p.lr, lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.01,
            logging_steps=max(1, min(10, steps // 20)), save_strategy="no", report_to="none", seed=p.seed,
            data_seed=p.seed,
            dataloader_num_workers=0, remove_unused_columns=False, use_cpu=not torch.cuda.is_available(),
            include_num_input_tokens_seen="non_padding", disable_tqdm=not progress,
        )
        trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=Collator(processor))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    tower.requires_grad_(True)
    tokens = trainer.state.num_input_tokens_seen
    losses = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history if "loss" in h]
    return {"history": losses, "seconds": seconds, "tokens": int(tokens), "tokens_per_s": tokens / seconds}
