"""From (images, prompt, target) examples to model batches, for any image-text-to-text processor.

The prompt goes through the processor's chat template (which expands image placeholders);
the target is tokenized on its own and appended with the end-of-turn token, so labels
cover exactly the answer and generation at test time starts from exactly the same prompt
ids. Batches are right-padded for training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image

IGNORE = -100


@dataclass
class Example:
    images: list[Image.Image]           # in the order their placeholders appear
    prompt: list[dict]                  # user content parts: {"type": "image"} / {"type": "text", "text": ...}
    target: str = ""                    # the answer to supervise ("" for inference)
    meta: dict = field(default_factory=dict)


def single(image: Image.Image, question: str, target: str = "", **meta) -> Example:
    return Example([image], [{"type": "image"}, {"type": "text", "text": question}], target, meta)


def prompt_text(processor, ex: Example) -> str:
    return processor.apply_chat_template([{"role": "user", "content": ex.prompt}], add_generation_prompt=True,
                                         tokenize=False)


def encode_prompt(processor, ex: Example) -> dict:
    """Processor outputs for one example's prompt (batch of one)."""
    return processor(text=[prompt_text(processor, ex)], images=ex.images or None, return_tensors="pt")


def target_ids(processor, target: str) -> list[int]:
    tok = processor.tokenizer
    return tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


class Collator:
    """Callable for DataLoader / Trainer: list[Example] → padded batch with labels."""

    def __init__(self, processor, max_length: int | None = None):
        self.processor = processor
        self.pad_id = processor.tokenizer.pad_token_id
        self.max_length = max_length

    def encode(self, ex: Example) -> dict:
        enc = encode_prompt(self.processor, ex)
        prompt = enc["input_ids"][0].tolist()
        answer = target_ids(self.processor, ex.target) if ex.target else []
        ids = prompt + answer
        if self.max_length and len(ids) > self.max_length:
            raise ValueError(f"example of {len(ids)} tokens exceeds max_length {self.max_length}")
        extras, per_token = {}, {}
        for k, v in enc.items():
            if k in ("input_ids", "attention_mask"):
                continue
            if v.dim() == 2 and v.shape == (1, len(prompt)):  # e.g. Qwen2-VL's mm_token_type_ids
                per_token[k] = v[0].tolist() + [0] * len(answer)  # answer tokens are plain text
            else:
                extras[k] = v
        return {"input_ids": ids, "labels": [IGNORE] * len(prompt) + answer, "n_target": len(answer),
                "per_token": per_token, **extras}

    def __call__(self, examples: list[Example]) -> dict:
        rows = [self.encode(ex) for ex in examples]
        width = max(len(r["input_ids"]) for r in rows)
        batch = {
            "input_ids": torch.tensor([r["input_ids"] + [self.pad_id] * (width - len(r["input_ids"])) for r in rows]),
            "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"]))
                                            for r in rows]),
            "labels": torch.tensor([r["labels"] + [IGNORE] * (width - len(r["labels"])) for r in rows]),
        }
        for key in rows[0]["per_token"]:
            batch[key] = torch.tensor([r["per_token"][key] + [0] * (width - len(r["per_token"][key])) for r in rows])
        for key in rows[0]:
            if key not in batch and torch.is_tensor(rows[0][key]):
                batch[key] = torch.cat([r[key] for r in rows], dim=0)  # images of all examples, in order
        return batch
