"""SARR's self-chains from a vLLM server instead of the training process.

At scale, greedy generation of a chain for every source image is the slow part of a SARR
round; an inference engine does it many times faster than `generate()`. The server holds the
base model (`vllm serve <checkpoint> --enable-lora --max-lora-rank 8`, with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`); each round, the adapter the previous stage saved is
loaded under a name of its own through vLLM's `load_lora_adapter` endpoint, and every image
is asked the exact `q_reason` prompt of local generation, greedily, naming that adapter as the
model. The adapter folder must be readable by the server at the same path (one machine, or a
shared filesystem).

Requests, retries and the key handling are the chains teacher's (`teachers.openai_compat`).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import httpx

from rdmldg.chains import q_reason
from rdmldg.params import OpenAITeacherParams, ServedGeneratorParams
from rdmldg.teachers.base import Request
from rdmldg.teachers.openai_compat import OpenAICompatTeacher
from rdmldg.training.data import guard
from rdmldg.training.pathways import TrainItem


class ServedGenerationError(RuntimeError):
    pass


def png_data_url(image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class AdapterClient(OpenAICompatTeacher):
    """Greedy chat completions from one LoRA adapter of the served model."""

    def __init__(self, p: ServedGeneratorParams, adapter_name: str, max_tokens: int):
        as_teacher = OpenAITeacherParams(
            base_url=p.base_url, model=adapter_name, api_key_env=p.api_key_env, timeout_s=p.timeout_s,
            max_retries=p.max_retries, backoff_s=p.backoff_s, concurrency=p.concurrency, temperature=0.0, top_p=1.0,
            max_tokens=max_tokens)
        super().__init__(as_teacher, os.environ.get(p.api_key_env) or None)

    def payload(self, req: Request) -> dict:
        # the local prompt exactly: the image, then q_reason (sequences.single); greedy
        return {"model": self.p.model, "temperature": 0.0, "top_p": 1.0, "max_tokens": self.p.max_tokens,
                "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": png_data_url(req.item.image)}},
                    {"type": "text", "text": req.prompt}]}]}

    def load_adapter(self, path: Path) -> None:
        """Register the adapter with the server; one it already holds under this name is fine."""
        url = self.p.base_url.rstrip("/") + "/load_lora_adapter"
        body = {"lora_name": self.p.model, "lora_path": str(Path(path).resolve())}
        try:
            r = httpx.post(url, json=body, headers=self._headers, timeout=self.p.timeout_s)
        except httpx.TransportError as exc:
            raise ServedGenerationError(
                f"cannot reach the SARR generation server at {self.p.base_url} ({type(exc).__name__}: {exc}). Fix: "
                "start `vllm serve <base checkpoint> --enable-lora` there "
                "(with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True), "
                "or set train.sarr.generator: local in params/train.yaml") from exc
        if r.status_code != 200 and "already" not in r.text:
            raise ServedGenerationError(f"the server refused adapter {path} ({url}: HTTP {r.status_code}: "
                                        f"{r.text[:300]}). Fix: start vLLM with --enable-lora, a --max-lora-rank of "
                                        "at least train.lora.rank, and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")


def served_chains(p: ServedGeneratorParams, adapter: Path, adapter_name: str, items: list[TrainItem],
                  classes: list[str], heldout: str, max_new_tokens: int) -> list[str]:
    """One greedy chain per item from the served model with `adapter`, in the items' order."""
    guard([it.domain for it in items], heldout, "SARR generation")
    client = AdapterClient(p, adapter_name, max_new_tokens)
    client.load_adapter(adapter)
    prompt = q_reason(classes)
    texts: list[str | None] = [None] * len(items)
    errors: list[str] = []

    def keep(i, response):
        texts[i] = response.text
        if response.text is None:
            errors.append(f"{items[i].image_id}: {response.error}")

    client.generate([Request(it, prompt, 0, 0) for it in items], keep)
    if errors:
        raise ServedGenerationError(f"{len(errors)} of {len(items)} self-chain requests failed (first: {errors[0]}); "
                                    "the round is not trained on a partial set. Fix the server and rerun: finished "
                                    "stages are kept")
    return texts
