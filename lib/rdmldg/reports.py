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
from rdmldg.analysis import summary
from rdmldg.io import atomic_write_text

# Known stages in pipeline order: (report stem, title, what it answers)
STAGES = [
    ("prepare", "Data",
     "The DomainBed-shaped benchmark: domains, classes, splits, nuisances, and whether the shift is real."),
    ("chains", "Reasoning chains", "The DomainBed-Reasoning chains: examples, lengths, rejection rates."),
    ("base", "Base MLLM", "The embedded multimodal model: pretraining curves and sample generations."),
    ("zeroshot", "Zero-shot, in-context and mapping deficiency", "How the base model generalises before fine-tuning."),
    ("train", "Training runs",
     "One report per method: every fold and trial seed, loss per pathway, Challenge 1, SARR rounds."),
    ("evaluate", "Evaluation", "Every run on every environment's splits."),
    ("ood_analysis", "OOD analysis", "Leave-one-domain-out tables, Challenges 1 and 2, domain invariance."),
]

STAGE_WHAT_FOR_CHECKPOINT = {"base": "The loaded checkpoint: its path, architecture and content hash."}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222;line-height:1.5}
h1{font-size:1.7rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.muted{color:#666} table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .6rem;
border-bottom:1px solid #eee;text-align:left} a{color:#1a5fb4} code{background:#f4f4f4;padding:0 .2rem}
li{margin:.3rem 0} #stale{background:#fde8e8;border:2px solid #c01c28;padding:.2rem 1rem}
"""


def _stage_entries(reports: Path) -> list[tuple[str, str, list[Path]]]:
    """(title, description, report files) for each stage with at least one report present."""
    base = reports / "metrics" / "base.json"
    loaded = base.exists() and json.loads(base.read_text()).get("source") == "checkpoint"
    entries = []
    known = set()
    for stem, title, what in STAGES:
        files = [reports / f"{stem}.html"] if (reports / f"{stem}.html").exists() else []
        if (reports / stem).is_dir():
            files += sorted((reports / stem).glob("*.html"))
        known.add(stem)
        if files:
            entries.append((title, STAGE_WHAT_FOR_CHECKPOINT.get(stem, what) if loaded else what, files))
    others = sorted(p for p in reports.glob("*.html") if p.stem not in known and p.name != "index.html")
    if others:
        entries.append(("Other reports", "", others))
    return entries


def _dataset_info(root: Path) -> dict | None:
    path = paths.data_dir(root) / "prepared" / "dataset.json"
    return json.loads(path.read_text()) if path.exists() else None


def _dataset_summary(info: dict | None) -> str:
    if not info:
        return ""
    return (f"<p>Dataset <b>{html.escape(info['dataset'])}</b> ({html.escape(info['source'])}): "
            f"{info['n_images']} images, domains {html.escape(', '.join(info['domains']))}; "
            f"{len(info['classes'])} classes.</p>")


QUESTION = (
    "Does supervising a multimodal LLM with <em>reasoning chains</em> that derive the class, not only "
    "with the class name, make it generalise better to an image domain it never saw? The study trains "
    "the same base model five ways on the source domains (label SFT, reasoning SFT, MTCT, SARR, "
    "RD-MLDG = MTCT + SARR) and tests each on the held-out domain, DomainBed-style.")

SYNTHETIC_NOTE = (
    "<p><b>What the default world is:</b> a procedurally rendered, DomainBed-shaped benchmark (styles "
    "as domains, shape-defined classes, recorded nuisances, a spurious colour cue in the source "
    "domains), an offline teacher that writes five-stage chains from the generating attributes, and "
    "a sub-million-parameter LLaVA-style MLLM pretrained in the pipeline. It runs the whole protocol "
    "on 2 CPU cores. <b>What it is not:</b> a measurement of RD-MLDG on real photographs with an 8B "
    "model — numbers here are not comparable to the papers'; run a <code>paper-*</code> profile for "
    "that. The tiny model is weak: read the orderings and the mechanisms, not the absolute "
    "accuracies.</p>")


def _metrics(root: Path, name: str) -> dict | None:
    path = paths.reports_dir(root) / "metrics" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _cell(mean, se=None) -> str:
    if mean is None or mean != mean:  # NaN
        return "X"
    return f"{mean:.1f}" + (f" ± {se:.1f}" if se is not None and se == se else "")


def _headline(root: Path) -> str:
    """The leave-one-domain-out table and the key findings, from the analysis stage's metrics."""
    a = summary.read(paths.reports_dir(root) / "metrics")
    if not a:
        return "<p>No analysis yet: run <code>dvc repro</code>.</p>"
    domains, lodo = a["domains"], a["lodo"]
    head = "".join(f"<th>{html.escape(d)}</th>" for d in domains)
    rows = []
    own = a.get("readouts", {})
    for method in a.get("methods") or list(lodo["answer"]):
        row = lodo["answer"][method]
        cells = "".join(f"<td>{_cell(row[d], row[f'{d} se'])}</td>" for d in domains)
        extra = "".join(f"<td>{_cell(lodo[r][method]['Avg'])}</td>" for r in ("loglik", "generate", "reason"))
        rows.append(f"<tr><th>{html.escape(method)}</th><td>{html.escape(own.get(method, ''))}</td>{cells}"
                    f"<td><b>{_cell(row['Avg'])}</b></td>{extra}</tr>")
    h = a["headline"]
    c2 = a.get("challenge2", {})
    findings = [f"Zero-shot base: {h['zeroshot_avg']:.1f} % on average; {_best(a)}"]
    if a.get("test_images_per_domain"):
        sizes = ", ".join(f"{html.escape(d)} {n}" for d, n in a["test_images_per_domain"].items())
        se = [v["Avg"] for v in a.get("binomial_se", {}).values()]
        findings.append(f"Test images per held-out domain and trial seed: {sizes}; binomial standard error of a "
                        f"method's Avg {min(se):.1f}–{max(se):.1f} points." if se else f"Test images: {sizes}.")
    verdicts = [r for r in a.get("paired", []) if r["domain"] == "Avg"]
    if verdicts:
        findings.append(f"Paired differences on the same test images (Avg, {100 * a['paired_confidence']:.0f} % "
                        "bootstrap interval over trial seeds and images):<ul>"
                        + "".join(f"<li>{'<b>' if r['significant'] else ''}{html.escape(r['verdict'])}"
                                  f"{'</b>' if r['significant'] else ''}</li>" for r in verdicts) + "</ul>")
    if c2.get("skipped"):
        findings.append(f"Challenge 2 not run: {html.escape(c2['skipped'])}.")
    elif "teacher" in c2:
        findings.append(f"Challenge 2 (one fold, {c2['self_correct']} images): target-token probability gain "
                        f"{c2['teacher']['target_gain_points']:+.1f} "
                        f"points with teacher chains vs {c2['self']['target_gain_points']:+.1f} with the model's own "
                        f"(top-token overlap {c2['top_token_overlap']:.2f}).")
    mmd = a.get("invariance_mmd2", {})
    if "chain text" in mmd and "image" in mmd:
        findings.append(f"Domain invariance (mean MMD² between domains): chain text {mmd['chain text']:.3f}, "
                        f"image {mmd['image']:.3f}.")
    if "mapping_gap_mean" in a:
        findings.append(f"Mapping deficiency: the linear probe on frozen vision features beats the model's own "
                        f"zero-shot answer by {100 * a['mapping_gap_mean']:.1f} points on average.")
    table = (f"<table><tr><th>method</th><th>read by</th>{head}<th>Avg</th><th>Avg (loglik)</th>"
             f"<th>Avg (generate)</th><th>Avg (reason)</th></tr>{''.join(rows)}</table>")
    return (f"<h2>Headline: leave-one-domain-out accuracy (%)</h2>"
            f"<p class='muted'>Dataset {html.escape(a['dataset'])}; test = held-out domain's <code>in</code> split; "
            f"training-domain validation; mean over {a['trial_seeds']} trial seed(s), "
            "± standard error with two or more; "
            f"each method read the way it answers: <code>loglik</code>, the class log-likelihood under q_cls, for "
            f"the base and every method trained on q_cls; <code>reason</code>, the CONCLUSION of its q_reason chain, "
            f"for those trained on chains alone. Each readout's average for every method beside.</p>{table}"
            + ("<img src='figures/lodo.png' alt='leave-one-domain-out accuracy by method' style='max-width:100%'>"
               if (paths.reports_dir(root) / "figures" / "lodo.png").exists() else "")
            + "<h2>What the run shows</h2><ul>" + "".join(f"<li>{f}</li>" for f in findings) + "</ul>"
            + _instrument(a.get("instrument")))


def _best(a: summary.AnalysisMetrics) -> str:
    """The highest fine-tuned Avg, said as what it is: a tie when several methods share it, and
    no better than chance when it lies within two standard errors of chance."""
    h, chance = a["headline"], 100 * a["chance"]
    tied = h.get("best_methods") or [h["best_method"]]
    names = " and ".join(f"<b>{html.escape(m)}</b>" for m in tied)
    text = (f"highest fine-tuned Avg: a tie between {names} at {h['best_avg']:.1f} %" if len(tied) > 1 else
            f"best fine-tuned method: {names} at {h['best_avg']:.1f} %")
    se = a.get("binomial_se", {}).get(tied[0], {}).get("Avg")
    if se is not None and h["best_avg"] - chance <= 2 * se:
        text += f", no better than chance ({chance:.1f} %)."
    else:
        text += f" (chance {chance:.1f} %)."
    return text


def _instrument(rows: list[dict] | None) -> str:
    """The analysis stage's check of the miniature's design targets, as a table."""
    if not rows:
        return ""
    mark = {True: "met", False: "<b>not met</b>", None: "not measured"}
    body = "".join(f"<tr><td>{html.escape(r['what'])}</td><td>{_cell(r['value'])}</td>"
                   f"<td>{html.escape(r['target'])}</td><td>{mark[r['met']]}</td></tr>" for r in rows)
    return ("<h2>Is the instrument working?</h2><p class='muted'>The comparisons above mean something only if the "
            "base suffers the shift, fine-tuning moves it, SARR has chains to keep and the test sets resolve a few "
            "points.</p><table><tr><th>measured</th><th>value</th><th>target</th><th></th></tr>" + body + "</table>")


def _profile(root: Path) -> str:
    try:
        from rdmldg.params import load

        return load(paths.params_dir(root)).study.profile
    except Exception:  # the index must render even when params are being edited
        return "unknown"


PROVENANCE_KEYS = ("git_revision", "git_dirty", "lock_sha256", "numerics", "cpu", "cpus", "python",
                   "version_torch", "version_transformers", "version_peft", "time_utc")


def _provenance(root: Path) -> str:
    from rdmldg import provenance

    record = provenance.record(root)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(str(record[k]))}</code></td></tr>"
                   for k in PROVENANCE_KEYS)
    return ("<h2>Provenance</h2><p class='muted'>This page; each stage report has its own full table.</p>"
            f"<table>{rows}</table>")


