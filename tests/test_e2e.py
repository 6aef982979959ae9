"""End to end: copy the repo, apply the smoke profile, run the real DVC pipeline."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import copy_repo, run_ok

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


_sh = run_ok


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The smoke profile through the real DVC pipeline, in a copy of this checkout."""
    dest = tmp_path_factory.mktemp("e2e") / "study"
    env = copy_repo(dest)
    _sh(dest, sys.executable, "-m", "rdmldg.params", "apply", "smoke", env=env)
    log = _sh(dest, sys.executable, "-m", "dvc", "repro", env=env)
    return dest, env, log


def test_repro_writes_data_reports_and_index(study):
    dest, env, _ = study
    manifest = dest / "data" / "prepared" / "manifest.csv"
    assert manifest.exists() and len(manifest.read_text().splitlines()) == 1 + 7 * 4 * 6
    html = (dest / "reports" / "prepare.html").read_text()
    assert "Is the shift real?" in html and "data:image/png;base64" in html
    assert "Traceback" not in html
    chains = (dest / "reports" / "chains.html").read_text()
    assert "Rejections: rate and reasons per domain" in chains and "Traceback" not in chains
    assert (dest / "data" / "chains" / "chains.jsonl").exists()
    for stage in ("base", "zeroshot"):
        text = (dest / "reports" / f"{stage}.html").read_text()
        assert "Traceback" not in text and "data:image/png;base64" in text, stage
    assert (dest / "models" / "base" / "model.safetensors").exists()
    for method in ("label", "reasoning", "mtct", "sarr", "rdmldg"):
        text = (dest / "reports" / "train" / f"method-{method}.html").read_text()
        assert "Traceback" not in text and "Challenge 1" in text, method
        for fold in ("cartoon", "painting", "photo", "sketch"):
            assert (dest / "models" / "runs" / method / "trial0" / fold / "adapter"
                    / "adapter_model.safetensors").exists()
    for stage in ("evaluate", "ood_analysis"):
        text = (dest / "reports" / f"{stage}.html").read_text()
        assert "Traceback" not in text and "data:image/png;base64" in text, stage
    index = (dest / "reports" / "index.html").read_text()
    for stage in ("prepare", "chains", "base", "zeroshot", "evaluate", "ood_analysis"):
        assert f"href='{stage}.html'" in index, stage
    assert "smoke" in index and "leave-one-domain-out accuracy" in index
    analysis = json.loads((dest / "reports" / "metrics" / "analysis.json").read_text())
    own = {"zeroshot": "loglik", "label": "loglik", "reasoning": "reason", "mtct": "loglik", "sarr": "reason",
           "rdmldg": "loglik"}
    assert analysis["readouts"] == own  # methods trained on chains alone are read by their chain's CONCLUSION
    for method, readout in own.items():
        avg = analysis["lodo"]["answer"][method]["Avg"]
        assert avg == analysis["lodo"][readout][method]["Avg"]
        assert 0 <= avg <= 100 and f"<th>{method}</th>" in index and f"<b>{avg:.1f}</b>" in index, method
    # paired comparisons on the whole (smoke-capped) test set, with their verdicts on the front page
    assert analysis["test_images_per_domain"] == {d: 8 for d in ("cartoon", "painting", "photo", "sketch")}
    avg_rows = [r for r in analysis["paired"] if r["domain"] == "Avg"]
    assert [(r["a"], r["b"]) for r in avg_rows][:2] == [("label", "zeroshot"), ("reasoning", "zeroshot")]
    for r in avg_rows:
        assert r["ci_low"] <= r["difference"] <= r["ci_high"] and r["verdict"] in index
    assert {r["key"] for r in analysis["instrument"]} >= {"zeroshot_avg", "label_lift", "avg_binomial_se_max"}
    assert "Is the instrument working?" in index


