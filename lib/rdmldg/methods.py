"""The methods the study compares (STUDY.md §1A), as data: what each trains on."""

from __future__ import annotations

from dataclasses import dataclass

from rdmldg.training.loss import CLS, REASON


@dataclass(frozen=True)
class Method:
    name: str
    pathways: tuple[int, ...]   # CLS: q_cls → class name; REASON: q_reason → chain
    sarr: bool                  # followed by self-aligned reasoning rounds
    description: str


METHODS = {
    "label": Method("label", (CLS,), False, "label SFT: q_cls → class name"),
    "reasoning": Method("reasoning", (REASON,), False, "reasoning SFT: q_reason → teacher chain"),
    "mtct": Method("mtct", (CLS, REASON), False, "multi-task cross-training: both pathways, Eq. 1"),
    "sarr": Method("sarr", (REASON,), True, "reasoning SFT, then SARR rounds on self-chains (no q_cls)"),
    "rdmldg": Method("rdmldg", (CLS, REASON), True, "MTCT, then SARR rounds with both terms (Eq. 2)"),
}


def get(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown method '{name}'; known: {', '.join(METHODS)}")
    return METHODS[name]
