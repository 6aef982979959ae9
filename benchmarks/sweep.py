"""A small DomainBed-style hyperparameter sweep, selected on the source domains' validation split.

Trains one method on every leave-one-domain-out fold of trial seed 0 for each configuration
and prints the *source-validation* accuracy (the fold's source domains' `out` split) and the
minutes it took — nothing of the held-out domain, so that nothing can be chosen on it:

    python benchmarks/sweep.py --method label --set lr=5e-4 --set lr=2e-3,warmup=0.1 \\
        --set images_per_domain=null,lr=1e-3

Each `--set` is one configuration: comma-separated `train.` fields over params/train.yaml
(`null` for None). `--sarr-images N` also reads, after each fold's training, the share of N
seeded *source training* images whose self-chain a SARR round would keep (greedy, as SARR
generates) — the material a following SARR round gets, a source-side criterion too.

Needs `dvc repro base` (data/prepared, data/chains, models/base). Runs go to a temporary
folder; records (one JSON line per configuration, with its hparams_seed, that is its position
in the sweep) are appended to --out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from rdmldg import methods, numerics
from rdmldg.chains import reason_kind
from rdmldg.data import image_root, read_prepared, split_column
from rdmldg.data.chain_records import teacher_chains
from rdmldg.methods import METHODS
from rdmldg.models.base import load_base
from rdmldg.params import load as load_params
from rdmldg.seeding import seeded_sample
from rdmldg.teachers.base import judge
from rdmldg.training import run as train_run
from rdmldg.training import sarr


def parse_set(text: str) -> dict:
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)  # null, true/false


def material_items(train_items: list, images: int, seed: int, heldout: str) -> list:
    """A seeded sample of a fold's source training items, in their training order."""
    positions = pd.DataFrame({"position": range(len(train_items))})
    picks = seeded_sample(positions, images, seed, "sarr-material", heldout)
    return [train_items[i] for i in sorted(picks["position"])]


def sarr_material(model, processor, items: list, classes: list[str], heldout: str, params) -> dict:
    """What a SARR round would keep of `items`' self-chains: kept share and rejection reasons."""
    texts = sarr.self_chains(model, processor, items, classes, heldout, params.eval.chain_max_new_tokens,
                             params.train.sarr.generation_batch_size)
    _, stats = sarr.select(items, texts, classes, "keep_previous")
    examples = {}  # the first rejected chain of each kind, to read what goes wrong
    for item, text in zip(items, texts, strict=True):
        why = judge(text, item.label, classes)[1]
        if why is not None:
            examples.setdefault(reason_kind(why), f"[{item.label}] {text}")
    return {"kept_share": round(stats["kept"] / stats["images"], 4), "reasons": stats["reasons"],
            "examples": examples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="label", choices=list(METHODS))
    ap.add_argument("--set", action="append", required=True, type=parse_set,
                    help="train.* overrides of one configuration")
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--sarr-images", type=int, default=0,
                    help="also read SARR's kept share on this many source training images per fold (0: no)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/sweep.jsonl"))
    args = ap.parse_args()
    numerics.configure_torch()
    base_params = load_params(args.root / "params")
    manifest, info = read_prepared(args.root / "data" / "prepared")
    classes, root = info["classes"], image_root(info, args.root)
    chains = teacher_chains(args.root / "data" / "chains")
    method, trial = methods.get(args.method), base_params.data.trial_seeds[0]
    for hparams_seed, overrides in enumerate(args.set):
        train = type(base_params.train).model_validate({**base_params.train.model_dump(), **overrides})  # checked
        P = base_params.model_copy(update={"train": train})
        start, per_fold = time.perf_counter(), {}
        with tempfile.TemporaryDirectory() as scratch:
            for heldout in P.heldout_domains():
                train_items, val_items = train_run.fold_items(P, manifest, root, chains, heldout, split_column(trial))
                base, processor = load_base(args.root, P.model)
                plan = train_run.FoldPlan(trial, heldout, train_items, val_items, f"sweep{hparams_seed}",
                                          Path(scratch) / heldout)
                result = train_run.run(P, method, base, processor, plan, classes, progress=False)
                stages = result["stages"]
                per_fold[heldout] = {"source_val": round(float(stages["val_accuracy"].max()), 4),
                                     "steps": int(stages["steps"].sum()), "train_images": len(train_items),
                                     "val_images": len(val_items)}
                if args.sarr_images:
                    items = material_items(train_items, args.sarr_images, P.study.seed, heldout)
                    per_fold[heldout]["sarr"] = sarr_material(result["model"], processor, items, classes, heldout, P)
        record = {"method": args.method, "hparams_seed": hparams_seed, "train": overrides,
                  "source_val_mean": round(sum(f["source_val"] for f in per_fold.values()) / len(per_fold), 4),
                  "minutes": round((time.perf_counter() - start) / 60, 2), "folds": per_fold}
        if args.sarr_images:
            record["sarr_kept_mean"] = round(sum(f["sarr"]["kept_share"] for f in per_fold.values()) / len(per_fold), 4)
        print(json.dumps(record), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
