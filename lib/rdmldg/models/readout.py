"""Two ways to read a class off an MLLM, both on the same examples.

* Log-likelihood: for every example × class, the summed log-probability of the class name's
  tokens followed by the end-of-turn token (so "pen" cannot win as a prefix of "pencil"),
  all in one batched forward pass, no sampling. Never fails to parse.
* Generation: greedy decoding, then `parse_answer`; an unparseable answer counts as wrong
  and its rate is reported.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from rdmldg.chains import conclusion_answer, display_name, parse_answer, q_reason
from rdmldg.models.sequences import IGNORE, Collator, Example, prompt_text, single, target_ids


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def sequence_logprobs(model, batch: dict) -> torch.Tensor:
    """Summed log-probability of the labelled tokens of each sequence in the batch."""
    labels = batch.pop("labels")
    logits = model(**batch).logits[:, :-1].float()
    target = labels[:, 1:]
    mask = target != IGNORE
    logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(dim=1)


# Decoders whose positions are plain 1-D indices: their prompt's KV cache can be shared by
# every class continuation. (Qwen2-VL's M-RoPE positions are not; it takes the plain path.)
PREFIX_CACHE_TYPES = ("llava", "internvl")


def _plain_scores(model, processor, chunk: list[Example], classes: list[str]) -> np.ndarray:
    """Every example × class as its own full sequence (image and prompt re-encoded per class)."""
    seqs = [replace(ex, target=display_name(c)) for ex in chunk for c in classes]
    scores = sequence_logprobs(model, _to(Collator(processor)(seqs), _device(model))).cpu().numpy()
    return scores.reshape(len(chunk), len(classes))


@torch.inference_mode()
def _prefix_cached_scores(model, processor, chunk: list[Example], classes: list[str]) -> np.ndarray:
    """Each prompt encoded once (left-padded, KV cache kept); all class continuations scored
    against the repeated cache in one more batched pass."""
    tok, device = processor.tokenizer, _device(model)
    side, tok.padding_side = tok.padding_side, "left"
    try:
        images = [im for ex in chunk for im in ex.images] or None
        enc = _to(processor(text=[prompt_text(processor, ex) for ex in chunk], images=images, return_tensors="pt",
                            padding=True), device)
    finally:
        tok.padding_side = side
    mask = enc["attention_mask"]
    out = model(**enc, position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=True)
    n, c = len(chunk), len(classes)
    conts = [target_ids(processor, display_name(k)) for k in classes]
    width = max(len(t) for t in conts)
    ids = torch.tensor([t + [tok.pad_token_id] * (width - len(t)) for t in conts], device=device).repeat(n, 1)
    cmask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in conts], device=device).repeat(n, 1)
    cache = out.cache
    cache.batch_repeat_interleave(c)
    start = mask.sum(-1).repeat_interleave(c)[:, None]
    more = model(input_ids=ids, attention_mask=torch.cat([mask.repeat_interleave(c, 0), cmask], 1),
                 position_ids=start + torch.arange(width, device=device)[None], cache=cache)
    first = torch.log_softmax(out.logits[:, -1].float(), -1).repeat_interleave(c, 0).gather(1, ids[:, :1])[:, 0]
    rest = torch.log_softmax(more.logits[:, :-1].float(), -1).gather(2, ids[:, 1:, None])[..., 0]
    return (first + (rest * cmask[:, 1:]).sum(1)).reshape(n, c).cpu().numpy()


def class_loglik(model, processor, examples: list[Example], classes: list[str], batch_size: int = 4) -> np.ndarray:
    """[len(examples), len(classes)] log-likelihoods of each class as the answer."""
    score = _prefix_cached_scores if model.config.model_type in PREFIX_CACHE_TYPES else _plain_scores
    out = np.zeros((len(examples), len(classes)))
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        out[start:start + len(chunk)] = score(model, processor, chunk, classes)
    return out


@torch.inference_mode()
def prompt_answers(model, processor, images: list[tuple[str, object, str]], prompts: dict[str, str],
                   max_new_tokens: dict[str, int]) -> list[dict]:
    """Greedy answers of `model` to every prompt (name → text) for each (image name, image, true
    class), one row each; `max_new_tokens` per prompt name."""
    rows = []
    for name, prompt in prompts.items():
        answers = generate(model, processor, [single(im, prompt) for _, im, _ in images], max_new_tokens[name])
        rows += [{"image": d, "true": t, "prompt": name, "answer": a}
                 for (d, _, t), a in zip(images, answers, strict=True)]
    return rows


def generate(model, processor, examples: list[Example], max_new_tokens: int = 32, batch_size: int = 8) -> list[str]:
    """Greedy answers, batched with left padding."""
    tok = processor.tokenizer
    side, tok.padding_side = tok.padding_side, "left"
    device = _device(model)
    answers = []
    try:
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            images = [im for ex in chunk for im in ex.images] or None
            inputs = processor(text=[prompt_text(processor, ex) for ex in chunk], images=images,
                               return_tensors="pt", padding=True)
            out = model.generate(**_to(inputs, device), max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
            answers += processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tok.padding_side = side
    return answers


def chain_predictions(model, processor, images, classes: list[str], max_new_tokens: int,
                      batch_size: int = 8) -> tuple[list[str], list[str | None]]:
    """(greedy `q_reason` chains, the class each CONCLUSION names or None): the reasoning readout."""
    texts = generate(model, processor, [single(im, q_reason(classes)) for im in images], max_new_tokens, batch_size)
    return texts, [conclusion_answer(t, classes) for t in texts]


def loglik_predictions(scores: np.ndarray, classes: list[str]) -> list[str]:
    return [classes[i] for i in scores.argmax(axis=1)]


def parsed_predictions(answers: list[str], classes: list[str]) -> list[str | None]:
    return [parse_answer(a, classes) for a in answers]


def accuracy(predictions: list[str | None], truth: list[str]) -> dict:
    """Accuracy (unparseable = wrong) and the parse-failure rate."""
    n = len(truth)
    correct = sum(p == t for p, t in zip(predictions, truth, strict=True))
    failed = sum(p is None for p in predictions)
    return {"accuracy": correct / n if n else float("nan"), "parse_failure_rate": failed / n if n else float("nan"),
            "n": n}
