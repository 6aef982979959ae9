"""A teacher that is any local image-text-to-text checkpoint, through transformers' Auto classes.

Batched sampling with left padding; the batch's sampling seed derives from its first
request, so a rerun with the same pending images samples the same answers (and the cache
makes reruns free anyway).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rdmldg.data.images import load_image
from rdmldg.params import HFTeacherParams
from rdmldg.teachers.base import OnResponse, Request, Response


def checkpoint_identity(path: Path) -> str:
    """Path + config hash + weight sizes: cheap, and changes when the checkpoint does."""
    path = Path(path).resolve()
    config = (path / "config.json").read_bytes() if (path / "config.json").exists() else b""
    sizes = sorted((p.name, p.stat().st_size) for p in path.glob("*.safetensors"))
    digest = hashlib.sha1(config + repr(sizes).encode()).hexdigest()[:12]
    return f"{path.name}:{digest}"


class HFTeacher:
    name = "hf"

    def __init__(self, p: HFTeacherParams, root: Path):
        import torch

        from rdmldg.models import checkpoints

        path = checkpoints.resolve(p.checkpoint, root, key="chains.hf.checkpoint")
        self.p = p
        self.model = checkpoint_identity(path)
        # the same loader as the base model's: InternVL and Qwen2-VL processors work without torchvision
        net, self.processor = checkpoints.load(path, trust_remote_code=p.trust_remote_code)
        self.processor.tokenizer.padding_side = "left"
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.net = net.to(self.device).eval()

    def decoding(self) -> dict:
        return {"temperature": self.p.temperature, "top_p": self.p.top_p, "max_new_tokens": self.p.max_new_tokens}

    def _batch(self, reqs: list[Request]) -> list[str]:
        import torch

        chats = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r.prompt}]}] for r in reqs]
        texts = [self.processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
        images = [load_image(r.item.path) for r in reqs]
        inputs = self.processor(text=texts, images=images, return_tensors="pt", padding=True).to(self.device)
        torch.manual_seed(reqs[0].seed)
        sample = self.p.temperature > 0
        with torch.inference_mode():
            out = self.net.generate(**inputs, max_new_tokens=self.p.max_new_tokens, do_sample=sample,
                                    **({"temperature": self.p.temperature, "top_p": self.p.top_p} if sample else {}))
        return self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def generate(self, requests: list[Request], on_response: OnResponse) -> None:
        for start in range(0, len(requests), self.p.batch_size):
            batch = requests[start:start + self.p.batch_size]
            for j, text in enumerate(self._batch(batch)):
                on_response(start + j, Response(text))