def build_index(root: Path | None = None) -> Path:
    root = root or paths.find_root()
    reports = paths.reports_dir(root)
    reports.mkdir(parents=True, exist_ok=True)
    info = _dataset_info(root)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>RD-MLDG study</title>", f"<style>{CSS}</style></head><body>",
        "<h1>How reasoning chains help multimodal LLMs generalise across domains</h1>",
        "<p class='muted'>RD-MLDG (multi-task cross-training + self-aligned reasoning regularisation) "
        "under DomainBed's leave-one-domain-out protocol, with the zero-shot, in-context and "
        "mapping-deficiency analyses of MLLM out-of-distribution generalisation.</p>",
        f"<h2>The question</h2><p>{QUESTION}</p>",
        f"<p>Parameters profile: <code>{html.escape(_profile(root))}</code></p>",
        _dataset_summary(info),
        SYNTHETIC_NOTE if info and info.get("source") == "synthetic" else "",
        _headline(root),
        "<h2>Stage reports</h2>",
    ]
    entries = _stage_entries(reports)
    if not entries:
        parts.append("<p>No stage report yet: run <code>dvc repro</code>.</p>")
    for title, what, files in entries:
        links = "".join(f"<li><a href='{html.escape(f.relative_to(reports).as_posix())}'>"
                        f"{html.escape(f.stem)}</a></li>" for f in files)
        parts.append(f"<h3>{html.escape(title)}</h3><p class='muted'>{html.escape(what)}</p><ul>{links}</ul>")
    parts.append(_provenance(root))
    parts.append("</body></html>\n")
    return atomic_write_text(reports / "index.html", "\n".join(parts))


def main() -> int:
    out = build_index()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
