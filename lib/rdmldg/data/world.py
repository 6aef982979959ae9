"""The miniature DomainBed-Reasoning world (docs/science.md §3): shapes under strong style shift.

A class is a *structure* (a ring is a disc with a hole, a house a body with a roof and a
door, a flower six petals round a heart); a domain is a *rendering style* (photo, painting,
cartoon, sketch); everything else is a per-image nuisance attribute (colour, background
tone and kind, surface texture, position, scale, rotation, noise). In `spurious_domains` a
nuisance attribute takes the class's own value with probability `spurious_strength`, so it
predicts the class there and nowhere else.

Every image is a pure function of (world seed, domain, class, index): each draws from its
own generator, seeded by the *global* indices of its domain and class, so removing a class
from the params leaves the other images byte-identical.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from rdmldg.datasets import SYNTHETIC_CLASSES, SYNTHETIC_DOMAINS
from rdmldg.params import SyntheticParams

PALETTE = {
    "red": (214, 48, 49), "orange": (240, 140, 30), "yellow": (235, 200, 40), "green": (60, 170, 75),
    "teal": (30, 160, 160), "blue": (45, 95, 210), "purple": (130, 70, 190), "pink": (230, 100, 170),
}
BG_TONES = {
    "cream": (245, 238, 220), "sky": (205, 225, 245), "mint": (210, 240, 220),
    "grey": (212, 212, 212), "sand": (235, 215, 180), "lilac": (225, 210, 240),
}
BACKGROUNDS = ("plain", "gradient", "clutter")
TEXTURES = ("plain", "stripes", "dots")


def nuisance_words() -> dict[str, list[str]]:
    return {"colour": list(PALETTE), "bg_tone": list(BG_TONES), "texture": ["stripes", "striped", "dotted", "dots"],
            "background": ["background", "cluttered", "blobs"],
            "placement": ["tilted", "clockwise", "anticlockwise", "grainy", "left of centre", "right of centre"]}
SUPERSAMPLE = 4
# Words that give a nuisance away, for checking where chains mention them.
STYLE_WORDS = {
    "photo": ["photograph", "photograph-like", "shading", "shadow", "realistic"],
    "painting": ["painting", "painterly", "brush", "strokes"],
    "cartoon": ["cartoon", "comic", "comic-style", "outlined", "ink"],
    "sketch": ["sketch", "pencil", "hatching", "hatched", "paper"],
}
ATTRIBUTES = ("colour", "bg_tone", "background", "texture", "dx", "dy", "scale", "rotation", "noise")


# --------------------------------------------------------------------------- geometry
def _circle(cx: float, cy: float, r: float, n: int = 48) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, n, endpoint=False)]


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _star(points: int = 5, outer: float = 0.92, inner: float = 0.38) -> list[tuple[float, float]]:
    return [((outer if k % 2 == 0 else inner) * math.sin(k * math.pi / points),
             -(outer if k % 2 == 0 else inner) * math.cos(k * math.pi / points)) for k in range(2 * points)]


_CROSS = [(-0.2, -0.9), (0.2, -0.9), (0.2, -0.2), (0.9, -0.2), (0.9, 0.2), (0.2, 0.2),
          (0.2, 0.9), (-0.2, 0.9), (-0.2, 0.2), (-0.9, 0.2), (-0.9, -0.2), (-0.2, -0.2)]

# class → (filled parts, holes), polygons in unit coordinates (y down), radius about 1
SHAPES: dict[str, tuple[list, list]] = {
    "ball": ([_circle(0, 0, 0.8)], []),
    "ring": ([_circle(0, 0, 0.85)], [_circle(0, 0, 0.5)]),
    "moon": ([_circle(0, 0, 0.85)], [_circle(0.4, -0.22, 0.72)]),
    "star": ([_star()], []),
    "cross": ([_CROSS], []),
    "house": ([_rect(-0.62, -0.1, 0.62, 0.8), [(-0.85, -0.08), (0.85, -0.08), (0, -0.88)]],
              [_rect(-0.16, 0.3, 0.16, 0.8)]),
    "tree": ([[(0, -0.92), (-0.68, 0.38), (0.68, 0.38)], _rect(-0.14, 0.36, 0.14, 0.92)], []),
    "flower": ([_circle(0.55 * math.cos(a), 0.55 * math.sin(a), 0.32) for a in np.arange(6) * math.pi / 3]
               + [_circle(0, 0, 0.3)], []),
}


def _place(poly, attrs: dict, size: int) -> list[tuple[float, float]]:
    """Unit polygon → supersampled pixel coordinates (scale, rotate, translate)."""
    s = attrs["scale"] * size * SUPERSAMPLE / 2
    th = math.radians(attrs["rotation"])
    cx = (0.5 + attrs["dx"]) * size * SUPERSAMPLE
    cy = (0.5 + attrs["dy"]) * size * SUPERSAMPLE
    c, n = math.cos(th), math.sin(th)
    return [(cx + s * (x * c - y * n), cy + s * (x * n + y * c)) for x, y in poly]


def shape_masks(cls: str, attrs: dict, size: int, outline_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, outline) in [0, 1] at `size`: the object's coverage and a band on its edge."""
    big = size * SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    fills, holes = SHAPES[cls]
    for poly in fills:
        draw.polygon(_place(poly, attrs, size), fill=255)
    for poly in holes:
        draw.polygon(_place(poly, attrs, size), fill=0)
    k = 2 * max(1, round(outline_px * SUPERSAMPLE / 2)) + 1
    hi = np.asarray(mask)
    band = ndimage.maximum_filter(hi, k).astype(np.int16) - ndimage.minimum_filter(hi, k)  # separable: O(k)
    def down(a):
        return np.asarray(Image.fromarray(a.astype(np.uint8)).resize((size, size), Image.BOX), np.float64) / 255
    return down(np.asarray(mask)), down(band)


