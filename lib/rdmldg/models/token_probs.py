"""Challenge 1 (docs/science.md §1A): how confident is the model in the ground-truth class tokens?

Under `q_cls` the class tokens are the whole answer; under `q_reason` they are the tokens
inside the teacher chain's CONCLUSION (teacher-forced). Reported: the share of class tokens
with p > 0.75 and with p < 0.25.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from rdmldg.chains import display_name, q_cls, q_reason
from rdmldg.models.sequences import IGNORE, Collator, single


def _name_ids(processor, cls: str) -> list[int]:
    return processor.tokenizer(display_name(cls), add_special_tokens=False)["input_ids"]


def class_positions(processor, target: str, cls: str) -> list[int]:
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
    """Probabilities of every ground-truth class token, under q_cls and under q_reason, read in
    eval mode (a run whose stages were all finished earlier returns its model as peft wrapped it,
    in training mode)."""
    model.eval()
    collate = Collator(processor)
    out = {"q_cls": [], "q_reason": []}
    for name, prompt in (("q_cls", q_cls(classes)), ("q_reason", q_reason(classes))):
        usable = [it for it in items if name == "q_cls" or it.chain]
        for start in range(0, len(usable), batch_size):
            chunk = usable[start:start + batch_size]
            targets = [display_name(it.label) if name == "q_cls" else it.chain for it in chunk]
            batch = collate([single(it.image, prompt, t) for it, t in zip(chunk, targets, strict=True)])
            labels = batch.pop("labels")
            device = next(model.parameters()).device
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits[:, :-1].float().cpu()
            probs = torch.softmax(logits, -1)
            for row, (it, t) in enumerate(zip(chunk, targets, strict=True)):
                first = int((labels[row] != IGNORE).nonzero()[0])  # position of the first target token
                picks = range(len(_name_ids(processor, it.label))) if name == "q_cls" else \
                    class_positions(processor, t, it.label)
                for k in picks:  # probs[:, j] predicts the token at j + 1
                    out[name].append(float(probs[row, first + k - 1, labels[row, first + k]]))
    return {k: np.asarray(v) for k, v in out.items()}


PROBE_IMAGES = 32


def probe_items(train_items: list) -> list:
    """The Challenge-1 probe of a fold: about `PROBE_IMAGES` of its training images, evenly spaced
    (training images, because they carry teacher chains). The train and evaluate stages probe the
    same images, before and after fine-tuning."""
    return train_items[:: max(1, len(train_items) // PROBE_IMAGES)]


def confidence_shares(probs: np.ndarray) -> dict[str, float]:
    return {"high (p>0.75)": float((probs > 0.75).mean()) if probs.size else float("nan"),
            "low (p<0.25)": float((probs < 0.25).mean()) if probs.size else float("nan"), "tokens": int(probs.size)}


def challenge1_table(probes: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Per method and prompt: the share of class tokens with p > 0.75 ("high") and p < 0.25
    ("low"), and their mean p; `probes` has one row per token (method, prompt, p)."""
    marked = probes.assign(high=probes["p"] > 0.75, low=probes["p"] < 0.25)
    return marked.pivot_table(index="method", columns="prompt", values=["high", "low", "p"],
                              aggfunc="mean").reindex(methods)


def challenge1_metrics(table: pd.DataFrame, methods: list[str]) -> dict[str, dict[str, float]]:
    """`challenge1_table`'s high share and mean p, keyed "<prompt>_<high|p>" per method."""
    return {m: {f"{prompt}_{k}": table.loc[m, (k, prompt)] for k in ("high", "p")
                for prompt in ("q_cls", "q_reason") if (k, prompt) in table.columns} for m in methods}
