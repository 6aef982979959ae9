"""The base model's pretraining corpora: disjoint from the benchmark by construction.

Images come from seed streams of their own, in styles none of the benchmark's domains uses.
Phase 1 (the vision tower alone) reads a corpus of labelled images in the *neutral* style or
in *generic* styles; phase 2 (the whole model) reads neutral images only (a flat silhouette
on white, for shapes; a printed typeface, for digits). Each image carries one task: a
caption, a short answer to `q_cls`, an `Answer Choice:` answer to the zero-shot prompt, a
few-shot sequence, or a five-section chain in the base model's own *plain* rationale style —
short, flat sentences, a different vocabulary from the teacher's rich chains. That gap is what Challenge 2 is about.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

from rdmldg.chains import display_name, fewshot_prompt, format_chain, q_choice_list, q_cls, q_reason
from rdmldg.data.digits import CLASS_NAMES as DIGITS
from rdmldg.data.world import PALETTE, SHAPES, shape_masks
from rdmldg.models.sequences import Example, single

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
VISION_STREAM = 10_001  # phase 1's own images, apart from phase 2's


def supported(classes: list[str]) -> bool:
    return all(c in PLAIN_EVIDENCE for c in classes)


def render_neutral(cls: str, rng: np.random.Generator, size: int) -> tuple[Image.Image, str]:
    """(image, colour name): a flat silhouette on white, or a printed digit."""
    colour = list(PALETTE)[rng.integers(len(PALETTE))]
    rgb = np.asarray(PALETTE[colour], np.float64) / 255
    if cls in SHAPES:
        attrs = {"dx": rng.uniform(-0.1, 0.1), "dy": rng.uniform(-0.1, 0.1), "scale": rng.uniform(0.55, 0.85),
                 "rotation": rng.uniform(-25, 25)}
        alpha = shape_masks(cls, attrs, size, 1)[0]
    else:
        alpha = _glyph(cls, rng, size)
    img = 1 - alpha[..., None] * (1 - rgb)
    return Image.fromarray((img * 255 + 0.5).astype(np.uint8)), colour


def _glyph(digit_class: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """The coverage in [0, 1] of a printed digit, at a random size and offset."""
    mask = Image.new("L", (size, size), 0)
    font = ImageFont.load_default(size=int(size * rng.uniform(0.6, 0.85)))
    off = (int(size * rng.uniform(0.2, 0.35)), int(size * rng.uniform(-0.05, 0.1)))
    ImageDraw.Draw(mask).text(off, str(DIGITS.index(digit_class)), fill=255, font=font)
    return np.asarray(mask, np.float64) / 255


def _object_masks(cls: str, rng: np.random.Generator, size: int, outline_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, outline band) of a shape or a digit, placed at random."""
    if cls in SHAPES:
        attrs = {"dx": rng.uniform(-0.15, 0.15), "dy": rng.uniform(-0.15, 0.15), "scale": rng.uniform(0.45, 0.9),
                 "rotation": rng.uniform(-40, 40)}
        return shape_masks(cls, attrs, size, outline_px)
    alpha = _glyph(cls, rng, size)
    k = 2 * max(1, round(outline_px / 2)) + 1
    return alpha, ndimage.maximum_filter(alpha, k) - ndimage.minimum_filter(alpha, k)


def _pattern(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random H×W×3 surface in [0, 1]: flat, a two-colour gradient, waves, a checkerboard
    or smooth noise, in colours of its own (not the world's palette)."""
    a, b = rng.random(3), rng.random(3)
    y, x = np.mgrid[0:size, 0:size] / size
    kind = rng.integers(5)
    if kind == 0:
        t = np.zeros((size, size))
    elif kind == 1:
        th = rng.uniform(0, 2 * np.pi)
        t = x * np.cos(th) + y * np.sin(th)
        t = (t - t.min()) / (np.ptp(t) + 1e-9)
    elif kind == 2:
        th, f = rng.uniform(0, np.pi), rng.uniform(2, 8)
        t = (np.sin(2 * np.pi * f * (x * np.cos(th) + y * np.sin(th))) + 1) / 2
    elif kind == 3:
        f = int(rng.integers(2, 9))
        t = ((np.floor(x * f) + np.floor(y * f)) % 2).astype(np.float64)
    else:
        g = int(rng.integers(3, 12))
        t = np.asarray(Image.fromarray((rng.random((g, g)) * 255).astype(np.uint8)).resize(
            (size, size), Image.BICUBIC), np.float64) / 255
    return a * (1 - t[..., None]) + b * t[..., None]


def render_generic(cls: str, rng: np.random.Generator, size: int) -> tuple[Image.Image, str]:
    """(image, colour name): the class's shape or digit in a randomly drawn generic style — a filled,
    patterned or outlined object on a random surface, then blur, noise and a colour remap.

    Real MLLM vision towers have seen every kind of image; a tower that has seen only one
    style learns that style, not the shape. None of these draws is one of the benchmark's
    renderers (no shading and highlight, brush streaks, inked two-tone fill or pencil
    hatching): the shift to every benchmark domain stays a shift."""
    colour = list(PALETTE)[rng.integers(len(PALETTE))]
    alpha, band = _object_masks(cls, rng, size, rng.uniform(0.8, max(1.0, size / 12)))
    ground = _pattern(rng, size)
    surface = np.asarray(PALETTE[colour], np.float64) / 255 * np.ones((size, size, 3)) if rng.random() < 0.5 \
        else _pattern(rng, size)
    if np.linalg.norm(surface.mean((0, 1)) - ground.mean((0, 1))) < 0.35:  # keep the object visible
        surface = 1 - surface
    mode = rng.integers(3)  # 0 filled, 1 outline only, 2 filled with an outline
    img = ground * (1 - alpha[..., None]) + surface * alpha[..., None] if mode != 1 else ground.copy()
    if mode:
        ink = np.clip(band * 1.5, 0, 1)[..., None]
        img = img * (1 - ink) + (rng.random(3) if mode == 2 else surface) * ink
    if rng.random() < 0.3:
        img = np.asarray(Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * size / 32)), np.float64) / 255
    img = img + rng.normal(0, rng.choice([0.0, 0.03, 0.08]), img.shape)
    if rng.random() < 0.2:
        img = np.repeat(img.mean(-1, keepdims=True), 3, -1)
    elif rng.random() < 0.2:
        img = 1 - img
    return Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)), colour


def render_mixed(cls: str, rng: np.random.Generator, size: int) -> tuple[Image.Image, str]:
    """Half neutral silhouettes, half generic styles, drawn per image. The easy half gives the
    tower's first steps a clear signal (on generic images alone a small tower can sit at
    chance for epochs before it finds the shapes); the generic half teaches it that style is
    not the class."""
    return (render_neutral if rng.random() < 0.5 else render_generic)(cls, rng, size)


RENDERERS = {"neutral": render_neutral, "generic": render_generic, "mixed": render_mixed}


def vision_corpus(classes: list[str], n: int, seed: int, size: int, style: str) -> tuple[list[Image.Image], np.ndarray]:
    """Phase 1's (images, class indices): n images, classes balanced, in `style`; deterministic
    under seed. No text: the tower learns the classes through a throw-away linear head."""
    if not supported(classes):
        raise ValueError(f"no pretraining renderings for classes {[c for c in classes if c not in PLAIN_EVIDENCE]}")
    rng = np.random.default_rng([VISION_STREAM, seed])
    labels = np.arange(n) % len(classes)
    return [RENDERERS[style](classes[k], rng, size)[0] for k in labels], labels


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
