"""The report index links what is present and nothing external."""

from __future__ import annotations

from rdmldg.reports import build_index


def test_index_links_present_reports_only(project):
    reports = project / "reports"
    (reports / "train").mkdir(parents=True)
    (reports / "prepare.html").write_text("<html></html>")
    (reports / "train" / "heldout-photo_method-mtct.html").write_text("<html></html>")
    text = build_index(project).read_text()
    assert "href='prepare.html'" in text and "href='train/heldout-photo_method-mtct.html'" in text
    assert "chains.html" not in text
    assert "http" not in text
    assert "default" in text  # the profile in force


def test_front_page_provenance_names_the_lock(project):
    from rdmldg import lockfile

    (project / "requirements.lock").write_text("numpy==2.4.6\n")
    text = build_index(project).read_text()
    assert f"<td>lock_sha256</td><td><code>{lockfile.digest(project / 'requirements.lock')}</code>" in text
    assert "<td>numerics</td>" in text and "<td>cpu</td>" in text


def _analysis_metrics() -> dict:
    row = {"cartoon": 31.25, "cartoon se": 1.5, "photo": 47.5, "photo se": 0.0, "Avg": 39.375}
    return {"domains": ["cartoon", "photo"], "dataset": "SyntheticWorld", "trial_seeds": 3, "chance": 0.125,
            "lodo": {r: {"zeroshot": row, "rdmldg": {**row, "Avg": 41.8}} for r in ("loglik", "generate", "reason")},
            "headline": {"best_method": "rdmldg", "best_avg": 41.8, "zeroshot_avg": 39.375, "rdmldg_minus_label": 2.5},
            "challenge2": {"skipped": None, "self_correct": 50, "teacher": {"target_gain_points": 1.25},
                           "self": {"target_gain_points": 9.75}, "top_token_overlap": 0.4},
            "invariance_mmd2": {"chain text": 0.0123, "image": 0.0456}, "mapping_gap_mean": 0.333,
            "methods": ["zeroshot", "rdmldg"], "test_images_per_domain": 64, "cell_binomial_se": 5.25}


def test_front_page_shows_the_headline_from_the_analysis_metrics(project):
    import json

    metrics = project / "reports" / "metrics"
    metrics.mkdir(parents=True)
    assert "No analysis yet" in build_index(project).read_text()
    (metrics / "analysis.json").write_text(json.dumps(_analysis_metrics()))
    text = build_index(project).read_text()
    assert "31.2 ± 1.5" in text and "<b>41.8</b>" in text and "mean over 3 trial seed(s)" in text
    assert "+9.8 with the model's own" in text and "chain text 0.012" in text and "33.3 points" in text
    assert "RD-MLDG minus label SFT: +2.5 points" in text and "http" not in text
    assert "64 test images" in text and "5.2 points" in text
    assert text.index("<th>zeroshot</th>") < text.index("<th>rdmldg</th>")  # the study's order