def test_budget_reads_the_finished_study(study):
    dest, env, _ = study
    out = _sh(dest, sys.executable, str(REPO / "benchmarks" / "budget.py"), "--root", str(dest), env=env)
    assert "| train method-label |" in out and "| evaluate |" in out and "| **all stages** |" in out
    assert "GFLOP/s (1024³)" in out and " chains |" in out
    for stage in ("base", "train/method-label", "evaluate"):
        assert json.loads((dest / "reports" / "runinfo" / "stages" / f"{stage}.json").read_text())["seconds"] > 0
    assert json.loads((dest / "reports" / "runinfo" / "train-label.json").read_text())["tokens"] > 0


def test_sweep_reports_source_validation_only(study, tmp_path):
    dest, env, _ = study
    records = tmp_path / "sweep.jsonl"
    _sh(dest, sys.executable, str(REPO / "benchmarks" / "sweep.py"), "--root", str(dest), "--method", "label",
        "--set", "lr=5e-4", "--set", "lr=1e-3,warmup=0.2,images_per_domain=null", "--out", str(records), env=env)
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert [r["hparams_seed"] for r in rows] == [0, 1]
    assert rows[1]["train"] == {"lr": 1e-3, "warmup": 0.2, "images_per_domain": None}
    for r in rows:
        assert set(r["folds"]) == {"cartoon", "painting", "photo", "sketch"}
        for fold in r["folds"].values():
            assert set(fold) == {"source_val", "steps", "train_images", "val_images"}  # nothing of the held-out domain
            assert 0 <= fold["source_val"] <= 1 and fold["steps"] > 0
    # null takes every source training image: more than the profile's seeded sample
    assert all(rows[1]["folds"][d]["train_images"] > rows[0]["folds"][d]["train_images"] for d in rows[0]["folds"])


def test_domainbed_records_cover_every_run_and_environment(study):
    dest, _, _ = study
    from rdmldg.evaluation import domainbed

    records = domainbed.load_records(dest / "reports" / "domainbed")
    runs = {(r["args"]["algorithm"], r["args"]["test_envs"][0]) for r in records}
    methods = ("zeroshot", "label", "reasoning", "mtct", "sarr", "rdmldg")
    assert runs == {(m, e) for m in methods for e in range(4)}
    for r in records:
        assert all(0 <= r[f"env{i}_{s}_acc"] <= 1 for i in range(4) for s in ("in", "out"))
        assert r["args"]["dataset"] == "SyntheticWorld" and r["args"]["trial_seed"] == 0


def test_plots_render_offline(study):
    dest, env, _ = study
    _sh(dest, sys.executable, "-m", "dvc", "plots", "show", "-o", "dvc_plots", env=env)
    page = (dest / "dvc_plots" / "index.html").read_text()
    assert "<img" in page and "lodo.png" in page and "train-mtct.png" in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_metrics_and_params_diff(study):
    dest, env, _ = study
    metrics = json.loads(_sh(dest, sys.executable, "-m", "dvc", "metrics", "show", "--json", env=env))
    flat = json.dumps(metrics)
    assert '"n_images": 168' in flat and "shift_check_mean_drop" in flat
    assert '"rejection_rate":' in flat and '"rejections_by_reason":' in flat
    assert '"probe_accuracy":' in flat and '"q_cls_loglik":' in flat
    for run_fact in ("seconds", "tokens_per_s", "from_cache", "teacher_calls"):  # not results: kept out
        assert run_fact not in flat, run_fact
    assert "tokens_per_s" in json.loads((dest / "reports" / "runinfo" / "base.json").read_text())
    assert '"mean_val_accuracy":' in flat and '"challenge1":' in flat
    assert '"heldout_accuracy":' in flat and '"invariance_mmd2":' in flat and '"headline":' in flat
    diff = _sh(dest, sys.executable, "-m", "dvc", "params", "diff", env=env)
    assert "data.synthetic.images_per_class" in diff and "48" in diff and "6" in diff


