"""Two pathways per image in one batch, each image encoded once.

An item is an image with its label and (optionally) a reasoning chain. The batch holds,
for each image, a `q_cls` sequence (target: the class name) and/or a `q_reason` sequence
(target: the chain), as the method asks. The vision tower runs once per image; its
features are handed to the language model for every sequence of that image through
transformers' `mm_encoder_outputs` (LLaVA, InternVL). Other architectures (Qwen2-VL's
M-RoPE needs its own image grid per sequence) encode the image once per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from rdmldg.chains import display_name, q_cls, q_reason
from rdmldg.training.collate import Collator, single
from rdmldg.training.loss import CLS, REASON

SHARED_ENCODING_TYPES = ("llava", "internvl")


@dataclass
class TrainItem:
    image_id: str
    image: Image.Image
    label: str
    chain: str | None = None
    domain: str = ""


class PathwayCollator:
    """list[TrainItem] → batch with `pathway`, `image_index`, `n_images` beside the usual keys."""

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
        batch = self.collate([ex for _, _, ex in seqs])
        batch["pathway"] = torch.tensor([p for _, p, _ in seqs])
        batch["image_index"] = torch.tensor([i for i, _, _ in seqs])
        batch["n_images"] = torch.tensor(len(items))
        return batch


def _rows_per_sequence(batch: dict) -> int:
    rows = batch["pixel_values"].shape[0]
    n_seq = batch["input_ids"].shape[0]
    if rows % n_seq:
        raise ValueError("images differ in tile count: cannot share their encoding")
    return rows // n_seq


def forward(model, batch: dict, share_images: bool = True):
    """Logits for every sequence of the batch; each image through the vision tower once."""
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "pathway", "image_index", "n_images")}
    inner = getattr(model, "module", model)  # DDP wraps the model: its config and tower are inside
    inner = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    if not (share_images and inner.config.model_type in SHARED_ENCODING_TYPES):
        return model(**inputs).logits
    per = _rows_per_sequence(batch)
    index = batch["image_index"].tolist()
    images = sorted(set(index))  # images with at least one sequence (a chainless image may have none)
    first = [index.index(i) for i in images]  # the first sequence of each image carries its pixels
    unique = inputs.pop("pixel_values").view(len(index), per, *batch["pixel_values"].shape[1:])[first].flatten(0, 1)
    encoded = inner.model.get_image_features(pixel_values=unique, return_dict=True)
    pooled = encoded.pooler_output  # one entry per tile row of `unique` (a tensor or a list)
    slot = {image: k for k, image in enumerate(images)}
    rows = [slot[i] * per + r for i in index for r in range(per)]
    encoded.pooler_output = pooled[torch.tensor(rows)] if torch.is_tensor(pooled) else [pooled[r] for r in rows]
    return model(**inputs, mm_encoder_outputs={"image": encoded}).logits
