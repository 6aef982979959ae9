"""DomainBed-Reasoning chains: the five-stage format, the prompts, and the parsers.

A chain is `<SUMMARY>…</SUMMARY> <CAPTION>…</CAPTION> <REASONING>…</REASONING>
<REFLECTION>…</REFLECTION> <CONCLUSION>…</CONCLUSION>` (docs/science.md §1A). Every prompt of the
study lives here, so teachers, training and evaluation ask exactly the same questions.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

SECTIONS = ("SUMMARY", "CAPTION", "REASONING", "REFLECTION", "CONCLUSION")


# --------------------------------------------------------------------------- prompts
def options(classes: list[str]) -> str:
    """Class names as the prompts list them: human-readable, in the given order."""
    return ", ".join(display_name(c) for c in classes)


def display_name(cls: str) -> str:
    return cls.replace("_", " ")


def q_cls(classes: list[str]) -> str:
    """The classification prompt (RD-MLDG); the target is the bare class name."""
    return f"What type of object is in this photo? Choose from the following options: {options(classes)}"


def q_reason(classes: list[str]) -> str:
    """The reasoning prompt (RD-MLDG); the target is a full five-stage chain.

    Also the teacher's prompt: it names the options, never the label.
    """
    return (
        f"{q_cls(classes)}. Reason step by step before answering, in five tagged stages: "
        "<SUMMARY> how you will solve the task </SUMMARY> "
        "<CAPTION> what the image shows </CAPTION> "
        "<REASONING> the evidence that decides the class </REASONING> "
        "<REFLECTION> a check of that reasoning </REFLECTION> "
        "<CONCLUSION> the class name only </CONCLUSION>"
    )


def q_choice_list(classes: list[str]) -> str:
    """The zero-shot prompt of the OOD-generalisation study, with its answer template."""
    names = ", ".join(display_name(c) for c in classes)
    return (f"What is in this image? Choice list: [{names}]. "
            "Answer with the template: Answer Choice: <class>")


def fewshot_prompt(shot_labels: list[str], classes: list[str]) -> list[dict]:
    """Content parts for in-context learning: each shot an image and its answer, then the query
    image and the classification prompt. Images come in the same order as the placeholders."""
    parts: list[dict] = []
    for label in shot_labels:
        parts += [{"type": "image"}, {"type": "text", "text": f"Answer: {display_name(label)}\n"}]
    return parts + [{"type": "image"}, {"type": "text", "text": q_cls(classes)}]


# --------------------------------------------------------------------------- format
@dataclass(frozen=True)
class Chain:
    summary: str
    caption: str
    reasoning: str
    reflection: str
    conclusion: str

    def text(self) -> str:
        """The canonical string: the training target of the reasoning pathway."""
        return format_chain(**self.as_dict())

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def format_chain(**sections: str) -> str:
    """The given sections (summary=..., caption=...) tagged, in canonical order, one per line.
    All five make a chain; fewer make the kind of broken answer the filter must reject."""
    given = {k.upper(): v.strip() for k, v in sections.items()}
    unknown = set(given) - set(SECTIONS)
    if unknown:
        raise ValueError(f"not chain sections: {sorted(unknown)}")
    return "\n".join(f"<{s}>{given[s]}</{s}>" for s in SECTIONS if s in given)


_TAG = re.compile(r"<\s*(/?)\s*(" + "|".join(SECTIONS) + r")\s*>", re.IGNORECASE)
_CONCLUSION_CLOSE = re.compile(r"<\s*/\s*CONCLUSION\s*>", re.IGNORECASE)


def chain_part(text: str) -> str:
    """A response up to the close of its first CONCLUSION, where the format ends — what a stop
    sequence at `</CONCLUSION>` would return. A small model often goes on after it (repeating
    `ball</CONCLUSION>`, or opening another CONCLUSION); that text is not part of its chain."""
    end = _CONCLUSION_CLOSE.search(text or "")
    return text[:end.end()] if end else text


def check_chain(text: str) -> tuple[Chain | None, str | None]:
    """(chain, None) when `text` holds the five sections once each, in order, closed and
    non-empty; else (None, why). Tags are case- and space-insensitive; text outside the
    sections (a preamble, say) is ignored, and so is everything after the CONCLUSION closes."""
    if not isinstance(text, str) or not text.strip():
        return None, "empty response"
    text = chain_part(text)
    tags = [(m.group(1) == "/", m.group(2).upper(), m.start(), m.end()) for m in _TAG.finditer(text)]
    if tags and not tags[-1][0]:
        return None, f"truncated: ends inside {tags[-1][1]}"  # the answer ran out of tokens
    opens = [t[1] for t in tags if not t[0]]
    for name in SECTIONS:
        if opens.count(name) > 1:
            return None, f"duplicated section: {name}"
    missing = [s for s in SECTIONS if s not in opens]
    if missing:
        return None, f"missing section: {', '.join(missing)}"
    if opens != list(SECTIONS):
        return None, f"sections out of order: {' '.join(opens)}"
    bodies = {}
    for i, (closing, name, _start, end) in enumerate(tags):
        if closing:
            continue
        nxt = tags[i + 1] if i + 1 < len(tags) else None
        if nxt is None or not (nxt[0] and nxt[1] == name):
            return None, f"section not closed: {name}"
        body = text[end:nxt[2]].strip()
        if not body:
            return None, f"empty section: {name}"
        bodies[name.lower()] = body
    closes = [t[1] for t in tags if t[0]]
    if closes != list(SECTIONS):
        return None, "stray closing tag: " + " ".join(closes)
    return Chain(**bodies), None


def parse_chain(text: str) -> Chain | None:
    return check_chain(text)[0]


def reason_kind(reason: str) -> str:
    """The category of a rejection reason ("missing section: CAPTION" → "missing section")."""
    return reason.split(":", 1)[0]


# --------------------------------------------------------------------------- answers
def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[_\-]", " ", text.lower())).strip()


_CONCLUSION = re.compile(r"<\s*CONCLUSION\s*>(.*?)(?:<\s*/\s*CONCLUSION\s*>|$)", re.IGNORECASE | re.DOTALL)
_ANSWER_LINE = re.compile(r"answer\s*choice\s*:\s*(.*)", re.IGNORECASE)


def answer_span(text: str) -> str:
    """The part of a response that states the answer: the chain's CONCLUSION if tagged (its
    first, what comes after it is not the chain's: `chain_part`), else the last `Answer Choice:`
    line, else the whole text."""
    conclusions = _CONCLUSION.findall(chain_part(text or ""))
    if conclusions:
        return conclusions[-1]
    lines = _ANSWER_LINE.findall(text or "")
    return lines[-1] if lines else (text or "")


_CONCLUSION_OPEN = re.compile(r"<\s*CONCLUSION\s*>", re.IGNORECASE)


def conclusion_answer(text: str, classes: list[str]) -> str | None:
    """The class a generated chain concludes with; None without a CONCLUSION section (a chain
    cut off before it says nothing), or when it names no single class."""
    if not _CONCLUSION_OPEN.search(text or ""):
        return None
    return parse_answer(text, classes)


def parse_answer(text: str, classes: list[str]) -> str | None:
    """The one class the answer names, or None (no class, or two different classes).

    Case-, space- and underscore-insensitive; matches whole words only (an optional plural
    s/es allowed), and a match inside a longer match does not count: "pencil" is not "pen",
    "carrot" not "car", "alarm clock" not "clock".
    """
    span = f" {_normalise(answer_span(text))} "
    hits = []  # (start, end, class, exact): exact = no plural ending
    for cls in classes:
        name = re.escape(_normalise(cls))
        for m in re.finditer(rf"(?<![a-z0-9]){name}(e?s)?(?![a-z0-9])", span):
            hits.append((m.start(), m.end(), cls, m.group(1) is None))

    def beaten(s: int, e: int, exact: bool) -> bool:
        """Inside a longer match, or a plural reading where another class matches exactly."""
        return any((s2 <= s and e <= e2 and e2 - s2 > e - s) or (s2 == s and e2 == e and ex2 and not exact)
                   for s2, e2, _, ex2 in hits)

    kept = {c for s, e, c, exact in hits if not beaten(s, e, exact)}
    return kept.pop() if len(kept) == 1 else None
