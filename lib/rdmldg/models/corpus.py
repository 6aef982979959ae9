"""The base model's pretraining corpus: disjoint from the benchmark by construction.

Images are rendered in a *neutral* style that none of the benchmark's domains uses (a flat
silhouette on white, for shapes; a printed typeface, for digits), from a seed stream of
their own. Each image carries one task: a caption, a short answer to `q_cls`, an
`Answer Choice:` answer to the zero-shot prompt, a few-shot sequence, or a five-section
chain in the base model's own *plain* rationale style — short, flat sentences, a different
vocabulary from the teacher's rich chains. That gap is what Challenge 2 is about.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rdmldg.chains import display_name, fewshot_prompt, format_chain, q_choice_list, q_cls, q_reason
from rdmldg.data.digits import CLASS_NAMES as DIGITS
from rdmldg.data.world import PALETTE, SHAPES, shape_masks
from rdmldg.training.collate import Example, single

PLAIN_EVIDENCE = {
    "ball": "it is round and solid", "ring": "it is round with a hole", "moon": "it is curved with two tips",
    "star": "it has five points", "cross": "it has four arms", "house": "it has a roof and a door",
    "tree": "it has a crown on a trunk", "flower": "it has petals round a middle",
    "zero": "it is one loop", "one": "it is one line", "two": "it has a hook and a base", "three": "it has two bumps",
    "four": "it has a bar and a post", "five": "it has a top bar and a belly", "six": "it has a loop at the bottom",
    "seven": "it has a top bar and a slant", "eight": "it has two loops", "nine": "it has a loop at the top",
}
TASKS = ("caption", "answer", "choice", "reason", "fewshot")
NEUTRAL_STREAM = 10_000  # seeds apart from every benchmark image's generator


def supported(classes: list[str]) -> bool:
    return all(c in PLAIN_EVIDENCE for c in classes)


def render_neutral(cls: str, rng: np.random.Generator, size: int) -> tuple[Image.Image, str]:
    """(image, colour name): a flat silhouette on white, or a printed digit."""
    colour = list(PALETTE)[rng.integers(len(PALETTE))]
    rgb = np.asarray(PALETTE[colour], np.float64) / 255
    if cls in SHAPES:
        attrs = {"dx": rng.uniform(-0.1, 0.1), "dy": rng.uniform(-0.1, 0.1), "scale": rng.uniform(0.55, 0.85),
                 "rotation": rng.uniform(-25, 25)}
        alpha, _ = shape_masks(cls, attrs, size, 1)
        img = 1 - alpha[..., None] * (1 - rgb)
        return Image.fromarray((img * 255 + 0.5).astype(np.uint8)), colour
    digit = str(DIGITS.index(cls))
    canvas = Image.new("RGB", (size, size), "white")
    font = ImageFont.load_default(size=int(size * rng.uniform(0.6, 0.85)))
    off = (int(size * rng.uniform(0.2, 0.35)), int(size * rng.uniform(-0.05, 0.1)))
    ImageDraw.Draw(canvas).text(off, digit, fill=tuple(int(v * 255) for v in rgb), font=font)
    return canvas, colour


def plain_chain(cls: str, colour: str) -> str:
    name = display_name(cls)
    return format_chain(summary="Name the shape.", caption=f"A {colour} shape on white.",
                        reasoning=f"Look at the shape: {PLAIN_EVIDENCE[cls]}.", reflection=f"That fits a {name}.",
                        conclusion=name)


def _one(task: str, cls: str, classes: list[str], rng: np.random.Generator, size: int) -> Example:
    image, colour = render_neutral(cls, rng, size)
    name = display_name(cls)
    if task == "caption":
        return single(image, "Describe the image.", f"A {colour} {name} on white.", task=task, label=cls)
    if task == "answer":
        return single(image, q_cls(classes), name, task=task, label=cls)
    if task == "choice":
        return single(image, q_choice_list(classes), f"Answer Choice: {name}", task=task, label=cls)
    if task == "reason":
        return single(image, q_reason(classes), plain_chain(cls, colour), task=task, label=cls)
    shots = [classes[i] for i in rng.choice(len(classes), size=int(rng.integers(1, 4)))]
    images = [render_neutral(c, rng, size)[0] for c in shots] + [image]
    return Example(images, fewshot_prompt(shots, classes), name, {"task": task, "label": cls})


def pretraining_examples(classes: list[str], n: int, seed: int, size: int,
                         task_weights: dict[str, float] | None = None) -> list[Example]:
    """n examples, classes balanced, tasks drawn by weight; deterministic under seed."""
    if not supported(classes):
        unknown = [c for c in classes if c not in PLAIN_EVIDENCE]
        raise ValueError(f"no neutral renderings for classes {unknown}: the embedded base model serves the "
                         "synthetic world and the digits; for real data set model.source: checkpoint")
    weights = task_weights or {"caption": 0.15, "answer": 0.3, "choice": 0.2, "reason": 0.2, "fewshot": 0.15}
    tasks, probs = list(weights), np.asarray(list(weights.values()), np.float64)
    rng = np.random.default_rng([NEUTRAL_STREAM, seed])
    out = []
    for i in range(n):
        task = tasks[rng.choice(len(tasks), p=probs / probs.sum())]
        out.append(_one(task, classes[i % len(classes)], classes, rng, size))
    return out
