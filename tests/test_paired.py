"""The paired bootstrap on hand-made predictions whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from rdmldg.analysis import paired


def predictions(method: str, right: dict[tuple[int, str], np.ndarray]) -> pd.DataFrame:
    """Rows for one method: image i of (trial, domain) is right where right[...][i] is True."""
    rows = []
    for (trial, domain), ok in right.items():
        for i, r in enumerate(ok):
            rows.append({"method": method, "trial": trial, "domain": domain, "image_id": f"{domain}-{trial}-{i}",
                         "class_name": "dog", "loglik": "dog" if r else "cat"})
    return pd.DataFrame(rows)


def test_a_clear_win_is_significant_with_the_right_size_and_width():
    n = 400
    a_right = np.ones(n, bool)
    b_right = np.arange(n) % 10 >= 3  # b wrong on 30 % of the images a gets right
    test = pd.concat([predictions("a", {(0, "photo"): a_right}), predictions("b", {(0, "photo"): b_right})])
    diff = paired.paired_difference(paired.correctness(test), "a", "b", n_boot=4000)
    row = diff.set_index("domain").loc["photo"]
    assert row["difference"] == pytest.approx(30.0)
    # per-image differences are 0/1 with mean 0.3: SE = sqrt(0.3 * 0.7 / 400)
    se = 100 * np.sqrt(0.3 * 0.7 / n)
    assert row["ci_high"] - row["ci_low"] == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert row["ci_low"] < 30 < row["ci_high"] and row["significant"]
    assert paired.verdict(row).endswith(": significant") and "a − b = +30.0 points" in paired.verdict(row)


def test_identical_methods_differ_by_exactly_zero_and_are_not_significant():
    right = {(0, "photo"): np.arange(50) % 2 == 0, (0, "sketch"): np.arange(50) % 3 == 0}
    test = pd.concat([predictions("a", right), predictions("b", right)])
    diff = paired.paired_difference(paired.correctness(test), "a", "b")
    assert (diff[["difference", "ci_low", "ci_high"]] == 0).all().all()
    assert not diff["significant"].any()
    assert list(diff["domain"]) == ["photo", "sketch", "Avg"]


def test_pairing_removes_the_noise_the_two_methods_share():
    # a and b agree on every image except 10 of 200, where a is right: a +5-point win that
    # two independent binomial errors (about 3.5 points each) would never resolve
    base = np.arange(200) % 2 == 0
    a_right = base.copy()
    a_right[np.flatnonzero(~base)[:10]] = True
    test = pd.concat([predictions("a", {(0, "photo"): a_right}), predictions("b", {(0, "photo"): base})])
    correct = paired.correctness(test)
    row = paired.paired_difference(correct, "a", "b").set_index("domain").loc["photo"]
    se = paired.binomial_se(correct).set_index(["method", "domain"]).loc[("a", "photo"), "se"]
    assert row["difference"] == pytest.approx(5.0) and row["significant"]
    assert row["ci_high"] - row["ci_low"] < 2 * 1.96 * se


def test_avg_is_the_mean_of_the_domains_and_trial_seeds_widen_the_interval():
    n = 300
    def right(share):  # the first share of the images right
        return np.arange(n) < round(share * n)
    b = {(t, d): right(0.5) for t in (0, 1, 2) for d in ("photo", "sketch")}
    # a's gain differs a lot between trial seeds (+0, +20, +40 points on photo)
    a = {(0, "photo"): right(0.5), (1, "photo"): right(0.7), (2, "photo"): right(0.9),
         (0, "sketch"): right(0.5), (1, "sketch"): right(0.5), (2, "sketch"): right(0.5)}
    correct = paired.correctness(pd.concat([predictions("a", a), predictions("b", b)]))
    diff = paired.paired_difference(correct, "a", "b", n_boot=3000).set_index("domain")
    assert diff.loc["photo", "difference"] == pytest.approx(20.0, abs=0.5)
    assert diff.loc["sketch", "difference"] == pytest.approx(0.0)
    assert diff.loc["Avg", "difference"] == pytest.approx(diff.loc[["photo", "sketch"], "difference"].mean())
    one_trial = paired.paired_difference(correct[correct["trial"] == 1], "a", "b", n_boot=3000).set_index("domain")
    # over seeds the photo interval must hold the spread between seeds, not only image noise
    assert diff.loc["photo", "ci_high"] - diff.loc["photo", "ci_low"] > \
        2 * (one_trial.loc["photo", "ci_high"] - one_trial.loc["photo", "ci_low"])


def test_the_bootstrap_is_reproducible_and_refuses_unpaired_inputs():
    right = {(0, "photo"): np.arange(80) % 3 == 0}
    other = {(0, "photo"): np.arange(80) % 2 == 0}
    correct = paired.correctness(pd.concat([predictions("a", right), predictions("b", other)]))
    pd.testing.assert_frame_equal(paired.paired_difference(correct, "a", "b", seed=3),
                                  paired.paired_difference(correct, "a", "b", seed=3))
    fewer = paired.correctness(pd.concat([predictions("a", right),
                                          predictions("b", {(0, "photo"): np.ones(79, bool)})]))
    with pytest.raises(ValueError, match="same test images"):
        paired.paired_difference(fewer, "a", "b")
    with pytest.raises(ValueError, match="no test predictions for c"):
        paired.paired_difference(correct, "a", "c")


def test_binomial_se_of_avg_combines_the_domains():
    right = {(0, "photo"): np.arange(100) % 2 == 0, (0, "sketch"): np.arange(100) % 4 == 0}
    se = paired.binomial_se(paired.correctness(predictions("a", right))).set_index("domain")
    assert se.loc["photo", "se"] == pytest.approx(5.0)
    assert se.loc["Avg", "accuracy"] == pytest.approx(37.5)
    assert se.loc["Avg", "se"] == pytest.approx(np.sqrt(5.0 ** 2 + (100 * np.sqrt(0.25 * 0.75 / 100)) ** 2) / 2)


def test_instrument_checks_say_met_not_met_and_not_measured():
    from rdmldg.analysis import instrument

    rows = {r["key"]: r
            for r in instrument.checks({"zeroshot_avg": 80.0, "label_lift": 15.0, "avg_binomial_se_max": 1.2})}
    assert rows["zeroshot_avg"]["met"] is False and rows["zeroshot_avg"]["target"] == "35–75"  # above the band
    assert rows["label_lift"]["met"] is True and rows["label_lift"]["target"] == "≥ 15"  # the bound is inclusive
    assert rows["avg_binomial_se_max"]["met"] is True and rows["avg_binomial_se_max"]["target"] == "≤ 1.5"
    assert rows["label_source_val"]["met"] is None and rows["label_source_val"]["value"] is None
    assert list(rows) == [k for k, *_ in instrument.TARGETS]


def test_study_pairs_compare_against_both_baselines_and_the_two_steps_once_each():
    methods = ["zeroshot", "label", "reasoning", "mtct", "rdmldg"]
    pairs = paired.study_pairs(methods)
    assert pairs[:4] == [("label", "zeroshot"), ("reasoning", "zeroshot"), ("mtct", "zeroshot"), ("rdmldg", "zeroshot")]
    assert ("reasoning", "label") in pairs and ("rdmldg", "label") in pairs and ("label", "label") not in pairs
    assert pairs[-2:] == [("mtct", "reasoning"), ("rdmldg", "mtct")] and len(pairs) == len(set(pairs)) == 9
    assert paired.study_pairs(["zeroshot", "label"]) == [("label", "zeroshot")]  # absent methods are left out
    with_sarr = paired.study_pairs([*methods, "sarr"])
    assert with_sarr[-3:] == [("mtct", "reasoning"), ("rdmldg", "mtct"), ("sarr", "reasoning")]
