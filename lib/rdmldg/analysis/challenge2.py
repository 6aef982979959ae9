"""Challenge 2 (docs/science.md §1A): teacher chains vs the model's own chains as SFT targets.

On one fold, the base model writes a chain for source training images (greedy, `q_reason`);
the images whose self-chain parses and concludes with the label form the experiment's set.
Two reasoning-only LoRA fine-tunes start from the same base with the same settings, one on
the teacher's chains of those images, one on the model's own. Reported per condition:

* target-probability gain: mean probability of the ground-truth class tokens inside the
  CONCLUSION (teacher-forced on that condition's chains), after minus before, in points;
* entropy reduction per token: the predictive entropy at each chain token before minus
  after; tokens ranked by their mean reduction (tokens seen at least `min_count` times);
  the overlap of the two top-k lists says whether both targets teach the same tokens.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from rdmldg.analysis.published import CHALLENGE2_GAIN_POINTS
from rdmldg.chains import q_reason
from rdmldg.data import split_column
from rdmldg.methods import REASON
from rdmldg.models.sequences import IGNORE, Collator, single
from rdmldg.models.token_probs import class_positions
from rdmldg.params import Params, TrainParams
from rdmldg.seeding import derive_seed, seeded_sample
from rdmldg.teachers.base import judge
from rdmldg.training import data as train_data
from rdmldg.training.pathways import TrainItem
from rdmldg.training.sarr import self_chains
from rdmldg.training.trainer import eq1_trainer, train, with_lora


def experiment_items(base, processor, items: list[TrainItem], classes: list[str], heldout: str,
                     max_new_tokens: int, batch_size: int) -> tuple[list[TrainItem], list[TrainItem], dict]:
    """(teacher items, self items) on the same images: those with a teacher chain whose base
    self-chain is correct; plus the self-chain yield."""
    items = [it for it in items if it.chain]
    texts = self_chains(base, processor, items, classes, heldout, max_new_tokens, batch_size)
    teacher, own = [], []
    for it, text in zip(items, texts, strict=True):
        chain, _ = judge(text, it.label, classes)
        if chain is not None:
            teacher.append(it)
            own.append(replace(it, chain=chain.text()))
    return teacher, own, {"images": len(items), "self_correct": len(own)}


@torch.inference_mode()
def token_table(model, processor, items: list[TrainItem], classes: list[str], batch_size: int = 8) -> pd.DataFrame:
    """One row per chain token: item, position, token id, p(token), entropy, and whether it is a
    class token inside the CONCLUSION."""
    model.eval()
    collate, prompt, rows = Collator(processor), q_reason(classes), []
    device = next(model.parameters()).device
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        batch = collate([single(it.image, prompt, it.chain) for it in chunk])
        labels = batch.pop("labels")
        logits = model(**{k: v.to(device) for k, v in batch.items()}).logits[:, :-1].float().cpu()
        logp = torch.log_softmax(logits, -1)
        entropy = -(logp.exp() * logp).sum(-1)
        target = labels[:, 1:]
        for row, it in enumerate(chunk):
            at = (target[row] != IGNORE).nonzero()[:, 0]
            cls_at = set(class_positions(processor, it.chain, it.label))
            ids = target[row, at]
            p = logp[row, at, ids].exp()
            for k, (pos, tid) in enumerate(zip(at.tolist(), ids.tolist(), strict=True)):
                rows.append({"item": start + row, "position": k, "token": tid, "p": float(p[k]),
                             "entropy": float(entropy[row, pos]), "class_token": k in cls_at})
    return pd.DataFrame(rows)


def fine_tune(load_base, processor, items: list[TrainItem], classes: list[str], p: TrainParams, seed: int,
              epochs: int, work: Path):
    """A reasoning-only LoRA fine-tune of a freshly loaded base (LoRA is injected in place)."""
    torch.manual_seed(seed)
    model = with_lora(load_base(), p.lora)
    shutil.rmtree(work, ignore_errors=True)
    train(eq1_trainer(model, processor, items, classes, (REASON,), p, seed, work, epochs=epochs), "never")
    shutil.rmtree(work, ignore_errors=True)
    return model


def gain_and_entropy(before: pd.DataFrame, after: pd.DataFrame, processor, top_k: int, min_count: int) -> dict:
    """Target-probability gain (points) and the top-k entropy-reduction tokens."""
    cls_b, cls_a = before[before["class_token"]], after[after["class_token"]]
    merged = before[["token", "entropy"]].assign(reduction=before["entropy"] - after["entropy"])
    by_token = merged.groupby("token")["reduction"].agg(["mean", "count"])
    top = by_token[by_token["count"] >= min_count].sort_values("mean", ascending=False).head(top_k)
    decode = processor.tokenizer.convert_ids_to_tokens
    return {"target_p_before": float(cls_b["p"].mean()), "target_p_after": float(cls_a["p"].mean()),
            "target_gain_points": float(100 * (cls_a["p"].mean() - cls_b["p"].mean())),
            "mean_entropy_reduction": float(merged["reduction"].mean()),
            "top_tokens": [{"token": decode(int(t)), "reduction": float(r["mean"]), "count": int(r["count"])}
                           for t, r in top.iterrows()]}


def overlap(top_a: list[dict], top_b: list[dict]) -> float:
    a, b = {t["token"] for t in top_a}, {t["token"] for t in top_b}
    return len(a & b) / max(1, min(len(a), len(b)))


def summary_table(results: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame({k: {c: v[c] for c in ("target_p_before", "target_p_after", "target_gain_points",
                                               "mean_entropy_reduction")} for k, v in results.items()}).T


def empty_reason(stats: dict, minimum: int) -> str | None:
    if stats["self_correct"] < minimum:
        return (f"only {stats['self_correct']} of {stats['images']} base self-chains conclude correctly "
                f"(need {minimum}); raise eval.analysis.challenge2_images")
    return None



@dataclass
class Challenge2:
    fold: str
    counts: dict             # images tried, and those whose base self-chain concluded correctly
    skipped: str | None      # why the experiment did not run, if it did not
    conditions: dict         # "teacher" / "self" → gain_and_entropy
    top_token_overlap: float | None

    def metrics(self) -> dict:
        runs = {k: {kk: vv for kk, vv in v.items() if kk != "top_tokens"} for k, v in self.conditions.items()}
        shared = {} if self.top_token_overlap is None else {"top_token_overlap": self.top_token_overlap}
        return {"images": self.counts["images"], "self_correct": self.counts["self_correct"], "skipped": self.skipped,
                **runs, **shared}

    def describe(self) -> str:
        said = (f"fold {self.fold}: {self.counts['self_correct']} of {self.counts['images']} "
                "base self-chains conclude correctly")
        if self.skipped:
            return f"{said}\nChallenge 2 not run: {self.skipped}"
        return f"{said}\noverlap of the two conditions' top entropy-reduction tokens: {self.top_token_overlap:.2f}"

    def table(self) -> pd.DataFrame:
        """Per condition: target-token probability before and after, its gain and the mean
        entropy reduction, beside the paper's gain."""
        table = summary_table(self.conditions)
        table["paper gain (points)"] = [CHALLENGE2_GAIN_POINTS[k] for k in table.index]
        return table

    def top_tokens(self) -> pd.DataFrame:
        """Per condition, the tokens whose entropy fell most (and by how much)."""
        return pd.DataFrame({k: [f"{t['token']} ({t['reduction']:.2f})" for t in v["top_tokens"]]
                             for k, v in self.conditions.items()})


