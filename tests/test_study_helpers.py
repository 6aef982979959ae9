"""The helpers the stage notebooks call, on tables made here by hand: seeded sampling, the
held-out test filter, reading results back, the paired-vs-LODO check, Challenge 1's table,
SARR rounds, the mapping gap and the typed headline."""

import json

import numpy as np
import pandas as pd
import pytest

from rdmldg.analysis import paired, rounds, summary
from rdmldg.analysis.zeroshot import mapping_table
from rdmldg.evaluation.pipeline import heldout_rows
from rdmldg.evaluation.runs import Run
from rdmldg.models.token_probs import challenge1_metrics, challenge1_table, probe_items
from rdmldg.seeding import sample_per_domain, seeded_sample


def _rows(n_per_domain=5):
    domains = ["b", "a"] * n_per_domain  # interleaved, so per-domain order and global order differ
    return pd.DataFrame({"domain": domains, "value": range(len(domains))})


def test_seeded_samples_repeat_with_the_seed_and_differ_by_purpose():
    rows = _rows()
    first = seeded_sample(rows, 4, 0, "x")
    assert first.equals(seeded_sample(rows, 4, 0, "x")) and len(first) == 4
    assert not first.index.equals(seeded_sample(rows, 4, 0, "y").index)
    assert len(seeded_sample(rows, 99, 0, "x")) == len(rows)  # all of them, drawn in a seeded order


def test_per_domain_samples_take_each_domain_in_sorted_order_and_can_keep_row_order():
    rows = _rows()
    drawn = sample_per_domain(rows, 3, 0, "x")
    assert list(drawn["domain"]) == ["a"] * 3 + ["b"] * 3
    kept = sample_per_domain(rows, 3, 0, "x", keep_order=True)
    assert set(kept.index) == set(drawn.index)
    for _, part in kept.groupby("domain"):
        assert list(part.index) == sorted(part.index)
    # each domain's draw is seeded by (purpose, domain): the same rows whatever else is in the table
    only_a = sample_per_domain(rows[rows["domain"] == "a"], 3, 0, "x")
    assert list(only_a.index) == list(drawn[drawn["domain"] == "a"].index)


def test_the_test_rows_are_each_runs_heldout_in_split_and_the_base_on_every_studied_domain():
    table = pd.DataFrame([
        {"method": "label", "heldout": "p", "domain": "p", "split": "in"},   # test
        {"method": "label", "heldout": "p", "domain": "p", "split": "out"},  # validation of the held-out: not test
        {"method": "label", "heldout": "p", "domain": "q", "split": "in"},   # a source domain
        {"method": "zeroshot", "heldout": "all", "domain": "p", "split": "in"},  # test
        {"method": "zeroshot", "heldout": "all", "domain": "q", "split": "in"},  # test
        {"method": "zeroshot", "heldout": "all", "domain": "r", "split": "in"},  # not a fold of this study
    ])
    assert list(heldout_rows(table, ["p", "q"]).index) == [0, 3, 4]


def test_run_names_parse_into_named_parts():
    key = Run.parse(Run("rdmldg", 2, "art_painting", None).name)
    assert (key.method, key.trial, key.heldout) == ("rdmldg", 2, "art_painting")


def test_a_paired_mean_that_disagrees_with_the_lodo_table_is_an_error():
    lodo = pd.DataFrame({"Avg": [50.0, 40.0]}, index=["a", "b"])
    diffs = pd.DataFrame([{"a": "a", "b": "b", "domain": paired.AVG, "difference": 10.0}])
    paired.check_against_lodo(diffs, lodo)
    with pytest.raises(AssertionError, match="a − b: paired mean 9.0 on Avg, but the LODO table says 10.0"):
        paired.check_against_lodo(diffs.assign(difference=9.0), lodo)


def test_challenge1_shares_and_means_per_method_and_prompt():
    probes = pd.DataFrame({"method": ["m"] * 4 + ["n"] * 2, "prompt": ["q_cls", "q_cls", "q_reason", "q_reason",
                                                                       "q_cls", "q_cls"],
                           "p": [0.9, 0.1, 0.8, 0.5, 0.3, 0.2]})
    table = challenge1_table(probes, ["n", "m", "absent"])
    assert list(table.index) == ["n", "m", "absent"]
    assert table.loc["m", ("high", "q_cls")] == 0.5 and table.loc["m", ("low", "q_cls")] == 0.5
    assert table.loc["m", ("p", "q_reason")] == pytest.approx(0.65)
    got = challenge1_metrics(table, ["m", "n"])
    assert got["m"] == pytest.approx({"q_cls_high": 0.5, "q_reason_high": 0.5, "q_cls_p": 0.5, "q_reason_p": 0.65})
    assert np.isnan(got["n"]["q_reason_high"]) and got["n"]["q_cls_p"] == pytest.approx(0.25)


