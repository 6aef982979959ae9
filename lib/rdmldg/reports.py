"""reports/index.html: the study's front page, linking every stage report present.

    python -m rdmldg.reports

Self-contained (inline CSS, no scripts, no external URLs) so it reads offline.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

from rdmldg import paths

# Known stages in pipeline order: (report stem, title, what it answers)
STAGES = [
    ("prepare", "Data", "The DomainBed-shaped benchmark: domains, classes, splits, nuisances, and whether the shift is real."),
    ("chains", "Reasoning chains", "The DomainBed-Reasoning chains: examples, lengths, rejection rates."),
    ("base", "Base MLLM", "The embedded multimodal model: pretraining curves and sample generations."),
    ("zeroshot", "Zero-shot, in-context and mapping deficiency", "How the base model generalises before fine-tuning."),
    ("train", "Training runs", "One report per held-out domain and method."),
    ("evaluate", "Evaluation", "Every run on every environment's splits."),
    ("ood_analysis", "OOD analysis", "Leave-one-domain-out tables, Challenges 1 and 2, domain invariance."),
]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222;line-height:1.5}
h1{font-size:1.7rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.muted{color:#666} table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .6rem;
border-bottom:1px solid #eee;text-align:left} a{color:#1a5fb4} code{background:#f4f4f4;padding:0 .2rem}
li{margin:.3rem 0}
"""


def _stage_entries(reports: Path) -> list[tuple[str, str, list[Path]]]:
    """(title, description, report files) for each stage with at least one report present."""
    entries = []
    known = set()
    for stem, title, what in STAGES:
        files = [reports / f"{stem}.html"] if (reports / f"{stem}.html").exists() else []
        if (reports / stem).is_dir():
            files += sorted((reports / stem).glob("*.html"))
        known.add(stem)
        if files:
            entries.append((title, what, files))
    others = sorted(p for p in reports.glob("*.html") if p.stem not in known and p.name != "index.html")
    if others:
        entries.append(("Other reports", "", others))
    return entries


def _dataset_summary(root: Path) -> str:
    info_path = paths.data_dir(root) / "prepared" / "dataset.json"
    if not info_path.exists():
        return ""
    info = json.loads(info_path.read_text())
    return (f"<p>Dataset <b>{html.escape(info['dataset'])}</b> ({html.escape(info['source'])}): "
            f"{info['n_images']} images, domains {html.escape(', '.join(info['domains']))}; "
            f"{len(info['classes'])} classes.</p>")


def _profile(root: Path) -> str:
    try:
        from rdmldg.params import load

        return load(paths.params_dir(root)).study.profile
    except Exception:  # the index must render even when params are being edited
        return "unknown"


def build_index(root: Path | None = None) -> Path:
    root = root or paths.find_root()
    reports = paths.reports_dir(root)
    reports.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>RD-MLDG study</title>", f"<style>{CSS}</style></head><body>",
        "<h1>How reasoning chains help multimodal LLMs generalise across domains</h1>",
        "<p class='muted'>RD-MLDG (multi-task cross-training + self-aligned reasoning regularisation) "
        "under DomainBed's leave-one-domain-out protocol, with the zero-shot, in-context and "
        "mapping-deficiency analyses of MLLM out-of-distribution generalisation.</p>",
        f"<p>Parameters profile: <code>{html.escape(_profile(root))}</code></p>",
        _dataset_summary(root),
        "<h2>Stage reports</h2>",
    ]
    entries = _stage_entries(reports)
    if not entries:
        parts.append("<p>No stage report yet: run <code>dvc repro</code>.</p>")
    for title, what, files in entries:
        links = "".join(f"<li><a href='{html.escape(f.relative_to(reports).as_posix())}'>"
                        f"{html.escape(f.stem)}</a></li>" for f in files)
        parts.append(f"<h3>{html.escape(title)}</h3><p class='muted'>{html.escape(what)}</p><ul>{links}</ul>")
    parts.append("</body></html>\n")
    out = reports / "index.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def main() -> int:
    out = build_index()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
