"""Which vision tower, pretrained on what, carries shape across the world's styles?

Phase 1 of the base stage (the tower alone, with a throw-away linear head) run for one
tower shape and pretraining corpus, then read out two ways on the synthetic world:

* head: the pretraining head's own answer on each benchmark domain — what the tower
  "knows" of the classes with no benchmark image seen (a proxy of zero-shot accuracy);
* probe: a logistic regression on frozen mean-pooled features, fitted on the source
  domains' `in` images of each leave-one-domain-out fold, scored on their `out` images
  (source validation) and on the held-out domain.

    python benchmarks/tower.py --style neutral generic --image-size 32 --patch 8 --hidden 64 --layers 2

Nothing here is chosen on held-out numbers: the columns are printed so that the choice can
be made on source validation and checked against the mapping-gap target afterwards.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from rdmldg import numerics
from rdmldg.analysis.probe import linear_probe, vision_features
from rdmldg.data.world import image_rng, render, sample_attributes
from rdmldg.models.corpus import RENDERERS
from rdmldg.params import SyntheticParams


def world(p: SyntheticParams):
    """(images, labels, domains, is_in) of the whole world, 80/20 in/out by index."""
    images, labels, domains, is_in = [], [], [], []
    for d in p.domains:
        for k, c in enumerate(p.classes):
            for i in range(p.images_per_class):
                rng = image_rng(p.seed, d, c, i)
                attrs = sample_attributes(rng, d, c, p)
                images.append(Image.fromarray(render(d, c, attrs, p.image_size, rng)))
                labels.append(k); domains.append(d); is_in.append(i % 5 != 0)
    return images, np.array(labels), np.array(domains), np.array(is_in)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--style", nargs="+", default=["neutral", "generic"], choices=sorted(RENDERERS))
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    args = ap.parse_args()
    numerics.configure_torch()
    from transformers import SiglipVisionConfig, SiglipVisionModel
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    p = SyntheticParams()
    proc = SiglipImageProcessorPil(size={"height": args.image_size, "width": args.image_size})
    pix = lambda ims: torch.cat([proc(ims[i:i + 256], return_tensors="pt")["pixel_values"] for i in range(0, len(ims), 256)])
    images, y, dom, is_in = world(p)
    for style in args.style:
        rng = np.random.default_rng([10_000, 0])
        corpus_labels = np.arange(args.examples) % len(p.classes)
        t0 = time.perf_counter()
        corpus = [RENDERERS[style](p.classes[k], rng, p.image_size)[0] for k in corpus_labels]
        X = pix(corpus)
        render_s = time.perf_counter() - t0
        torch.manual_seed(0)
        cfg = SiglipVisionConfig(hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_hidden_layers=args.layers,
                                 num_attention_heads=args.heads, image_size=args.image_size, patch_size=args.patch)
        tower = SiglipVisionModel(cfg)
        head = torch.nn.Linear(args.hidden, len(p.classes))
        opt = torch.optim.AdamW(list(tower.parameters()) + list(head.parameters()), lr=args.lr, weight_decay=0.01)
        labels = torch.tensor(corpus_labels)
        gen = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        tower.train()
        for _ in range(args.epochs):
            order = torch.randperm(len(X), generator=gen)
            for i in range(0, len(order), 64):
                idx = order[i:i + 64]
                loss = torch.nn.functional.cross_entropy(head(tower(pixel_values=X[idx]).last_hidden_state.mean(1)), labels[idx])
                loss.backward(); opt.step(); opt.zero_grad()
        train_s = time.perf_counter() - t0
        tower.eval()
        F = vision_features(tower, SimpleNamespace(image_processor=proc), images)  # the probe stage's readout
        with torch.inference_mode():
            pred = head(torch.from_numpy(F)).argmax(-1).numpy()
        row = {"style": style, "render_s": round(render_s, 1), "train_s": round(train_s, 1), "final_loss": round(loss.item(), 3)}
        for d in p.domains:
            row[f"head {d}"] = round(100 * float((pred[dom == d] == y[dom == d]).mean()), 1)
        val, held = [], []
        for d in p.domains:
            src = dom != d
            val.append(linear_probe(F[src & is_in], y[src & is_in], F[src & ~is_in], y[src & ~is_in]))
            held.append(linear_probe(F[src & is_in], y[src & is_in], F[~src], y[~src]))
        row["probe source-val"] = round(100 * float(np.mean(val)), 1)
        row["probe held-out"] = round(100 * float(np.mean(held)), 1)
        row["probe held-out per domain"] = [round(100 * h, 1) for h in held]
        print(row, flush=True)


if __name__ == "__main__":
    main()