def test_the_probe_is_about_32_evenly_spaced_training_images():
    assert probe_items(list(range(100))) == list(range(0, 100, 3))
    assert probe_items(list(range(10))) == list(range(10))


def test_sarr_rounds_are_read_from_the_train_metrics_and_keyed_by_method_and_round(tmp_path):
    row = {"stage": 0, "val_accuracy": 0.5, "sarr_rejection_rate": None}
    (tmp_path / "train-rdmldg.json").write_text(json.dumps({"sarr_rounds": [
        row, {"stage": 1, "val_accuracy": 0.6, "sarr_rejection_rate": 0.4},
        {"stage": 1, "val_accuracy": 0.8, "sarr_rejection_rate": 0.2}]}))
    (tmp_path / "train-label.json").write_text(json.dumps({}))
    table = rounds.sarr_rounds(tmp_path, ["label", "rdmldg", "sarr"])  # sarr: not trained, no file
    assert list(table["method"].unique()) == ["rdmldg"] and len(table) == 3
    by_round = rounds.by_round(table)
    assert by_round.loc[("rdmldg", 1), "val_accuracy"] == pytest.approx(0.7)
    assert rounds.rejection_by_round(by_round) == {"rdmldg_round1": pytest.approx(0.3)}


def test_the_mapping_gap_is_the_probe_minus_the_models_own_answer():
    zs = {"zero_shot": {"d": {"q_cls_loglik": 0.4, "q_cls_generate": 0.3, "choice_list_generate": 0.2, "x": 1}},
          "probe_accuracy": {"d": 0.9}}
    table = mapping_table(zs)
    assert list(table.columns) == ["q_cls_loglik", "q_cls_generate", "choice_list_generate", "linear probe",
                                   "mapping gap"]
    assert table.loc["d", "mapping gap"] == pytest.approx(0.5)


def test_the_headline_names_a_tie_and_leaves_out_the_base():
    answer = pd.DataFrame({"Avg": [70.0, 60.0, 65.0, 65.0]}, index=["zeroshot", "label", "mtct", "rdmldg"])
    assert summary.headline(answer) == {"best_method": "mtct", "best_avg": 65.0, "best_methods": ["mtct", "rdmldg"],
                                        "zeroshot_avg": 70.0}


def test_first_per_domain_keeps_each_domains_first_row_in_order_of_appearance():
    from rdmldg.chain_dataset import first_per_domain

    rows = [{"domain": "b", "i": 0}, {"domain": "a", "i": 1}, {"domain": "b", "i": 2}, {"domain": "a", "i": 3}]
    assert first_per_domain(rows) == [{"domain": "b", "i": 0}, {"domain": "a", "i": 1}]


def test_the_ablation_puts_each_methods_own_readout_first_beside_the_papers_rows():
    from rdmldg.analysis import published

    ours = {r: pd.DataFrame({"Avg": [10.04 + k, 20.0 + k]}, index=["label", "custom"])
            for k, r in enumerate(["loglik", "generate", "answer"])}
    table = published.ablation_beside(ours, ["zeroshot", "label", "custom"])
    assert list(table.index) == ["zeroshot", "label"]  # the paper has no row for "custom"
    assert list(table.columns[-3:]) == ["ours Avg (answer)", "ours Avg (loglik)", "ours Avg (generate)"]
    assert table.loc["label", "ours Avg (answer)"] == 12.0 and np.isnan(table.loc["zeroshot", "ours Avg (loglik)"])
    assert table.loc["label", "OfficeHome"] == published.ABLATION.loc["label", "OfficeHome"]


def test_challenge2_says_why_it_did_not_run_and_tables_what_it_measured():
    from rdmldg.analysis.challenge2 import Challenge2

    skipped = Challenge2("photo", {"images": 9, "self_correct": 1}, "too few", {}, None)
    assert "1 of 9" in skipped.describe() and "not run: too few" in skipped.describe()
    cond = {"target_p_before": 0.2, "target_p_after": 0.5, "target_gain_points": 30.0, "mean_entropy_reduction": 0.1,
            "top_tokens": [{"token": "wheel", "reduction": 0.25}]}
    ran = Challenge2("photo", {"images": 9, "self_correct": 6}, None, {"teacher": cond, "self": cond}, 1.0)
    assert ran.table().loc["self", "paper gain (points)"] == 29.74
    assert ran.top_tokens().loc[0, "teacher"] == "wheel (0.25)"
    assert "top_tokens" not in ran.metrics()["self"] and ran.metrics()["top_token_overlap"] == 1.0
