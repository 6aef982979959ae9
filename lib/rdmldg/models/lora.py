"""LoRA in both the vision encoder and the language model, chosen by module-name pattern.

The patterns cover the attention and MLP projections of the architectures the study uses:
LLaVA (SigLIP/CLIP tower), InternVL (InternViT) and Qwen2-VL (its ViT), each with a
Qwen2/Llama-style decoder, plus the convolutions of the embedded model's conv stem (its
tower is mostly stem: one encoder layer alone would leave LoRA little of the tower to adapt).
The projector between them stays frozen, as in the paper.
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager

import pandas as pd

VISION = (r".*(?:vision_tower|visual)\..*\."
          r"(?:q_proj|k_proj|v_proj|out_proj|projection_layer|qkv|proj|fc1|fc2|stem\.\d+\.conv)")
LANGUAGE = r".*language_model\..*\.(?:q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def target_pattern(vision: bool = True, language: bool = True) -> str:
    parts = ([VISION] if vision else []) + ([LANGUAGE] if language else [])
    if not parts:
        raise ValueError("LoRA needs at least one of vision, language")
    return "|".join(f"(?:{p})" for p in parts)


def add_lora(model, rank: int = 8, alpha: int = 16, dropout: float = 0.05, vision: bool = True,
             language: bool = True, token_embeddings: bool = False):
    """The model wrapped with LoRA adapters; base weights frozen. With `token_embeddings`, every
    row of the decoder's token embedding trains too (peft's trainable tokens; the output layer
    follows where it is tied to the embedding): LoRA changes the hidden states but cannot make a
    word the decoder never learnt to emit any likelier."""
    from peft import LoraConfig, get_peft_model

    tokens = {"trainable_token_indices": list(range(model.get_input_embeddings().num_embeddings))} \
        if token_embeddings else {}
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_pattern(vision, language),
                        bias="none", **tokens)
    with _peft_wrapping():
        return get_peft_model(model, config)


def load_adapter(model, folder):
    """The model wrapped with the LoRA adapter saved in `folder`."""
    from peft import PeftModel

    with _peft_wrapping():
        return PeftModel.from_pretrained(model, folder)


@contextmanager
def _peft_wrapping():
    """peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` whenever it wraps a
    model; nothing of ours touches it, so only that one warning is silenced, only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _part(name: str) -> str:
    if re.search(r"(?:vision_tower|visual)\.", name):
        return "vision"
    if "language_model." in name or "lm_head" in name:
        return "language"
    return "other"


def trainable_report(model) -> pd.DataFrame:
    """Trainable and total parameters, by part (vision / language / other)."""
    rows = [{"part": _part(n), "trainable": p.numel() if p.requires_grad else 0, "total": p.numel()}
            for n, p in model.named_parameters()]
    table = pd.DataFrame(rows).groupby("part").sum()
    table.loc["all"] = table.sum()
    table["share"] = table["trainable"] / table["total"]
    return table
