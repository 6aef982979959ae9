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
            "lodo": {r: {"zeroshot": row, "rdmldg": {**row, "Avg": 41.8}}
                     for r in ("answer", "loglik", "generate", "reason")},
            "readouts": {"zeroshot": "loglik", "rdmldg": "loglik"},
            "headline": {"best_method": "rdmldg", "best_avg": 41.8, "zeroshot_avg": 39.375},
            "challenge2": {"skipped": None, "self_correct": 50, "teacher": {"target_gain_points": 1.25},
                           "self": {"target_gain_points": 9.75}, "top_token_overlap": 0.4},
            "invariance_mmd2": {"chain text": 0.0123, "image": 0.0456}, "mapping_gap_mean": 0.333,
            "methods": ["zeroshot", "rdmldg"], "test_images_per_domain": {"cartoon": 307, "photo": 306},
            "binomial_se": {"zeroshot": {"Avg": 1.375}, "rdmldg": {"Avg": 1.25}}, "paired_confidence": 0.95,
            "instrument": [{"what": "zero-shot held-out Avg (%)", "value": 39.375, "target": "35–75", "met": True},
                           {"what": "label SFT − zero-shot", "value": None, "target": "≥ 15", "met": None}],
            "paired": [{"domain": "cartoon", "significant": True,
                        "verdict": "rdmldg − zeroshot = +9.0 points [+1.0, +17.0]: significant"},
                       {"domain": "Avg", "significant": False,
                        "verdict": "rdmldg − zeroshot = +2.4 points [−1.0, +5.8]: not significant"}]}


def test_front_page_shows_the_headline_from_the_analysis_metrics(project):
    import json

    metrics = project / "reports" / "metrics"
    metrics.mkdir(parents=True)
    assert "No analysis yet" in build_index(project).read_text()
    (metrics / "analysis.json").write_text(json.dumps(_analysis_metrics()))
    text = build_index(project).read_text()
    assert "31.2 ± 1.5" in text and "<b>41.8</b>" in text and "mean over 3 trial seed(s)" in text
    assert "+9.8 with the model's own" in text and "chain text 0.012" in text and "33.3 points" in text
    assert "rdmldg − zeroshot = +2.4 points [−1.0, +5.8]: not significant" in text and "http" not in text
    assert "+9.0 points" not in text  # the front page states the Avg verdicts; per-domain ones are in the report
    assert "<td>39.4</td><td>35–75</td><td>met</td>" in text and "<td>X</td><td>≥ 15</td><td>not measured</td>" in text
    assert "cartoon 307, photo 306" in text and "Avg 1.2–1.4 points" in text and "95 %" in text
    assert text.index("<th>zeroshot</th>") < text.index("<th>rdmldg</th>")  # the study's order


def test_front_page_calls_a_tie_a_tie_and_chance_chance(project):
    import json

    metrics = project / "reports" / "metrics"
    metrics.mkdir(parents=True)
    a = _analysis_metrics()
    (metrics / "analysis.json").write_text(json.dumps(a))
    assert "best fine-tuned method: <b>rdmldg</b> at 41.8 % (chance 12.5 %)." in build_index(project).read_text()
    a["methods"] = ["zeroshot", "label", "rdmldg"]
    a["binomial_se"]["label"] = {"Avg": 1.25}
    a["headline"] = {"best_method": "label", "best_avg": 13.0, "zeroshot_avg": 12.0,
                     "best_methods": ["label", "rdmldg"]}
    for readout in a["lodo"].values():
        readout["label"] = readout["rdmldg"]
    (metrics / "analysis.json").write_text(json.dumps(a))
    text = build_index(project).read_text()
    assert "a tie between <b>label</b> and <b>rdmldg</b> at 13.0 %, no better than chance (12.5 %)." in text
    assert "best fine-tuned method" not in text


def test_base_entry_describes_a_loaded_checkpoint_as_such(project):
    reports = project / "reports"
    (reports / "metrics").mkdir(parents=True)
    (reports / "base.html").write_text("<html></html>")
    assert "pretraining curves" in build_index(project).read_text()
    (reports / "metrics" / "base.json").write_text('{"source": "checkpoint", "model_type": "internvl"}')
    text = build_index(project).read_text()
    assert "pretraining curves" not in text and "The loaded checkpoint" in text
