"""The chains stage's files under data/chains: one record per source image whose teacher chain
was accepted, one per image left without, and a summary. Written by `rdmldg.chain_dataset`;
read here, below every stage that trains or analyses on them."""

from __future__ import annotations

from pathlib import Path

from rdmldg.io import read_jsonl

CHAINS, FAILED, SUMMARY = "chains.jsonl", "failed.jsonl", "summary.json"


def read(out_dir: Path) -> tuple[list[dict], list[dict]]:
    """(accepted, failed) records, in the order the stage wrote them."""
    out_dir = Path(out_dir)
    if not (out_dir / CHAINS).exists():
        raise FileNotFoundError(f"no {CHAINS} in {out_dir}: run the chains stage first (dvc repro chains)")
    return read_jsonl(out_dir / CHAINS), read_jsonl(out_dir / FAILED)


def teacher_chains(out_dir: Path) -> dict[str, str]:
    """image_id → its accepted teacher chain (one per image)."""
    return {r["image_id"]: r["text"] for r in read(out_dir)[0]}