def run(p: Params, manifest: pd.DataFrame, image_root: Path, chains: dict[str, str], classes: list[str], base,
        processor, fresh_base: Callable[[], object], work: Path) -> Challenge2:
    """The experiment on the study's first fold and trial seed: a seeded sample of its source
    training images with teacher chains, kept where the base's own chain concludes correctly;
    each condition fine-tunes a fresh base (`fresh_base()`) under `work/<condition>`."""
    a = p.eval.analysis
    fold, trial = p.heldout_domains()[0], p.data.trial_seeds[0]
    rows = train_data.source_rows(manifest, fold, split_column(trial), "in", "challenge 2")
    rows = seeded_sample(rows[rows["image_id"].isin(chains)], a.challenge2_images, p.study.seed, "c2")
    items = train_data.items(rows.sort_index(), image_root, chains, fold, "challenge 2")
    teacher, own, counts = experiment_items(base, processor, items, classes, fold, p.eval.chain_max_new_tokens,
                                            p.eval.generate_batch_size)
    skipped = empty_reason(counts, a.challenge2_min_images)
    if skipped:
        return Challenge2(fold, counts, skipped, {}, None)
    conditions = {}
    for name, condition_items in (("teacher", teacher), ("self", own)):
        before = token_table(base, processor, condition_items, classes, p.eval.batch_size)
        tuned = fine_tune(fresh_base, processor, condition_items, classes, p.train,
                          derive_seed(p.study.seed, "c2", name), a.challenge2_epochs, work / name)
        after = token_table(tuned, processor, condition_items, classes, p.eval.batch_size)
        conditions[name] = gain_and_entropy(before, after, processor, a.top_tokens, a.min_token_count)
    return Challenge2(fold, counts, None, conditions,
                      overlap(conditions["teacher"]["top_tokens"], conditions["self"]["top_tokens"]))
