"""Self-aligned reasoning regularisation (docs/science.md §1A): the current model writes a chain for
every source training image (greedy, `q_reason`); a self-chain is kept only if it parses and
its CONCLUSION names the label. Images whose self-chain fails keep their previous chain
(`keep_previous`, our default) or lose their reasoning target (`drop`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from rdmldg.chains import q_reason, reason_kind
from rdmldg.models.readout import generate
from rdmldg.models.sequences import single
from rdmldg.teachers.base import judge
from rdmldg.training.data import guard
from rdmldg.training.pathways import TrainItem


def select(items: list[TrainItem], texts: list[str], classes: list[str], fallback: str) -> tuple[list[TrainItem], dict]:
    """Next round's items and this round's statistics, from the generated self-chains."""
    if fallback not in ("keep_previous", "drop"):
        raise ValueError(f"unknown SARR fallback '{fallback}' (keep_previous or drop)")
    nxt, reasons, correct = [], Counter(), 0
    for it, text in zip(items, texts, strict=True):
        chain, why = judge(text, it.label, classes)
        if chain is not None:
            nxt.append(replace(it, chain=chain.text()))
            correct += 1
        else:
            reasons[reason_kind(why)] += 1
            nxt.append(it if fallback == "keep_previous" else replace(it, chain=None))
    n = len(items)
    stats = {"images": n, "kept": correct, "rejection_rate": 1 - correct / n if n else 0.0,
             "conclusion_accuracy": correct / n if n else 0.0, "reasons": dict(reasons)}
    return nxt, stats


def check_room(processor, items: list[TrainItem], max_new_tokens: int) -> int:
    """The longest training chain in tokens; refuses a generation budget too short for it. A
    self-chain in the style the model was taught is about as long as its teacher's, and one
    cut off before its CONCLUSION is rejected whatever it says — SARR would measure the budget,
    not the model."""
    tok = processor.tokenizer
    longest = max((len(tok(it.chain, add_special_tokens=False)["input_ids"]) + 1 for it in items if it.chain),
                  default=0)
    if longest > max_new_tokens:
        raise ValueError(f"eval.chain_max_new_tokens ({max_new_tokens}) is shorter than the longest training chain "
                         f"({longest} tokens with its end of turn): SARR's self-chains in that style would be cut off "
                         f"before their CONCLUSION and rejected. Fix: set eval.chain_max_new_tokens to at least "
                         f"{longest} in params/eval.yaml")
    return longest


def self_chains(model, processor, items: list[TrainItem], classes: list[str], heldout: str, max_new_tokens: int,
                batch_size: int) -> list[str]:
    """Greedy, batched (KV-cached) generation of a chain per source training image, by the model
    in eval mode: a round that continues from an adopted or resumed stage holds a freshly
    wrapped model, which peft leaves in training mode, LoRA dropout on."""
    guard([it.domain for it in items], heldout, "SARR generation")
    model.eval()
    prompt = q_reason(classes)
    return generate(model, processor, [single(it.image, prompt) for it in items], max_new_tokens, batch_size)
