"""MTCT step: each image encoded once for both pathways vs two independent passes.

    python benchmarks/shared_encoding.py [--steps 5]

A training step (forward + Eq. 1 + backward, LoRA in both towers) on the same batch of
images with a label sequence and a reasoning sequence each, timed (a) with one vision pass
per image shared by both sequences and (b) with the vision tower run for every sequence.
Printed for model shapes where the vision tower's share of the work differs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from PIL import Image

from rdmldg.models import architectures
from rdmldg.models.lora import add_lora
from rdmldg.training.loss import eq1_groups
from rdmldg.training.pathways import PathwayCollator, TrainItem, forward

CHAIN = ("<SUMMARY>I will name the object from its parts.</SUMMARY><CAPTION>A cartoon drawing of a red object "
         "with thick outlines on a cream background.</CAPTION><REASONING>It has five pointed tips and inner "
         "corners between them.</REASONING><REFLECTION>Colour and style do not decide.</REFLECTION>"
         "<CONCLUSION>star</CONCLUSION>")

SHAPES = {
    # name: (sizes, images per batch)
    "default preset (32 px, 16 image tokens)": (architectures.Sizes(
        image_size=32, patch_size=8, vision_hidden=64, vision_layers=2, vision_heads=4, text_hidden=96,
        text_layers=3, text_heads=4, text_kv_heads=2, vocab_size=600), 8),
    "vision-heavy (64 px, 64 image tokens, 6-layer tower)": (architectures.Sizes(
        image_size=64, patch_size=8, vision_hidden=128, vision_layers=6, vision_heads=4, text_hidden=96,
        text_layers=3, text_heads=4, text_kv_heads=2, vocab_size=600), 8),
    # vision share of the FLOPs about that of InternVL3-2B on tiled 448 px images (~30 %)
    "vision share like InternVL3-2B (96 px, 144 tokens)": (architectures.Sizes(
        image_size=96, patch_size=8, vision_hidden=192, vision_layers=6, vision_heads=4, text_hidden=96,
        text_layers=3, text_heads=4, text_kv_heads=2, vocab_size=600), 8),
}


def step_time(model, batch, share: bool, steps: int) -> float:
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = eq1_groups(forward(model, batch, share), batch["groups"], int(batch["n_images"]))["loss"]
        loss.backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])  # the first step warms up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    classes = ["ball", "cross", "flower", "house", "moon", "ring", "star", "tree"]
    print(f"{torch.get_num_threads()} threads; median of {args.steps} steps")
    print(f"{'model':<52}{'shared s':>10}{'twice s':>10}{'ratio':>8}")
    for name, (sizes, n) in SHAPES.items():
        torch.manual_seed(0)
        model, processor = architectures.llava(sizes, texts=[CHAIN] * 8)
        model = add_lora(model).train()
        items = [TrainItem(str(i), Image.new("RGB", (sizes.image_size,) * 2, (30 * i, 90, 200 - 20 * i)), "star", CHAIN)
                 for i in range(n)]
        batch = PathwayCollator(processor, classes)(items)
        shared, twice = step_time(model, batch, True, args.steps), step_time(model, batch, False, args.steps)
        print(f"{name:<52}{shared:>10.3f}{twice:>10.3f}{twice / shared:>7.2f}x")


if __name__ == "__main__":
    main()
