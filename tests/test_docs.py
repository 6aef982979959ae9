"""The repository's documents stand on their own: every citation of the science page names a
section that exists, and nothing points outside the repository."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIENCE = ROOT / "docs" / "science.md"


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    keep = (".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg")
    return [ROOT / f for f in listed.splitlines() if f.endswith(keep) or f == "Makefile"]


def _science_sections() -> set[str]:
    # "## 1A. RD-MLDG: …" is cited as "§1A"
    return {m.group(1) for m in re.finditer(r"^##\s+(\w+)\.", SCIENCE.read_text(), re.MULTILINE)}


def test_every_science_citation_names_an_existing_section():
    sections = _science_sections()
    assert {"1A", "1B", "2", "3"} <= sections
    cited = []
    for path in _tracked_text_files():
        for m in re.finditer(r"docs/science\.md §(\w+)", path.read_text(errors="replace")):
            cited.append((path.relative_to(ROOT), m.group(1)))
    assert cited, "the library cites the science page; the pattern above must still find those citations"
    dangling = [(str(p), s) for p, s in cited if s not in sections]
    assert not dangling, f"citations of sections docs/science.md does not have: {dangling}"


def test_nothing_points_outside_the_repository():
    this = Path(__file__).resolve()
    offenders = []
    for path in _tracked_text_files():
        if path == this:
            continue
        text = path.read_text(errors="replace")
        for pattern in (r"\.\./shared", r"(?<![\w/])STUDY\.md", r"(?<![\w/])DESIGN\.md"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders, offenders
