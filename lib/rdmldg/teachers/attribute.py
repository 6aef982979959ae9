"""The offline teacher: five-stage chains written from each image's generating attributes.

Its style is deliberately rich: the CAPTION describes the rendering style and every
nuisance (colour, surface, background, placement, tilt, grain); the REASONING uses only
class-relevant structure, and contrasts the class with a confusable one; the REFLECTION
checks that nuisances did not decide. Phrasing varies per candidate. A share of candidates
(`imperfect_rate`) is deliberately flawed — a wrong conclusion, a missing section or a
truncated answer — so the filter has real work, as with a sampled MLLM teacher.
"""

from __future__ import annotations

import numpy as np

from rdmldg.chains import display_name, format_chain
from rdmldg.teachers.base import OnResponse, Request, Response

# class → (structural evidence, confusable class); evidence never mentions a nuisance
SHAPE_EVIDENCE = {
    "ball": (["a round outline", "no corners", "a solid middle with no hole"], "ring"),
    "ring": (["a round outer edge", "a round hole in the middle", "a band of even width"], "ball"),
    "moon": (["a curved outer edge", "a round bite out of one side", "two pointed tips"], "ball"),
    "star": (["five pointed tips", "inner corners between the tips", "five-fold symmetry"], "cross"),
    "cross": (["two straight bars", "bars crossing at right angles", "four equal arms"], "star"),
    "house": (["a rectangular body", "a triangular roof on top", "a door at the base"], "tree"),
    "tree": (["a tall triangular crown", "a narrow trunk below it", "one point at the top"], "house"),
    "flower": (["six rounded petals", "petals evenly around a centre", "a scalloped edge"], "ball"),
}
DIGIT_EVIDENCE = {
    "zero": (["one closed oval loop", "an empty centre", "no straight strokes"], "six"),
    "one": (["a single near-vertical stroke", "no loops", "at most a short flag at the top"], "seven"),
    "two": (["a curved hook at the top", "a diagonal down to the left", "a flat base stroke"], "seven"),
    "three": (["two stacked bumps", "both bumps open to the left", "no closed loop"], "eight"),
    "four": (["a vertical stroke", "a bar crossing it", "an angled upper arm"], "nine"),
    "five": (["a flat bar at the top", "a short drop on the left", "a lower bowl open to the left"], "six"),
    "six": (["a stem curving down", "a closed loop at the bottom", "an open top"], "zero"),
    "seven": (["a bar at the top", "a long diagonal from its right end", "no loops"], "one"),
    "eight": (["two closed loops", "loops stacked vertically", "a crossing in the middle"], "three"),
    "nine": (["a closed loop at the top", "a stem down from the loop", "an open bottom"], "four"),
}
# The teacher's style is rich, the base model's own plain (models/corpus.py: about 33 words):
# this one writes about 65, so the contrast Challenge 2 is about stays while a chain costs
# about half the tokens it did at 120 words.
STYLE = {
    "photo": ["a photograph-like image with soft shading and a cast shadow", "a realistic, shaded picture"],
    "painting": ["a painting with brush strokes and ragged edges", "a painterly image of streaky strokes"],
    "cartoon": ["a cartoon with flat colours and thick black outlines", "a comic-style drawing in heavy ink"],
    "sketch": ["a pencil sketch with light hatching on paper", "a hatched line sketch on paper"],
}
TEXTURE = {"plain": "", "stripes": "striped ", "dots": "dotted "}
BACKGROUND = {"plain": "a plain {tone} background", "gradient": "a darkening {tone} background",
              "clutter": "a cluttered {tone} background"}
SUMMARY = [
    "Describe the picture, then decide from the shape alone.",
    "Look past the drawing style and judge the parts.",
    "Name the object from its structure, not its looks.",
]
REFLECTION = [
    "Colour, pattern, background and style could all change; the shape still says {cls}.",
    "Every feature used belongs to the shape, and only {cls} has them all.",
]
REASONING = [
    "It has {e0}, {e1} and {e2}. A {conf} would show {c0}, so this is a {cls}.",
    "{E0}, {e1} and {e2}: that is a {cls}, not a {conf}, which has {c0}.",
]
DEFECTS = ("wrong_conclusion", "missing_section", "truncated")


