"""Classification pathway: log-likelihood scoring vs generate-and-parse, on the same batch.

    python benchmarks/scoring_speed.py [--images 64] [--repeats 3]

Uses the pipeline's base model (models/base, from `dvc repro base`) so generation stops
where the trained model ends its answer; without it, a randomly initialised model of the
default preset (generation then runs to max_new_tokens). Prints seconds per image for each
readout and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from rdmldg.chains import q_cls
from rdmldg.data import image_root, load_image, read_prepared
from rdmldg.models import readout
from rdmldg.models.readout import class_loglik, generate, parsed_predictions
from rdmldg.models.sequences import single

ROOT = Path(__file__).resolve().parents[1]


def model_and_processor(classes):
    base = ROOT / "models" / "base"
    if (base / "config.json").exists():
        from rdmldg.models.checkpoints import load

        model, processor = load(base)
        return model.eval(), processor, "trained base (models/base)"
    from rdmldg.models.embedded import PRESETS, build_model, build_processor, train_tokenizer
    from rdmldg.models.pretrain import tokenizer_corpus

    tok = train_tokenizer(tokenizer_corpus(classes, []), 1024)
    return (build_model(PRESETS["default"], tok).eval(), build_processor(tok, PRESETS["default"]),
            "random default preset")


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    args = ap.parse_args()
    torch.manual_seed(0)
    manifest, info = read_prepared(ROOT / "data" / "prepared")
    classes = info["classes"]
    model, processor, what = model_and_processor(classes)
    rows = manifest.sample(args.images, random_state=0)
    examples = [single(load_image(image_root(info, ROOT) / p), q_cls(classes)) for p in rows["path"]]
    loglik = timed(lambda: class_loglik(model, processor, examples, classes, args.batch_size), args.repeats)
    plain = timed(lambda: [readout._plain_scores(model, processor, examples[i:i + args.batch_size], classes)
                           for i in range(0, len(examples), args.batch_size)], args.repeats)
    gen = timed(lambda: parsed_predictions(generate(model, processor, examples, args.max_new_tokens,
                                                    args.batch_size), classes), args.repeats)
    n = len(examples)
    print(f"model: {what}; {n} images, {len(classes)} classes, batch {args.batch_size}, "
          f"median of {args.repeats}, {torch.get_num_threads()} threads")
    print(f"{'readout':<34}{'s/image':>10}{'images/s':>10}")
    print(f"{'log-likelihood, shared prefix':<34}{loglik / n:>10.4f}{n / loglik:>10.1f}")
    print(f"{'log-likelihood, one seq per class':<34}{plain / n:>10.4f}{n / plain:>10.1f}")
    print(f"{'generate + parse (greedy)':<34}{gen / n:>10.4f}{n / gen:>10.1f}")
    print(f"ratio generate+parse / log-likelihood (shared prefix): {gen / loglik:.2f}x")
    print(f"ratio one-seq-per-class / shared prefix: {plain / loglik:.2f}x")


if __name__ == "__main__":
    main()