def test_second_repro_is_a_noop(study):
    dest, env, _ = study
    log = _sh(dest, sys.executable, "-m", "dvc", "repro", env=env)
    assert "Running stage" not in log and "up to date" in log


def test_experiment_on_a_data_param(study):
    dest, env, _ = study
    _sh(dest, "git", "add", "-A", env=env)
    _sh(dest, "git", "commit", "-qm", "smoke baseline", env=env)
    _sh(dest, sys.executable, "-m", "dvc", "exp", "run", "-n", "five-per-class",
        "-S", "params/data.yaml:data.synthetic.images_per_class=5", "prepare", env=env)
    shown = json.loads(_sh(dest, sys.executable, "-m", "dvc", "exp", "show", "--json", env=env))
    assert "five-per-class" in json.dumps(shown)
    assert '"n_images": 140' in json.dumps(shown)


def test_exp_show_keeps_the_headline_in_a_few_columns(study):
    """The README's `dvc exp show --drop '.*' --keep …` gives the headline file's columns only."""
    dest, env, _ = study
    out = _sh(dest, sys.executable, "-m", "dvc", "exp", "show", "--csv", "--drop", ".*", "--keep",
              "Experiment|heldout_avg", env=env)
    header = out.splitlines()[0].split(",")
    assert header[0] == "Experiment" and len(header) == 1 + 6, header  # zero-shot and the five methods
    assert all("heldout_avg" in column for column in header[1:]), header
    headline = json.loads((dest / "reports" / "metrics" / "headline.json").read_text())
    assert set(headline) == {"heldout_avg", "paired_avg"} and "mtct-reasoning" in headline["paired_avg"]


def test_no_stage_raises_a_deprecation(study):
    """The kernels run the library for real; a deprecation there would become an error later."""
    dest, _, log = study
    found = {nb.relative_to(dest).as_posix(): w for nb in sorted((dest / "reports" / "executed").rglob("*.ipynb"))
             for w in ("FutureWarning", "DeprecationWarning", "is deprecated") if w in nb.read_text()}
    assert found == {} and "FutureWarning" not in log


def test_train_stage_under_two_processes(study, tmp_path):
    """`train.compute.num_processes: 2` makes the real stage command train under `accelerate
    launch` (two CPU processes, DDP over gloo): each optimizer step then takes two devices'
    batches, and the notebook reads the finished folds back into its report."""
    dest, env, _ = study
    copy = tmp_path / "ddp"
    shutil.copytree(dest, copy, symlinks=True)
    env = {**env, "PYTHONPATH": str(copy / "lib")}
    for name, old, new in (("train", "num_processes: 1", "num_processes: 2"),
                           ("study", "heldout_domains: all", "heldout_domains: [sketch]")):
        path = copy / "params" / f"{name}.yaml"
        assert old in path.read_text(), (name, old)
        path.write_text(path.read_text().replace(old, new))
    log = _sh(copy, sys.executable, "-m", "dvc", "repro", "-s", "train@label", env=env)
    assert "global batch 16 = 8 per device x 1 accumulation step(s) x 2 process(es)" in log
    assert ("launching: -m accelerate.commands.launch --multi_gpu --num_processes 2 --num_machines 1 "
            "--main_process_port") in log
    # one group of two, not two lone processes each calling itself the main one
    assert "process 0 of 2 (MULTI_CPU) ready" in log and "process 1 of 2 (MULTI_CPU) ready" in log
    done = json.loads((copy / "models" / "runs" / "label" / "trial0" / "sketch" / "stage0" / "done.json").read_text())
    train_images = 3 * 8  # smoke: 8 training images per source domain
    assert done["steps"] == -(-train_images // 16)  # one epoch at the global batch
    assert log.count(" stage 0: ") == 1, "the notebook trained the fold again instead of reading the launch's"
    report = (copy / "reports" / "train" / "method-label.html").read_text()
    assert "Traceback" not in report and "trial0/sketch" in report
