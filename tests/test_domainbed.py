"""DomainBed results records (docs/science.md §2) and the tables derived from them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rdmldg.evaluation import domainbed

N_ENVS = 4


def _accs(in_accs, out_accs) -> dict:
    return {**{f"env{i}_in_acc": a for i, a in enumerate(in_accs)},
            **{f"env{i}_out_acc": a for i, a in enumerate(out_accs)}}


def test_record_has_the_shape_collect_results_reads(tmp_path):
    rec = domainbed.record("mtct", "SyntheticWorld", 2, 1, 36, _accs([.1, .2, .3, .4], [.5, .6, .7, .8]), N_ENVS,
                           {"lr": 5e-4}, run="mtct-trial1-photo")
    assert set(rec["args"]) == {"algorithm", "dataset", "test_envs", "trial_seed", "hparams_seed"}
    assert rec["args"]["test_envs"] == [2] and rec["args"]["trial_seed"] == 1 and rec["args"]["hparams_seed"] == 0
    assert rec["step"] == 36 and all(f"env{i}_{s}_acc" in rec for i in range(N_ENVS) for s in ("in", "out"))
    path = domainbed.write_results(tmp_path / "mtct-trial1-photo", [rec, rec])
    raw = path.read_text()
    assert raw.endswith("\n") and raw.count("\n") == 2  # DomainBed strips each line's last character
    with path.open() as f:  # exactly DomainBed's reading step
        assert [json.loads(line[:-1]) for line in f] == [rec, rec]


def test_record_refuses_a_missing_environment():
    accs = _accs([.1, .2, .3, .4], [.5, .6, .7, .8])
    del accs["env3_out_acc"]
    with pytest.raises(ValueError, match="env3_out_acc"):
        domainbed.record("label", "D", 0, 0, 1, accs, N_ENVS)
    with pytest.raises(ValueError, match="test env 4"):
        domainbed.record("label", "D", 4, 0, 1, _accs([0] * 4, [0] * 4), N_ENVS)


def test_load_records_reads_one_level_of_run_folders(tmp_path):
    a = domainbed.record("label", "D", 0, 0, 1, _accs([.1] * 4, [.2] * 4), N_ENVS)
    b = domainbed.record("label", "D", 1, 0, 1, _accs([.3] * 4, [.4] * 4), N_ENVS)
    domainbed.write_results(tmp_path / "r1", [a])
    domainbed.write_results(tmp_path / "r2", [b])
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "r1" / "nested").mkdir()
    assert domainbed.load_records(tmp_path) == [a, b]


def test_training_domain_validation_picks_the_best_source_out_split():
    # test env 0: val = mean of env1..3 out; the record with the better val wins, not the better test
    good_val = domainbed.record("m", "D", 0, 0, 10, _accs([.30, 0, 0, 0], [.99, .8, .8, .8]), N_ENVS)
    bad_val = domainbed.record("m", "D", 0, 0, 20, _accs([.90, 0, 0, 0], [.00, .5, .5, .5]), N_ENVS)
    chosen = domainbed.select_training_domain_validation([bad_val, good_val])
    assert len(chosen) == 1
    row = chosen.iloc[0]
    assert row["step"] == 10 and row["test_acc"] == pytest.approx(.30) and row["val_acc"] == pytest.approx(.8)


def test_lodo_table_mean_se_and_avg_follow_domainbed():
    recs = []
    for trial, accs in enumerate([(.2, .4), (.4, .6), (.6, .8)]):
        for env, acc in enumerate(accs):
            ins = [0.0] * 2
            ins[env] = acc
            recs.append(domainbed.record("m", "D", env, trial, 1, _accs(ins, [.5, .5]), 2))
    table = domainbed.lodo_table(domainbed.select_training_domain_validation(recs), ["a", "b"])
    assert table.loc["m", "a"] == pytest.approx(40.0) and table.loc["m", "b"] == pytest.approx(60.0)
    se = np.std([20.0, 40.0, 60.0]) / np.sqrt(3)  # population std / sqrt(n)
    assert table.loc["m", "a se"] == pytest.approx(se) and table.loc["m", "Avg"] == pytest.approx(50.0)
    cells = domainbed.formatted(table, ["a", "b"])
    assert cells.loc["m", "a"] == f"40.0 ± {se:.1f}" and cells.loc["m", "Avg"] == "50.0"


def test_a_method_missing_a_domain_has_no_average_and_one_trial_no_error_bar():
    rec = domainbed.record("m", "D", 0, 0, 1, _accs([.5, 0], [.5, .5]), 2)
    table = domainbed.lodo_table(domainbed.select_training_domain_validation([rec]), ["a", "b"])
    cells = domainbed.formatted(table, ["a", "b"])
    assert np.isnan(table.loc["m", "Avg"]) and cells.loc["m", "b"] == "X"
    assert np.isnan(table.loc["m", "a se"]) and cells.loc["m", "a"] == "50.0"


def test_readout_view_moves_another_readout_into_the_domainbed_keys():
    accs = {**_accs([.1, .2], [.3, .4]), **{f"env{i}_{s}_acc_reason": .9 for i in range(2) for s in ("in", "out")}}
    rec = domainbed.record("m", "D", 0, 0, 1, accs, 2)
    (view,) = domainbed.readout_view([rec], "reason")
    assert view["env0_in_acc"] == .9 and view["env1_out_acc"] == .9 and view["args"] == rec["args"]
    assert domainbed.readout_view([rec], "loglik") == [rec]
