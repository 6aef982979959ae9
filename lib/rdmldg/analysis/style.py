"""How two sets of chains differ in style: length, vocabulary, overlap."""

from __future__ import annotations

import re

import pandas as pd

from rdmldg.chains import SECTIONS, parse_chain


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def style_summary(chains: dict[str, list[str]]) -> pd.DataFrame:
    """Per named set: share that parses, mean words, vocabulary size, and the vocabulary
    overlap (Jaccard) with every other set."""
    vocab = {name: set(w for t in texts for w in words(t)) for name, texts in chains.items()}
    rows = {}
    for name, texts in chains.items():
        parsed = [parse_chain(t) for t in texts]
        row = {"chains": len(texts), "parses": sum(p is not None for p in parsed) / max(len(texts), 1),
               "mean_words": sum(len(words(t)) for t in texts) / max(len(texts), 1),
               "vocabulary": len(vocab[name])}
        for other in chains:
            if other != name:
                union = vocab[name] | vocab[other]
                row[f"overlap_with_{other}"] = len(vocab[name] & vocab[other]) / len(union) if union else 0.0
        rows[name] = row
    return pd.DataFrame(rows).T


def section_words(texts: list[str]) -> pd.DataFrame:
    """Mean words per section over the chains that parse."""
    parsed = [p for p in (parse_chain(t) for t in texts) if p is not None]
    return pd.Series({s: sum(len(words(getattr(p, s.lower()))) for p in parsed) / max(len(parsed), 1)
                      for s in SECTIONS}, name="mean_words").to_frame()


def self_vs_teacher_metrics(style: pd.DataFrame, self_row: str, teacher_row: str = "teacher") -> dict[str, float]:
    """The base stage's summary of `style_summary`: how often its own chains parse, how long
    they and the teacher's are, and their vocabulary overlap."""
    return {"self_chain_parse_rate": float(style.loc[self_row, "parses"]),
            "self_chain_mean_words": float(style.loc[self_row, "mean_words"]),
            "teacher_chain_mean_words": float(style.loc[teacher_row, "mean_words"]),
            "vocabulary_overlap": float(style.loc[teacher_row, f"overlap_with_{self_row}"])}
