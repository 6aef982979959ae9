"""The DomainBed-Reasoning chain dataset: which images get chains, and what the stage writes.

Chains are written for the chosen splits of every domain that is a *source* in at least one
fold; a domain that is only ever held out gets none, so its images can never reach training.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from rdmldg.chains import SECTIONS, q_reason, reason_kind
from rdmldg.data.chain_records import CHAINS, FAILED, SUMMARY
from rdmldg.data.manifest import image_root, read_prepared, split_column
from rdmldg.io import atomic_write_text, write_jsonl
from rdmldg.params import Params
from rdmldg.teachers import ChainRun, Item, ResponseCache, build_teacher, generate_chains


class NoChainAccepted(RuntimeError):
    """Every candidate of every image was rejected: there is no chain dataset to write."""


def refuse_if_empty(run: ChainRun, teacher_name: str, teacher_model: str, candidates: int) -> None:
    if run.accepted:
        return
    reasons = Counter(why.split(":")[0] for r in run.failed for why in r["rejections"]).most_common(3)
    shown = "; ".join(f"{why} ({n}x)" for why, n in reasons) or "no image to ask about"
    raise NoChainAccepted(
        f"no chain was accepted: all {len(run.failed)} images were rejected after up to {candidates} "
        f"candidates each from teacher {teacher_name} ({teacher_model}). Most frequent reasons: {shown}. "
        "Fix: check that the teacher answers in the five-section format (see q_reason in the chains report), "
        "raise chains.candidates, or choose another teacher in params/chains.yaml; nothing was written")


def source_domains(domains: list[str], heldout: list[str]) -> list[str]:
    """Domains that serve as a source in some fold (all, unless one domain is the only fold)."""
    return [d for d in domains if any(d != h for h in heldout)]


def source_items(manifest: pd.DataFrame, root: Path, domains: list[str], splits: list[str],
                 split_cols: list[str]) -> list[Item]:
    """Images of `domains` that fall in one of `splits` under any trial seed's split column."""
    in_split = manifest[split_cols].isin(splits).any(axis=1)
    rows = manifest[manifest["domain"].isin(domains) & in_split]
    attr_cols = [c for c in manifest.columns if c.startswith("attr_")]
    return [Item(r["image_id"], root / r["path"], r["sha1"], r["domain"], r["class_name"],
                 {c.removeprefix("attr_"): r[c] for c in attr_cols if r[c] != ""})
            for r in rows.to_dict("records")]


def build(p: Params, project_root: Path, out_dir: Path, progress: bool = True) -> ChainRun:
    """Generate (or take from the cache) a chain per source image; write the dataset atomically."""
    manifest, info = read_prepared(project_root / "data" / "prepared")
    root = image_root(info, project_root)
    domains = source_domains(info["domains"], p.heldout_domains())
    items = source_items(manifest, root, domains, p.chains.splits, [split_column(t) for t in p.data.trial_seeds])
    teacher = build_teacher(p.chains, project_root)
    cache = ResponseCache(project_root / p.chains.cache_dir / "teacher_responses.sqlite")
    try:
        run = generate_chains(teacher, items, info["classes"], q_reason(info["classes"]),
                              p.chains.candidates, cache, p.chains.seed, progress)
    finally:
        cache.close()
    refuse_if_empty(run, teacher.name, teacher.model, p.chains.candidates)
    write_jsonl(out_dir / CHAINS, run.accepted)
    write_jsonl(out_dir / FAILED, run.failed)
    # what the data is, not how this run got it: answers taken from the cache are run info (the
    # stage records them in reports/runinfo), or a cached rerun would change a DVC output
    atomic_write_text(out_dir / SUMMARY, json.dumps(
        {"images": len(items), "accepted": len(run.accepted), "failed": len(run.failed),
         "requested": run.requested, "teacher": teacher.name,
         "model": teacher.model, "domains": domains, "splits": p.chains.splits}, indent=2, sort_keys=True) + "\n")
    return run


# --------------------------------------------------------------------------- report tables
def first_per_domain(rows: list[dict]) -> list[dict]:
    """The first row of each domain, in the order the domains first appear."""
    first: dict[str, dict] = {}
    for r in rows:
        first.setdefault(r["domain"], r)
    return list(first.values())


def rejection_table(accepted: list[dict], failed: list[dict]) -> pd.DataFrame:
    """Per domain: candidates tried, rejected, the rejection rate and images left without a chain."""
    rows = [{"domain": r["domain"], "tried": r["candidates_tried"], "rejected": len(r["rejections"]),
             "no_chain": int("chain" not in r)} for r in accepted + failed]
    df = pd.DataFrame(rows).groupby("domain").sum()
    df.loc["all"] = df.sum()
    df["rejection_rate"] = df["rejected"] / df["tried"]
    return df


def reason_table(accepted: list[dict], failed: list[dict]) -> pd.DataFrame:
    """Rejections per domain × reason kind."""
    counts = Counter((r["domain"], reason_kind(why)) for r in accepted + failed for why in r["rejections"])
    if not counts:
        return pd.DataFrame()
    s = pd.Series(counts)
    return s.unstack(fill_value=0).rename_axis(index="domain", columns="reason")


def coverage(accepted: list[dict], failed: list[dict]) -> pd.DataFrame:
    """Share of images with an accepted chain, per domain × class."""
    df = pd.DataFrame([{"domain": r["domain"], "class_name": r["class_name"], "ok": "chain" in r}
                       for r in accepted + failed])
    return df.pivot_table(index="domain", columns="class_name", values="ok", aggfunc="mean")


def section_lengths(accepted: list[dict]) -> pd.DataFrame:
    """Words per section (long format: section, words)."""
    return pd.DataFrame([{"section": s, "words": len(r["chain"][s.lower()].split())}
                         for r in accepted for s in SECTIONS])


def _mentions(text: str, words) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in words)


def nuisance_check(accepted: list[dict], attributes: pd.DataFrame, nuisance_vocab: dict[str, list[str]],
                   style_words: dict[str, list[str]]) -> pd.DataFrame:
    """Per domain: how often the CAPTION names the image's own colour and style, and how often
    the REASONING names any nuisance at all (it should not)."""
    attrs = attributes.set_index("image_id")
    every_nuisance = sorted({w for words in (*nuisance_vocab.values(), *style_words.values()) for w in words})
    rows = []
    for r in accepted:
        a = attrs.loc[r["image_id"]]
        rows.append({
            "domain": r["domain"],
            "caption_names_colour": (_mentions(r["chain"]["caption"], [str(a.get("attr_colour", ""))])
                                     if a.get("attr_colour", "") else None),
            "caption_names_style": _mentions(r["chain"]["caption"], style_words.get(r["domain"], [])),
            "reasoning_names_a_nuisance": _mentions(r["chain"]["reasoning"], every_nuisance),
        })
    return pd.DataFrame(rows).groupby("domain").mean(numeric_only=False).astype(float)