# --------------------------------------------------------------------------- styles
def _rgb(colour) -> np.ndarray:
    return np.asarray(colour, np.float64) / 255


def _lowres_noise(rng: np.random.Generator, size: int, grid: tuple[int, int], channels: int = 1) -> np.ndarray:
    """Smooth noise in [-1, 1]: a coarse random grid upsampled bicubically (brush-like when anisotropic)."""
    out = []
    for _ in range(channels):
        coarse = (rng.random(grid) * 255).astype(np.uint8)
        up = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
        out.append(np.asarray(up, np.float64) / 127.5 - 1)
    return np.stack(out, -1)


def _background(attrs: dict, size: int, rng: np.random.Generator, flat: bool) -> np.ndarray:
    tone = _rgb(BG_TONES[attrs["bg_tone"]])
    img = np.broadcast_to(tone, (size, size, 3)).copy()
    if attrs["background"] == "gradient":
        ramp = np.linspace(1.05, 0.78, size)[:, None, None]
        img = img * ramp
    elif attrs["background"] == "clutter":
        layer = Image.new("RGB", (size, size), tuple(int(v * 255) for v in tone))
        draw = ImageDraw.Draw(layer)
        for _ in range(7):
            x, y, r = rng.random() * size, rng.random() * size, (0.06 + 0.14 * rng.random()) * size
            col = list(BG_TONES.values())[rng.integers(len(BG_TONES))]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(0.85 * c) for c in col))
        if not flat:
            layer = layer.filter(ImageFilter.GaussianBlur(size / 40))
        img = np.asarray(layer, np.float64) / 255
    return img


def _surface(attrs: dict, size: int, two_tone: bool) -> np.ndarray:
    """Multiplier for the object's surface pattern (stripes, dots or none)."""
    y, x = np.mgrid[0:size, 0:size] / size
    if attrs["texture"] == "stripes":
        wave = np.sin(2 * math.pi * (x + y) * 5)
    elif attrs["texture"] == "dots":
        wave = np.cos(2 * math.pi * x * 6) * np.cos(2 * math.pi * y * 6)
    else:
        return np.ones((size, size, 1))
    wave = np.where(wave > 0.3, 1.0, 0.0) if two_tone else (wave + 1) / 2
    return (1 - 0.28 * wave)[..., None]


