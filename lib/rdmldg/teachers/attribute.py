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
    "ball": (["a single round outline", "no corners anywhere along the edge", "a solid interior without a hole"], "ring"),
    "ring": (["a round outer edge", "a round hole in the middle", "a band of even width around the hole"], "ball"),
    "moon": (["a curved outer edge", "a round bite cut out of one side", "two pointed tips where the bite meets the edge"], "ball"),
    "star": (["five pointed tips", "inner corners between neighbouring tips", "the same arrangement repeated five times around the centre"], "cross"),
    "cross": (["two straight bars", "the bars crossing at the centre at right angles", "four arms of equal length"], "star"),
    "house": (["a rectangular body", "a triangular roof resting on the body", "a door-shaped opening at the base"], "tree"),
    "tree": (["a tall triangular crown", "a narrow straight trunk under the crown", "a single point at the top"], "house"),
    "flower": (["six rounded petals", "the petals arranged evenly around a round centre", "a scalloped outer edge"], "ball"),
}
DIGIT_EVIDENCE = {
    "zero": (["one closed oval loop", "an empty centre", "no straight strokes"], "six"),
    "one": (["a single near-vertical stroke", "no loops", "at most a short flag at the top"], "seven"),
    "two": (["a curved hook at the top", "a diagonal running down to the left", "a flat stroke along the base"], "seven"),
    "three": (["two bumps stacked on top of each other", "both bumps open to the left", "no closed loop"], "eight"),
    "four": (["a vertical stroke", "a horizontal bar crossing it", "an angled upper arm meeting the bar"], "nine"),
    "five": (["a flat bar at the top", "a short vertical drop on the left", "a lower bowl open to the left"], "six"),
    "six": (["a stem curving down from the top", "a closed loop at the bottom", "nothing closing the top"], "zero"),
    "seven": (["a horizontal bar at the top", "a long diagonal stroke from its right end", "no loops"], "one"),
    "eight": (["two closed loops", "the loops stacked vertically", "a crossing point in the middle"], "three"),
    "nine": (["a closed loop at the top", "a stem running down from the loop", "nothing closing the bottom"], "four"),
}
STYLE = {
    "photo": ["a photograph-like rendering with soft shading, a highlight and a cast shadow",
              "a realistic, shaded image in which the object throws a soft shadow"],
    "painting": ["a painting with visible brush strokes and ragged edges",
                 "a painterly image made of streaky strokes of colour"],
    "cartoon": ["a cartoon drawing with flat colours and thick black outlines",
                "a flat, comic-style drawing outlined in heavy black ink"],
    "sketch": ["a pencil sketch on paper with light hatching",
               "a hand-drawn line sketch, hatched inside, on off-white paper"],
}
TEXTURE = {"plain": "a plain surface", "stripes": "diagonal stripes across its surface", "dots": "a dotted pattern"}
BACKGROUND = {"plain": "a plain {tone} background", "gradient": "a {tone} background that darkens towards the bottom",
              "clutter": "a cluttered {tone} background scattered with blurred blobs"}
SUMMARY = [
    "I will describe the image, pick out the structural features of the object, compare them with the options and name the class.",
    "The task is to name the object. I will look past how the picture is drawn and decide from the shape and its parts.",
    "First I describe what is shown, then I reason from the parts and their arrangement, check that reasoning, and answer with one option.",
]
REFLECTION = [
    "Colour, surface pattern, background and drawing style could all change without changing the object, so they played no part; the structure alone points to {cls}.",
    "Checking again: every feature I used is part of the shape itself, and {cls} is the only option that has all of them.",
    "The decision rests on parts and their arrangement rather than on appearance; nothing in the evidence contradicts {cls}.",
]
REASONING = [
    "The object has {e0}, {e1} and {e2}. A {conf} would need {c0}, which is not what I see. These features define a {cls}.",
    "Looking at its structure: {e0}; {e1}; {e2}. That combination is characteristic of a {cls}, and it rules out a {conf}, which would show {c0}.",
    "Three features decide it: {e0}, {e1}, and {e2}. They match {cls} and not {conf}.",
]
DEFECTS = ("wrong_conclusion", "missing_section", "truncated")


def _placement(a: dict) -> str:
    horiz = "left of centre" if a["dx"] < -0.04 else "right of centre" if a["dx"] > 0.04 else "near the centre"
    vert = "high" if a["dy"] < -0.04 else "low" if a["dy"] > 0.04 else ""
    size = "large" if a["scale"] > 0.75 else "small" if a["scale"] < 0.63 else "medium-sized"
    tilt = "upright" if abs(a["rotation"]) < 8 else \
        f"tilted about {abs(round(a['rotation'] / 5) * 5)} degrees {'clockwise' if a['rotation'] > 0 else 'anticlockwise'}"
    return f"{size}, {' '.join(x for x in (vert, horiz) if x)}, {tilt}"


def _caption(domain: str, a: dict, rng: np.random.Generator) -> str:
    if "bg_tone" in a:  # the synthetic world
        ink = f"drawn in {a['colour']} pencil" if domain == "sketch" else f"coloured {a['colour']} with {TEXTURE[a['texture']]}"
        grain = " The image is grainy." if a["noise"] >= 0.05 else ""
        return (f"{rng.choice(STYLE[domain]).capitalize()}. It shows a single object, {ink}, "
                f"{_placement(a)}, on {BACKGROUND[a['background']].format(tone=a['bg_tone'])}.{grain}")
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
    reasoning = rng.choice(REASONING).format(**fill, c0=conf_evidence[0], cls=display_name(target),
                                             conf=display_name(confusable))
    return {
        "summary": str(rng.choice(SUMMARY)),
        "caption": _caption(domain, attrs, rng),
        "reasoning": reasoning,
        "reflection": rng.choice(REFLECTION).format(cls=display_name(target)),
        "conclusion": display_name(target),
    }


def imperfect(text_sections: dict, cls: str, defect: str, rng: np.random.Generator) -> str:
    """A flawed candidate of the given kind (the wrong-conclusion kind is built by the caller)."""
    if defect == "missing_section":
        drop = rng.choice(list(text_sections))
        return format_chain(**{k: v for k, v in text_sections.items() if k != drop})
    text = format_chain(**text_sections)
    cut = int(len(text) * rng.uniform(0.45, 0.95))  # as if the answer ran out of tokens
    return text[:cut]


class AttributeTeacher:
    name = "attribute"
    model = "attribute-teacher-v1"

    def __init__(self, imperfect_rate: float):
        self.imperfect_rate = imperfect_rate

    def decoding(self) -> dict:
        return {"imperfect_rate": self.imperfect_rate}

    def answer(self, req: Request) -> str:
        it = req.item
        rng = np.random.default_rng(req.seed)
        if rng.random() < self.imperfect_rate:
            defect = DEFECTS[rng.integers(len(DEFECTS))]
            if defect == "wrong_conclusion":
                _, confusable = _evidence(it.class_name)
                return format_chain(**write_chain(it.domain, it.class_name, it.attributes, rng, conclude=confusable))
            return imperfect(write_chain(it.domain, it.class_name, it.attributes, rng), it.class_name, defect, rng)
        return format_chain(**write_chain(it.domain, it.class_name, it.attributes, rng))

    def generate(self, requests: list[Request], on_response: OnResponse) -> None:
        for i, req in enumerate(requests):
            on_response(i, Response(self.answer(req)))
