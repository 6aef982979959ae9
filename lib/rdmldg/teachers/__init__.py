"""Teachers that write DomainBed-Reasoning chains: attribute (offline), hf (local), openai (endpoint)."""

from __future__ import annotations

from pathlib import Path

from rdmldg.params import ChainsParams
from rdmldg.teachers.base import ChainRun, Item, Request, Response, Teacher, generate_chains, judge
from rdmldg.teachers.cache import ResponseCache, cache_key


def build_teacher(p: ChainsParams, root: Path) -> Teacher:
    if p.teacher == "attribute":
        from rdmldg.teachers.attribute import AttributeTeacher

        return AttributeTeacher(p.attribute.imperfect_rate)
    if p.teacher == "hf":
        from rdmldg.teachers.hf import HFTeacher

        return HFTeacher(p.hf, root)
    from rdmldg.teachers.openai_compat import OpenAICompatTeacher

    return OpenAICompatTeacher.from_params(p.openai)


__all__ = ["ChainRun", "Item", "Request", "Response", "ResponseCache", "Teacher", "build_teacher",
           "cache_key", "generate_chains", "judge"]
