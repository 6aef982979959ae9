"""How much material a SARR round gets: the share of source training images whose self-chain
the round keeps, under greedy decoding and under decoding variants, from a finished study.

SARR keeps a self-chain only if it parses in the five-section format and its CONCLUSION names
the label (`training.sarr.select`). This script reloads a finished stage (by default MTCT's
stage 0, the model RD-MLDG's first round generates from) on each fold, generates chains for a
seeded sample of that fold's *source training* images — nothing of the held-out domain — and
prints, per decoding variant, the kept share and the rejection reasons:

    python benchmarks/sarr_material.py --images 96 \\
        --variant greedy --variant repetition_penalty=1.2 --variant no_repeat_ngram_size=6

A variant is `greedy` or comma-separated `generation_config` fields laid over greedy
decoding. Needs a finished `dvc repro` (models/runs/<method>). Records (one JSON line per
fold × variant) are appended to --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sweep import material_items, parse_set, sarr_material

from rdmldg import numerics
from rdmldg.data import image_root, read_prepared, split_column
from rdmldg.data.chain_records import teacher_chains
from rdmldg.models.base import load_base
from rdmldg.models.lora import load_adapter
from rdmldg.params import load as load_params
from rdmldg.training import run as train_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="mtct", help="the method whose finished stage generates (default: mtct)")
    ap.add_argument("--stage", type=int, default=0)
    ap.add_argument("--images", type=int, default=96, help="source training images per fold (seeded sample)")
    ap.add_argument("--variant", action="append", default=None,
                    help="'greedy' or generation_config overrides, e.g. repetition_penalty=1.2")
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/sarr_material.jsonl"))
    args = ap.parse_args()
    variants = args.variant or ["greedy"]
    numerics.configure_torch()
    params = load_params(args.root / "params")
    manifest, info = read_prepared(args.root / "data" / "prepared")
    classes, root = info["classes"], image_root(info, args.root)
    chains = teacher_chains(args.root / "data" / "chains")
    trial = params.data.trial_seeds[0]
    for heldout in params.heldout_domains():
        train_items, _ = train_run.fold_items(params, manifest, root, chains, heldout, split_column(trial))
        items = material_items(train_items, args.images, params.study.seed, heldout)
        folder = args.root / "models" / "runs" / args.method / f"trial{trial}" / heldout / f"stage{args.stage}"
        base, processor = load_base(args.root, params.model)
        model = load_adapter(base, folder / "adapter").eval()
        greedy = model.generation_config.to_dict()
        for variant in variants:
            model.generation_config.update(**greedy)
            overrides = {} if variant == "greedy" else parse_set(variant)
            model.generation_config.update(**overrides)
            start = time.perf_counter()
            record = {"method": args.method, "stage": args.stage, "heldout": heldout, "variant": variant,
                      "images": len(items), **sarr_material(model, processor, items, classes, heldout, params),
                      "seconds": round(time.perf_counter() - start, 1)}
            print(json.dumps(record), flush=True)
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
