"""Two pathways per image in one batch, each image encoded once.

An item is an image with its label and (optionally) a reasoning chain. The batch holds,
for each image, a `q_cls` sequence (target: the class name) and/or a `q_reason` sequence
(target: the chain), as the method asks. Each pathway's sequences form a group padded to
their own width (a label sequence is a quarter of a chain's length: padded together, most of
an MTCT batch would be padding), and the language model runs once per group. The vision
tower runs once per image; its features are handed to every sequence of that image through
transformers' `mm_encoder_outputs` (LLaVA, InternVL). Other architectures (Qwen2-VL's M-RoPE
needs its own image grid per sequence) encode the image once per sequence.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from PIL import Image

from rdmldg.chains import display_name, q_cls, q_reason
from rdmldg.methods import CLS, REASON
from rdmldg.models.sequences import Collator, single

SHARED_ENCODING_TYPES = ("llava", "internvl")


def image_encoding(model_type: str, share: bool) -> str:
    """How this run encodes images, in words for the reports."""
    if not share:
        return "each sequence encodes its own image (train.share_image_encoding is off)"
    if model_type not in SHARED_ENCODING_TYPES:
        return f"each sequence encodes its own image ({model_type} needs its image grid per sequence)"
    return "each image through the vision tower once, its features shared by both pathways"


@dataclass
class TrainItem:
    image_id: str
    image: Image.Image
    label: str
    chain: str | None = None
    domain: str = ""


class PathwayCollator:
    """list[TrainItem] → {"groups": one padded batch per pathway present, each with `pathway` and
    `image_index` beside the usual keys; "n_images"; and every group's tokens flattened into
    "input_ids" / "attention_mask", which is what Trainer counts as tokens seen}."""

    def __init__(self, processor, classes: list[str], pathways: tuple[int, ...] = (CLS, REASON)):
        self.collate = Collator(processor)
        self.pathways = pathways
        self.prompts = {CLS: q_cls(classes), REASON: q_reason(classes)}

    def sequences(self, items: list[TrainItem]):
        for i, it in enumerate(items):
            if CLS in self.pathways:
                yield i, CLS, single(it.image, self.prompts[CLS], display_name(it.label))
            if REASON in self.pathways and it.chain:
                yield i, REASON, single(it.image, self.prompts[REASON], it.chain)

    def __call__(self, items: list[TrainItem]) -> dict:
        seqs = list(self.sequences(items))
        if not seqs:
            raise ValueError("a batch without any target: every item lacks the pathways this method trains")
        groups = []
        for pathway in self.pathways:
            mine = [(i, ex) for i, p, ex in seqs if p == pathway]
            if mine:
                group = self.collate([ex for _, ex in mine])
                group["pathway"] = torch.full((len(mine),), pathway)
                group["image_index"] = torch.tensor([i for i, _ in mine])
                groups.append(group)
        return {"groups": groups, "n_images": torch.tensor(len(items)),
                "input_ids": torch.cat([g["input_ids"].flatten() for g in groups]),
                "attention_mask": torch.cat([g["attention_mask"].flatten() for g in groups])}


def tile_rows(input_ids: torch.Tensor, rows: int, image_token_id: int) -> list[int]:
    """Rows of `pixel_values` each sequence's image takes. InternVL cuts an image into as many
    tiles as its aspect ratio asks, each tile filling the same number of image tokens, so a
    sequence's share of the rows is its share of the image tokens (one row each for LLaVA)."""
    tokens = (input_ids == image_token_id).sum(dim=1).tolist()
    total = sum(tokens)
    counts = [t * rows // total for t in tokens] if total else []
    if not total or sum(counts) != rows or any(c * total != t * rows for c, t in zip(counts, tokens, strict=True)):
        raise ValueError(f"cannot split {rows} pixel rows over image-token counts {tokens}: each sequence "
                         "must carry one image whose tiles all expand to the same number of tokens")
    return counts


MODEL_INPUTS_EXCLUDED = ("labels", "pathway", "image_index")


def forward(model, batch: dict, share_images: bool = True) -> list[torch.Tensor]:
    """Logits for every group of the batch (one tensor per pathway group, in order); each
    image through the vision tower once."""
    groups = [{k: v for k, v in g.items() if k not in MODEL_INPUTS_EXCLUDED} for g in batch["groups"]]
    inner = getattr(model, "module", model)  # DDP wraps the model: its config and tower are inside
    inner = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    if not (share_images and inner.config.model_type in SHARED_ENCODING_TYPES):
        return [model(**g).logits for g in groups]
    token = inner.config.image_token_id
    index = [g["image_index"].tolist() for g in batch["groups"]]
    pixels = [g.pop("pixel_values") for g in groups]
    # each sequence's rows of its group's pixel_values (an image may be several tiles)
    chunks = [torch.split(px, tile_rows(g["input_ids"], px.shape[0], token))
              for px, g in zip(pixels, groups, strict=True)]
    source = {}  # image -> its pixel rows, taken from the first sequence that shows it
    for k, idx in enumerate(index):
        for s, i in enumerate(idx):
            source.setdefault(i, chunks[k][s])
    images = sorted(source)
    encoded = inner.model.get_image_features(pixel_values=torch.cat([source[i] for i in images]), return_dict=True)
    pooled = encoded.pooler_output  # one entry per tile row of the encoded images (a tensor or a list)
    start, first = 0, {}
    for i in images:
        first[i] = start
        start += source[i].shape[0]
    logits = []
    for g, idx in zip(groups, index, strict=True):
        rows = [first[i] + r for i in idx for r in range(source[i].shape[0])]
        mine = copy.copy(encoded)
        mine.pooler_output = pooled[torch.tensor(rows)] if torch.is_tensor(pooled) else [pooled[r] for r in rows]
        logits.append(model(**g, mm_encoder_outputs={"image": mine}).logits)
    return logits