def _placement(a: dict) -> str:
    horiz = "left of centre" if a["dx"] < -0.04 else "right of centre" if a["dx"] > 0.04 else "centred"
    tilt = "upright" if abs(a["rotation"]) < 8 else \
        f"tilted {abs(round(a['rotation'] / 5) * 5)} degrees {'clockwise' if a['rotation'] > 0 else 'anticlockwise'}"
    return f"{horiz}, {tilt}"


def _caption(domain: str, a: dict, rng: np.random.Generator) -> str:
    if "bg_tone" in a:  # the synthetic world
        size = "large" if a["scale"] > 0.75 else "small" if a["scale"] < 0.63 else "mid-sized"
        look = f"{a['colour']} pencil" if domain == "sketch" else f"{TEXTURE[a['texture']]}{a['colour']}"
        grain = ", grainy" if a["noise"] >= 0.05 else ""
        return (f"{rng.choice(STYLE[domain]).capitalize()}: a {size} {look} object, {_placement(a)}, "
                f"on {BACKGROUND[a['background']].format(tone=a['bg_tone'])}{grain}.")
    colour = f" in {a['colour']} ink" if a.get("colour") else " in white on black"
    tilt = "upright" if not a.get("rotation") else f"rotated by about {a['rotation']} degrees"
    return f"A small handwritten digit{colour}, {tilt}, centred on a dark background with soft, blurred edges."


def _evidence(cls: str) -> tuple[list[str], str]:
    table = SHAPE_EVIDENCE if cls in SHAPE_EVIDENCE else DIGIT_EVIDENCE if cls in DIGIT_EVIDENCE else None
    if table is None:
        raise ValueError(f"the attribute teacher has no evidence for class '{cls}': it serves the synthetic "
                         "world and the digits. Fix: set chains.teacher to hf or openai for real datasets")
    return table[cls]


def write_chain(domain: str, cls: str, attrs: dict, rng: np.random.Generator, conclude: str | None = None) -> dict:
    """The five sections for one image; `conclude` overrides the class the chain argues for."""
    target = conclude or cls
    evidence, confusable = _evidence(target)
    conf_evidence, _ = _evidence(confusable)
    order = rng.permutation(3)
    fill = {f"e{i}": evidence[j] for i, j in enumerate(order)}
    reasoning = rng.choice(REASONING).format(**fill, E0=fill["e0"][0].upper() + fill["e0"][1:], c0=conf_evidence[0],
                                             cls=display_name(target), conf=display_name(confusable))
    return {
        "summary": str(rng.choice(SUMMARY)),
        "caption": _caption(domain, attrs, rng),
        "reasoning": reasoning,
        "reflection": rng.choice(REFLECTION).format(cls=display_name(target)),
        "conclusion": display_name(target),
    }


def imperfect(domain: str, cls: str, attributes: dict, defect: str, rng: np.random.Generator) -> str:
    """A flawed candidate of one of `DEFECTS`: it concludes with a confusable class, lacks a
    section, or stops short."""
    if defect == "wrong_conclusion":
        _, confusable = _evidence(cls)
        return format_chain(**write_chain(domain, cls, attributes, rng, conclude=confusable))
    sections = write_chain(domain, cls, attributes, rng)
    if defect == "missing_section":
        drop = rng.choice(list(sections))
        return format_chain(**{k: v for k, v in sections.items() if k != drop})
    text = format_chain(**sections)
    cut = int(len(text) * rng.uniform(0.45, 0.95))  # as if the answer ran out of tokens
    return text[:cut]


class AttributeTeacher:
    name = "attribute"
    model = "attribute-teacher-v2"  # v2: the ~70-word style (v1 wrote ~120 words); the cache keys on it

    def __init__(self, imperfect_rate: float):
        self.imperfect_rate = imperfect_rate

    def decoding(self) -> dict:
        return {"imperfect_rate": self.imperfect_rate}

    def answer(self, req: Request) -> str:
        it = req.item
        rng = np.random.default_rng(req.seed)
        if rng.random() < self.imperfect_rate:
            return imperfect(it.domain, it.class_name, it.attributes, DEFECTS[rng.integers(len(DEFECTS))], rng)
        return format_chain(**write_chain(it.domain, it.class_name, it.attributes, rng))

    def generate(self, requests: list[Request], on_response: OnResponse) -> None:
        for i, req in enumerate(requests):
            on_response(i, Response(self.answer(req)))
