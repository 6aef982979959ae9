"""Params: strict schemas, YAML 1.2, messages that name file, key and fix; profiles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rdmldg import params
from rdmldg.params import ParamsError

REPO = Path(__file__).resolve().parents[1]


def _edit(project: Path, concern: str, old: str, new: str) -> None:
    path = project / "params" / f"{concern}.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _error(project: Path) -> str:
    with pytest.raises(ParamsError) as exc:
        params.load(project / "params")
    return str(exc.value)


def test_defaults_load(project):
    p = params.load(project / "params")
    assert p.train.lr == 4e-3 and p.data.source == "synthetic"
    assert p.heldout_domains() == ["cartoon", "painting", "photo", "sketch"]


def test_committed_params_are_the_default_profile(project):
    for concern in params.CONCERNS:
        assert (REPO / "params" / f"{concern}.yaml").read_text() == \
            (project / "params" / f"{concern}.yaml").read_text(), f"params/{concern}.yaml differs from defaults"


def test_yaml_1_2_scientific_notation_is_a_float(project):
    _edit(project, "train", "lr: 0.004", "lr: 1e-4")
    assert params.load(project / "params").train.lr == pytest.approx(1e-4)


def test_yaml_1_2_yes_is_not_a_bool(project):
    _edit(project, "data", "enabled: true", "enabled: yes")
    assert "data.shift_check.enabled (got 'yes')" in _error(project)


def test_negative_lr_names_file_line_and_key(project):
    _edit(project, "train", "lr: 0.004", "lr: -1")
    msg = _error(project)
    assert "params/train.yaml:" in msg and "train.lr (got -1)" in msg and "greater than 0" in msg
    assert "Fix: set train.lr" in msg


@pytest.mark.parametrize("concern, old, new, key", [
    ("train", "lr: 0.004", "lr: .inf", "train.lr"),
    ("train", "lr: 0.004", "lr: -.inf", "train.lr"),
    ("data", "spurious_strength: 0.5", "spurious_strength: .nan", "data.synthetic.spurious_strength"),
    ("eval", "probe_C: 0.316", "probe_C: .NaN", "eval.zeroshot.probe_C"),
])
def test_non_finite_numbers_are_refused_anywhere(project, concern, old, new, key):
    _edit(project, concern, old, new)
    msg = _error(project)
    assert f"params/{concern}.yaml:" in msg and f"{key} (got " in msg and "Input should be a finite number" in msg
    assert f"Fix: set {key} to a valid value" in msg


def test_an_empty_list_of_heldout_domains_is_refused_at_check_time(project):
    _edit(project, "study", "heldout_domains: all", "heldout_domains: []")
    msg = _error(project)
    assert "params/study.yaml:" in msg and "study.heldout_domains (got [])" in msg
    assert "no fold would be trained or evaluated" in msg and "Fix: set study.heldout_domains" in msg


def test_unknown_key_suggests_the_close_one(project):
    _edit(project, "train", "epochs: 3", "epoch: 3")
    msg = _error(project)
    assert "train.epoch" in msg and "unknown key" in msg and "did you mean 'epochs'" in msg


def test_wrong_type_is_rejected_not_coerced(project):
    _edit(project, "data", "holdout_fraction: 0.2", 'holdout_fraction: "0.2"')
    assert "data.holdout_fraction (got '0.2')" in _error(project)


def test_negative_size_is_rejected(project):
    _edit(project, "data", "images_per_class: 48", "images_per_class: -5")
    assert "data.synthetic.images_per_class (got -5)" in _error(project)


def test_unknown_heldout_domain_lists_the_domains(project):
    _edit(project, "study", "heldout_domains: all", "heldout_domains: [phot]")
    msg = _error(project)
    assert "params/study.yaml" in msg and "study.heldout_domains" in msg
    assert "did you mean 'photo'" in msg and "cartoon, painting, photo, sketch" in msg


def test_heldout_domain_checked_against_real_dataset_domains(project):
    _edit(project, "data", "source: synthetic", "source: domainbed")
    _edit(project, "data", "root:", "root: /somewhere")
    _edit(project, "study", "heldout_domains: all", "heldout_domains: [art_painting, photo, clipart]")
    msg = _error(project)
    assert "'clipart' is not a domain of PACS" in msg and "'photo'" not in msg.split("clipart")[1]


def test_domainbed_without_root_asks_for_it(project):
    _edit(project, "data", "source: synthetic", "source: domainbed")
    assert "domainbed.root is not set" in _error(project)


def test_spurious_domains_must_be_domains(project):
    _edit(project, "data", "domains: [cartoon, painting, photo, sketch]", "domains: [cartoon, photo]")
    assert "spurious_domains ['painting'] are not among domains" in _error(project)


def test_all_problems_reported_at_once(project):
    _edit(project, "train", "lr: 0.004", "lr: -1")
    _edit(project, "model", "preset: default", "preset: huge")
    msg = _error(project)
    assert "train.lr" in msg and "model.preset" in msg


def test_single_top_level_key(project):
    (project / "params" / "model.yaml").write_text("model: {}\ntrain: {}\n")
    assert "expected the single key 'model'" in _error(project)


def test_missing_file_says_how_to_recreate(project):
    (project / "params" / "train.yaml").unlink()
    assert "params/train.yaml: missing" in _error(project) or "train.yaml: missing" in _error(project)


def test_stray_params_file_is_reported(project):
    (project / "params" / "notes.yaml").write_text("notes: 1\n")
    assert "notes.yaml: not a params concern" in _error(project)


def test_duplicate_yaml_key_is_an_error(project):
    _edit(project, "train", "lr: 0.004", "lr: 0.004\n  lr: 0.1")
    assert "train.yaml: not valid YAML" in _error(project)


def test_profiles_overlay_defaults_and_round_trip(project):
    params.apply_profile("smoke", project / "params")
    p = params.load(project / "params")
    assert p.study.profile == "smoke"
    assert p.data.synthetic.images_per_class < params.SyntheticParams().images_per_class
    assert p.train.lr == 4e-3  # untouched by the overlay: the default
    params.apply_profile("default", project / "params")
    assert params.load(project / "params").data.synthetic == params.SyntheticParams()


@pytest.mark.parametrize("name", params.available_profiles(REPO / "params"))
def test_every_shipped_profile_resolves(name):
    resolved = params.resolve_profile(name, REPO / "params")
    assert set(resolved) == set(params.CONCERNS)


def test_paper_profiles_name_local_data_and_checkpoint():
    for name in ("paper-pacs", "paper-vlcs", "paper-officehome", "paper-terrainc"):
        r = params.resolve_profile(name, REPO / "params")
        assert r["data"]["source"] == "domainbed" and r["data"]["domainbed"]["root"]
        assert r["model"]["source"] == "checkpoint" and r["model"]["checkpoint"]


def test_profile_with_bad_value_is_rejected(project):
    (project / "params" / "profiles" / "bad.yaml").write_text("train:\n  lr: -1\n")
    with pytest.raises(ParamsError, match="train.lr"):
        params.resolve_profile("bad", project / "params")


def test_cli_check_exits_2_with_message(project):
    _edit(project, "train", "lr: 0.004", "lr: -1")
    out = subprocess.run([sys.executable, "-m", "rdmldg.params", "check"], cwd=project,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "params/train.yaml:" in out.stderr and "train.lr" in out.stderr


def test_a_real_dataset_with_the_attribute_teacher_is_refused_before_anything_runs(project):
    """The paper profiles name a real teacher; a DomainBed dataset left with the offline
    attribute teacher is refused by the check, naming the key and the fix."""
    params.apply_profile("paper-pacs", project / "params")
    assert params.resolve_profile("paper-pacs", project / "params")["chains"]["teacher"] == "openai"
    _edit(project, "chains", "teacher: openai", "teacher: attribute")
    msg = _error(project)
    assert "chains.yaml" in msg and "chains.teacher: 'attribute'" in msg and "Fix: set chains.teacher to openai" in msg
