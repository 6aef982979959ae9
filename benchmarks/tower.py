"""Which vision tower, pretrained on what, carries shape across the world's styles?

Phase 1 of the base stage (the tower alone, with a throw-away linear head; the library's own
`pretrain_vision` on the library's own corpus) for one tower shape and pretraining corpus,
then read out on the synthetic world:

* head: the pretraining head's own answer on each benchmark domain — what the tower
  "knows" of the classes with no benchmark image seen (a proxy of zero-shot accuracy);
* probe: a logistic regression on frozen mean-pooled features, fitted on the source
  domains' `in` images of each leave-one-domain-out fold, scored on their `out` images
  (source validation) — the selection column.

    python benchmarks/tower.py --corpus mixed --epochs 8                 # the default tower
    python benchmarks/tower.py --stem "" --patch 8 --hidden 64 --layers 2 --corpus generic --epochs 10

`--stem ""` is SigLIP's own single patch convolution. Nothing here reads a held-out domain's
test split: the probe is fitted and scored on the sources of each fold.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from rdmldg import numerics
from rdmldg.analysis.probe import linear_probe, vision_features
from rdmldg.data.splits import split_indices
from rdmldg.data.world import image_rng, render, sample_attributes
from rdmldg.models.corpus import RENDERERS, vision_corpus
from rdmldg.models.embedded import PRESETS, build_processor, train_tokenizer, vision_config
from rdmldg.models.pretrain import pretrain_vision
from rdmldg.params import PretrainParams, SyntheticParams


def world(p: SyntheticParams):
    """(images, labels, domains, is_in) of the whole world, DomainBed's split of trial seed 0."""
    images, labels, domains, is_in = [], [], [], []
    for env, d in enumerate(sorted(p.domains)):
        rows = [(k, c, i) for k, c in enumerate(sorted(p.classes)) for i in range(p.images_per_class)]
        out = set(split_indices(len(rows), 0, env, 0.2)[0])
        for n, (k, c, i) in enumerate(rows):
            rng = image_rng(p.seed, d, c, i)
            images.append(Image.fromarray(render(d, c, sample_attributes(rng, d, c, p), p.image_size, rng)))
            labels.append(k), domains.append(d), is_in.append(n not in out)
    return images, np.array(labels), np.array(domains), np.array(is_in)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="mixed", choices=sorted(RENDERERS))
    ap.add_argument("--examples", type=int, default=24000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--stem", default=None, help='comma-separated stem widths ("" : SigLIP patchifier)')
    ap.add_argument("--patch", type=int, default=None)
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--layers", type=int, default=None)
    args = ap.parse_args()
    numerics.configure_torch()
    spec = PRESETS["default"]
    changes = {k: v for k, v in (("patch_size", args.patch), ("vision_hidden", args.hidden),
                                 ("vision_layers", args.layers)) if v is not None}
    if args.stem is not None:
        changes["stem_channels"] = tuple(int(w) for w in args.stem.split(",") if w)
    spec = dataclasses.replace(spec, **changes)
    p = SyntheticParams()
    classes = sorted(p.classes)
    pre = PretrainParams(vision_corpus=args.corpus, vision_examples=args.examples, vision_epochs=args.epochs,
                         vision_lr=args.lr)
    images, y, dom, is_in = world(p)
    start = time.perf_counter()
    corpus, labels = vision_corpus(classes, pre.vision_examples, pre.seed, spec.image_size, pre.vision_corpus)
    render_s = time.perf_counter() - start
    processor = build_processor(train_tokenizer(["a b c"] * 4, 300), spec)
    torch.manual_seed(pre.seed)
    from transformers import AutoModel

    tower = AutoModel.from_config(vision_config(spec))
    run = pretrain_vision(tower, processor.image_processor, corpus, labels, len(classes), pre)
    tower.eval()
    F = vision_features(tower, SimpleNamespace(image_processor=processor.image_processor), images)
    with torch.inference_mode():
        pred = run["head"](torch.from_numpy(F)).argmax(-1).numpy()
    row = {"spec": {k: v for k, v in dataclasses.asdict(spec).items()
                    if k.startswith(("image", "patch", "stem", "vision"))},
           "corpus": args.corpus, "examples": args.examples, "epochs": args.epochs, "lr": args.lr,
           "render_s": round(render_s, 1), "train_s": round(run["seconds"], 1),
           "final_loss": round(run["history"][-1]["loss"], 3),
           "head": {d: round(100 * float((pred[dom == d] == y[dom == d]).mean()), 1) for d in sorted(p.domains)}}
    val = {d: linear_probe(F[(dom != d) & is_in], y[(dom != d) & is_in], F[(dom != d) & ~is_in], y[(dom != d) & ~is_in])
           for d in sorted(p.domains)}
    row["probe_source_val"] = {d: round(100 * v, 1) for d, v in val.items()}
    row["probe_source_val_mean"] = round(100 * float(np.mean(list(val.values()))), 1)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
