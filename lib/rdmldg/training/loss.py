"""Eq. 1 of RD-MLDG (docs/science.md §1A), exactly:

    L = (1/B) Σ_i [ −log p(y_i | x_i, q_cls) − (1/T_i) Σ_t log p(r_it | r_i<t, x_i, q_reason) ]

per image i of the batch: the *summed* NLL of its label tokens, plus the NLL of its chain
*divided by that chain's own length* T_i; averaged over the B images (not over tokens).
Label and chain targets both end with the end-of-turn token, which counts as a target
token (our choice: the model must learn where the answer stops).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rdmldg.methods import CLS
from rdmldg.models.sequences import IGNORE


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed NLL, number of target tokens) per sequence, next-token shifted."""
    logits, target = logits[:, :-1].float(), labels[:, 1:]
    mask = target != IGNORE
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.clamp(min=0).reshape(-1), reduction="none")
    nll = nll.view_as(target) * mask
    return nll.sum(dim=1), mask.sum(dim=1)


def eq1(logits: torch.Tensor, labels: torch.Tensor, pathway: torch.Tensor, n_images: int) -> dict[str, torch.Tensor]:
    """The loss and its two terms (each already divided by the number of images)."""
    summed, count = sequence_nll(logits, labels)
    return eq1_from_sequences(summed, count, pathway, n_images)


def eq1_groups(logits: list[torch.Tensor], groups: list[dict], n_images: int) -> dict[str, torch.Tensor]:
    """Eq. 1 over a batch whose sequences come in groups of their own width (one per pathway)."""
    per_sequence = [sequence_nll(lg, g["labels"]) for lg, g in zip(logits, groups, strict=True)]
    return eq1_from_sequences(torch.cat([s for s, _ in per_sequence]), torch.cat([c for _, c in per_sequence]),
                              torch.cat([g["pathway"] for g in groups]), n_images)


def eq1_from_sequences(summed: torch.Tensor, count: torch.Tensor, pathway: torch.Tensor,
                       n_images: int) -> dict[str, torch.Tensor]:
    is_cls = pathway == CLS
    label_term = summed[is_cls].sum() / n_images
    reason_term = (summed[~is_cls] / count[~is_cls].clamp(min=1)).sum() / n_images
    return {"loss": label_term + reason_term, "label": label_term.detach(), "reasoning": reason_term.detach()}


def token_mean(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The standard causal-LM loss (mean over all target tokens of the batch) — NOT Eq. 1."""
    summed, count = sequence_nll(logits, labels)
    return summed.sum() / count.sum()
