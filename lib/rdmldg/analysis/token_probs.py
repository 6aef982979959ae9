"""Challenge 1 (docs/science.md §1A): how confident is the model in the ground-truth class tokens?

Under `q_cls` the class tokens are the whole answer; under `q_reason` they are the tokens
inside the teacher chain's CONCLUSION (teacher-forced). Reported: the share of class tokens
with p > 0.75 and with p < 0.25.
"""

from __future__ import annotations

import numpy as np
import torch

from rdmldg.chains import display_name, q_cls, q_reason
from rdmldg.training.collate import IGNORE, Collator, single


def _name_ids(processor, cls: str) -> list[int]:
    return processor.tokenizer(display_name(cls), add_special_tokens=False)["input_ids"]


def _class_positions(processor, target: str, cls: str) -> list[int]:
    """Indices, within the target's tokens, of the class name inside <CONCLUSION>."""
    tok = processor.tokenizer
    marker = target.rfind("<CONCLUSION>")
    if marker < 0:
        return []
    start = len(tok(target[: marker + len("<CONCLUSION>")], add_special_tokens=False)["input_ids"])
    name = _name_ids(processor, cls)
    full = tok(target, add_special_tokens=False)["input_ids"]
    if full[start:start + len(name)] != name:
        return []  # tokenised differently in context: skip rather than guess
    return list(range(start, start + len(name)))


@torch.inference_mode()
def class_token_probs(model, processor, items, classes: list[str], batch_size: int = 8) -> dict[str, np.ndarray]:
    """Probabilities of every ground-truth class token, under q_cls and under q_reason."""
    collate = Collator(processor)
    out = {"q_cls": [], "q_reason": []}
    for name, prompt in (("q_cls", q_cls(classes)), ("q_reason", q_reason(classes))):
        usable = [it for it in items if name == "q_cls" or it.chain]
        for start in range(0, len(usable), batch_size):
            chunk = usable[start:start + batch_size]
            targets = [display_name(it.label) if name == "q_cls" else it.chain for it in chunk]
            batch = collate([single(it.image, prompt, t) for it, t in zip(chunk, targets)])
            labels = batch.pop("labels")
            device = next(model.parameters()).device
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits[:, :-1].float().cpu()
            probs = torch.softmax(logits, -1)
            for row, (it, t) in enumerate(zip(chunk, targets)):
                first = int((labels[row] != IGNORE).nonzero()[0])  # position of the first target token
                picks = range(len(_name_ids(processor, it.label))) if name == "q_cls" else \
                    _class_positions(processor, t, it.label)
                for k in picks:  # probs[:, j] predicts the token at j + 1
                    out[name].append(float(probs[row, first + k - 1, labels[row, first + k]]))
    return {k: np.asarray(v) for k, v in out.items()}


def confidence_shares(probs: np.ndarray) -> dict[str, float]:
    return {"high (p>0.75)": float((probs > 0.75).mean()) if probs.size else float("nan"),
            "low (p<0.25)": float((probs < 0.25).mean()) if probs.size else float("nan"), "tokens": int(probs.size)}
