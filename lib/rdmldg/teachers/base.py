"""What every teacher shares: requests, the candidate loop, the filter, the cache.

For each image the teacher is asked for up to K candidates with the reasoning prompt (which
names the options, never the label); the first candidate whose five sections parse and whose
CONCLUSION names the true class is kept, and every rejection is recorded with its reason.
Candidates are asked in waves (candidate k for every image still without a chain), so
batched and concurrent teachers stay busy, and each answer is cached the moment it arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from rdmldg.chains import check_chain, parse_answer
from rdmldg.seeding import derive_seed
from rdmldg.teachers.cache import ResponseCache, cache_key


@dataclass(frozen=True)
class Item:
    """An image that needs a chain."""

    image_id: str
    path: Path
    sha1: str
    domain: str
    class_name: str
    attributes: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Request:
    item: Item
    prompt: str
    candidate: int
    seed: int


@dataclass(frozen=True)
class Response:
    text: str | None
    error: str | None = None


OnResponse = Callable[[int, Response], None]


class Teacher(Protocol):
    name: str    # teacher kind, part of the cache key
    model: str   # what answers (model name, checkpoint identity), part of the cache key

    def decoding(self) -> dict:
        """Decoding parameters that change the answers (part of the cache key)."""

    def generate(self, requests: list[Request], on_response: OnResponse) -> None:
        """Answer every request, calling on_response(index, response) as each arrives."""


def judge(text: str, true_class: str, classes: list[str]) -> tuple[object, str | None]:
    """(chain, None) for an acceptable candidate, else (None, reason)."""
    chain, why = check_chain(text)
    if chain is None:
        return None, why
    answer = parse_answer(chain.conclusion, classes)
    if answer is None:
        return None, f"unparseable conclusion: {chain.conclusion[:60]}"
    if answer != true_class:
        return None, f"wrong conclusion: {answer}"
    return chain, None


@dataclass
class ChainRun:
    accepted: list[dict]
    failed: list[dict]
    requested: int = 0
    from_cache: int = 0

    @property
    def teacher_calls(self) -> int:
        return self.requested - self.from_cache


def _key(teacher: Teacher, req: Request) -> str:
    return cache_key(teacher.name, teacher.model, req.prompt, req.item.sha1,
                     {**teacher.decoding(), "seed": req.seed}, req.candidate)


def _ask(teacher: Teacher, reqs: list[Request], cache: ResponseCache, bar) -> tuple[list[Response], int]:
    """Responses for `reqs` in order, cached ones first; returns (responses, how many were cached)."""
    keys = [_key(teacher, r) for r in reqs]
    cached = cache.get_many(keys)
    out: list[Response | None] = [Response(cached[k]) if k in cached else None for k in keys]
    todo = [i for i, r in enumerate(out) if r is None]
    bar.update(len(reqs) - len(todo))
    lock = threading.Lock()

    def on_response(j: int, resp: Response) -> None:
        i = todo[j]
        if resp.text is not None:
            cache.put(keys[i], resp.text)  # stored at once: an interruption loses nothing paid for
        with lock:
            out[i] = resp
            bar.update(1)

    if todo:
        teacher.generate([reqs[i] for i in todo], on_response)
    missing = [i for i, r in enumerate(out) if r is None]
    if missing:
        raise RuntimeError(f"teacher {teacher.name} returned no answer for {len(missing)} request(s)")
    return out, len(reqs) - len(todo)


def generate_chains(teacher: Teacher, items: list[Item], classes: list[str], prompt: str,
                    candidates: int, cache: ResponseCache, seed: int, progress: bool = True) -> ChainRun:
    rejections: dict[str, list[str]] = {it.image_id: [] for it in items}
    kept: dict[str, dict] = {}
    run = ChainRun([], [])
    pending = list(items)
    with tqdm(total=len(items), desc=f"chains ({teacher.name})", unit="answer",
              disable=not progress, mininterval=2) as bar:
        for k in range(candidates):
            if not pending:
                break
            if k:
                bar.total += len(pending)  # a new wave for the images still without a chain
                bar.refresh()
            reqs = [Request(it, prompt, k, derive_seed(seed, "chain", it.image_id, k)) for it in pending]
            responses, n_cached = _ask(teacher, reqs, cache, bar)
            run.requested += len(reqs)
            run.from_cache += n_cached
            still = []
            for it, resp in zip(pending, responses, strict=True):
                chain, why = (None, f"request failed: {resp.error}") if resp.text is None else \
                    judge(resp.text, it.class_name, classes)
                if chain is None:
                    rejections[it.image_id].append(why)
                    still.append(it)
                else:
                    kept[it.image_id] = {"chain": chain.as_dict(), "text": chain.text(), "candidate": k,
                                         "raw": resp.text}
            pending = still
    for it in items:
        base = {"image_id": it.image_id, "domain": it.domain, "class_name": it.class_name,
                "teacher": teacher.name, "model": teacher.model, "rejections": rejections[it.image_id]}
        if it.image_id in kept:
            run.accepted.append({**base, **kept[it.image_id], "candidates_tried": kept[it.image_id]["candidate"] + 1})
        else:
            run.failed.append({**base, "candidates_tried": len(rejections[it.image_id])})
    return run