def _photo(cls, attrs, size, rng):
    alpha, _ = shape_masks(cls, attrs, size, 1)
    bg = _background(attrs, size, rng, flat=False)
    shadow = np.roll(alpha, (round(0.05 * size), round(0.04 * size)), axis=(0, 1))
    shadow = np.asarray(Image.fromarray((shadow * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(size / 25)), np.float64) / 255
    bg = bg * (1 - 0.35 * shadow[..., None])
    y, x = np.mgrid[0:size, 0:size] / size
    light = 1.25 - 0.55 * (x + y) / 2
    hx, hy = 0.5 + attrs["dx"] - 0.15 * attrs["scale"], 0.5 + attrs["dy"] - 0.15 * attrs["scale"]
    spec = 0.35 * np.exp(-((x - hx) ** 2 + (y - hy) ** 2) / (0.02 * attrs["scale"]))
    obj = _rgb(PALETTE[attrs["colour"]]) * _surface(attrs, size, False) * light[..., None] + spec[..., None]
    return bg * (1 - alpha[..., None]) + obj * alpha[..., None]


def _painting(cls, attrs, size, rng):
    alpha, _ = shape_masks(cls, attrs, size, 1)
    streak_bg = _lowres_noise(rng, size, (max(2, size // 3), max(2, size // 12)), 3)
    streak_obj = _lowres_noise(rng, size, (max(2, size // 12), max(2, size // 3)), 1)
    bg = _background(attrs, size, rng, flat=False) * (1 + 0.18 * streak_bg)
    ragged = _lowres_noise(rng, size, (max(2, size // 5), max(2, size // 5)))[..., 0]
    alpha = np.clip((alpha - 0.5) * 2.5 + 0.5 + 0.45 * ragged * (alpha * (1 - alpha) * 4), 0, 1)
    base = 0.8 * _rgb(PALETTE[attrs["colour"]]) + 0.2 * _rgb(BG_TONES[attrs["bg_tone"]])
    obj = base * _surface(attrs, size, False) * (1 + 0.3 * streak_obj)
    return bg * (1 - alpha[..., None]) + obj * alpha[..., None]


def _cartoon(cls, attrs, size, rng):
    alpha, band = shape_masks(cls, attrs, size, max(1.5, size / 24))
    bg = 0.5 + 0.5 * _background(attrs, size, rng, flat=True)  # pastel
    obj = _rgb(PALETTE[attrs["colour"]]) * _surface(attrs, size, True)
    img = bg * (1 - alpha[..., None]) + obj * alpha[..., None]
    ink = np.clip(band * 1.6, 0, 1)[..., None]
    return img * (1 - ink) + 0.08 * ink


def _sketch(cls, attrs, size, rng):
    alpha, band = shape_masks(cls, attrs, size, max(0.8, size / 64))
    paper = np.broadcast_to(_rgb((248, 246, 240)), (size, size, 3)).copy()
    if attrs["background"] == "gradient":
        y, x = np.mgrid[0:size, 0:size] / size
        paper *= (1 - 0.12 * ((x - 0.5) ** 2 + (y - 0.5) ** 2) * 4)[..., None]
    elif attrs["background"] == "clutter":
        scribble = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(scribble)
        for _ in range(5):
            draw.line([tuple(rng.random(2) * size) for _ in range(3)], fill=90, width=1)
        paper *= (1 - np.asarray(scribble, np.float64)[..., None] / 255 * 0.5)
    pencil = 0.45 * _rgb(PALETTE[attrs["colour"]])
    y, x = np.mgrid[0:size, 0:size]
    hatch = (((x + y) % max(3, size // 10)) == 0) * alpha * 0.35
    jitter = np.roll(band, (int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), axis=(0, 1))
    ink = np.clip(np.maximum(np.maximum(band * 1.3, 0.5 * jitter), hatch), 0, 1)[..., None]
    return paper * (1 - ink) + pencil * ink


STYLES = {"photo": _photo, "painting": _painting, "cartoon": _cartoon, "sketch": _sketch}


def render(domain: str, cls: str, attrs: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """One image, uint8 H×W×3."""
    img = STYLES[domain](cls, attrs, size, rng)
    img = img + rng.normal(0, attrs["noise"], img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- sampling
def class_value(attribute: str, cls: str) -> str:
    """The value a spurious attribute takes for this class (fixed by the class's global index)."""
    k = SYNTHETIC_CLASSES.index(cls)
    values = list(PALETTE) if attribute == "colour" else list(BACKGROUNDS)
    return values[k % len(values)]


def image_rng(seed: int, domain: str, cls: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SYNTHETIC_DOMAINS.index(domain), SYNTHETIC_CLASSES.index(cls), index])


def sample_attributes(rng: np.random.Generator, domain: str, cls: str, p: SyntheticParams) -> dict:
    """Nuisances for one image; the spurious attribute follows the class with p.spurious_strength."""
    attrs = {
        "colour": list(PALETTE)[rng.integers(len(PALETTE))],
        "bg_tone": list(BG_TONES)[rng.integers(len(BG_TONES))],
        "background": BACKGROUNDS[rng.integers(len(BACKGROUNDS))],
        "texture": TEXTURES[rng.integers(len(TEXTURES))],
        "dx": round(float(rng.uniform(-0.12, 0.12)), 4),
        "dy": round(float(rng.uniform(-0.12, 0.12)), 4),
        "scale": round(float(rng.uniform(0.55, 0.85)), 4),
        "rotation": round(float(rng.uniform(-30, 30)), 2),
        "noise": round(float(rng.choice([0.0, 0.02, 0.05])), 4),
    }
    forced = rng.random() < p.spurious_strength  # drawn always, so the stream never depends on params
    if domain in p.spurious_domains and forced:
        attrs[p.spurious_attribute] = class_value(p.spurious_attribute, cls)
    return attrs


def write_world(p: SyntheticParams, dataset_dir: Path, progress=None) -> pd.DataFrame:
    """Render the world into `dataset_dir/<domain>/<class>/<class>_NNNN.png`; return the attributes."""
    rows = []
    jobs = [(d, c, i) for d in sorted(p.domains) for c in sorted(p.classes) for i in range(p.images_per_class)]
    for d, c, i in (progress(jobs) if progress else jobs):
        rng = image_rng(p.seed, d, c, i)
        attrs = sample_attributes(rng, d, c, p)
        rel = Path(d) / c / f"{c}_{i:04d}.png"
        (dataset_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(render(d, c, attrs, p.image_size, rng)).save(dataset_dir / rel, format="PNG")
        rows.append({"path": rel.as_posix(), **attrs})
    return pd.DataFrame(rows)
