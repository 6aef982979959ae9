"""The evaluate stage's pieces on a tiny real model: samples, readouts, adapters, reuse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from rdmldg.chains import conclusion_answer, format_chain
from rdmldg.evaluation import evaluate, runs, store
from rdmldg.models import architectures
from rdmldg.models.lora import add_lora
from rdmldg.params import EvalParams, Params, load

CLASSES = ["ball", "star", "ring"]


def _manifest(tmp_path, per_cell: int = 5) -> pd.DataFrame:
    rows = []
    for env, domain in enumerate(["cartoon", "photo"]):
        for c, cls in enumerate(CLASSES):
            for k in range(per_cell):
                path = f"{domain}/{cls}/{k}.png"
                (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (32, 32), (40 * c, 30 * k, 100 * env)).save(tmp_path / path)
                rows.append({"image_id": path, "domain": domain, "env": env, "class_name": cls, "path": path,
                             "split_t0": "out" if k == 0 else "in"})
    return pd.DataFrame(rows)


def test_evaluation_rows_sample_each_split_and_mark_the_chain_subsample(tmp_path):
    m = _manifest(tmp_path)
    p = EvalParams(images_per_split=6, chain_images_per_split=2)
    rows = evaluation_rows = evaluate.evaluation_rows(m, "split_t0", p, seed=0)
    counts = rows.groupby(["env", "split"]).size().to_dict()
    assert counts == {(0, "in"): 6, (0, "out"): 3, (1, "in"): 6, (1, "out"): 3}  # out has only 3: all of it
    assert rows.groupby(["env", "split"])["chain"].sum().to_dict() == {(0, "in"): 2, (0, "out"): 2, (1, "in"): 2,
                                                                       (1, "out"): 2}
    again = evaluate.evaluation_rows(m, "split_t0", p, seed=0)
    assert again.equals(evaluation_rows)  # the same images for every model
    everything = evaluate.evaluation_rows(m, "split_t0", EvalParams(images_per_split=None,
                                                                    chain_images_per_split=None), 0)
    assert len(everything) == len(m) and everything["chain"].all()


def test_the_held_out_domains_in_split_is_read_whole(tmp_path):
    m = _manifest(tmp_path)
    p = EvalParams(images_per_split=2, chain_images_per_split=1)  # test_images_per_domain: null, every test image
    test_domain = m.loc[m["env"] == 1, "domain"].iloc[0]
    rows = evaluate.evaluation_rows(m, "split_t0", p, seed=0, test_domains=[test_domain])
    counts = rows.groupby(["env", "split"]).size().to_dict()
    n_test = int(((m["env"] == 1) & (m["split_t0"] == "in")).sum())
    assert counts == {(0, "in"): 2, (0, "out"): 2, (1, "in"): n_test, (1, "out"): 2} and n_test > 2
    capped = evaluate.evaluation_rows(m, "split_t0", EvalParams(images_per_split=2, test_images_per_domain=3), 0,
                                      test_domains=[test_domain])
    assert capped.groupby(["env", "split"]).size()[(1, "in")] == 3


def test_reason_prediction_needs_a_conclusion():
    chain = format_chain(summary="s", caption="a ball", reasoning="round", reflection="ok", conclusion="star")
    assert conclusion_answer(chain, CLASSES) == "star"
    assert conclusion_answer("<SUMMARY>it is a ball</SUMMARY>", CLASSES) is None
    assert conclusion_answer("Answer Choice: ball", CLASSES) is None
    assert conclusion_answer("<CONCLUSION>ball or star", CLASSES) is None


def _tiny():
    torch.manual_seed(0)
    return architectures.llava(texts=[f"<SUMMARY> {' '.join(CLASSES)} </SUMMARY> Answer Choice"] * 4)


def test_predict_reads_three_ways_and_tabulates(tmp_path):
    model, processor = _tiny()
    m = _manifest(tmp_path, per_cell=3)
    p = EvalParams(images_per_split=None, chain_images_per_split=1, max_new_tokens=4, chain_max_new_tokens=6,
                   batch_size=4, generate_batch_size=4)
    rows = evaluate.evaluation_rows(m, "split_t0", p, 0)
    pred = evaluate.predict(model, processor, rows, tmp_path, CLASSES, p)
    assert len(pred) == len(m) and set(pred["loglik"]) <= set(CLASSES)
    assert ((pred["p_true"] > 0) & (pred["p_true"] < 1)).all()
    assert pred.loc[~pred["chain"], "reason_text"].isna().all() and pred.loc[pred["chain"], "reason_text"].notna().all()
    table = evaluate.readout_table(pred)
    assert set(table["readout"]) == {"loglik", "generate", "reason"}
    assert table.loc[table["readout"] == "reason", "n"].eq(1).all()
    assert table.loc[table["readout"] == "loglik", "parse_failure_rate"].eq(0).all()
    accs = evaluate.env_accuracies(table)
    for env in (0, 1):
        for split in ("in", "out"):
            assert 0 <= accs[f"env{env}_{split}_acc"] <= 1
            assert f"env{env}_{split}_parse_fail_generate" in accs and f"env{env}_{split}_acc_reason" in accs
    truth = pred[(pred["env"] == 0) & (pred["split"] == "in")]
    assert accs["env0_in_acc"] == pytest.approx((truth["loglik"] == truth["class_name"]).mean())


def test_store_reuses_only_a_matching_fingerprint(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"a": [1, 2], "b": ["x", None]}), {"probs": [0.5]}

    first = store.load_or_compute(tmp_path, "k1", compute)
    again = store.load_or_compute(tmp_path, "k1", compute)
    assert not first[2] and again[2] and len(calls) == 1
    assert again[0]["b"].iloc[0] == "x" and again[0]["b"].isna().tolist() == [False, True]
    assert again[0]["a"].tolist() == [1, 2] and again[1] == {"probs": [0.5]}
    store.load_or_compute(tmp_path, "k2", compute)
    assert len(calls) == 2


def _save_run(folder, model, val_accuracies=(0.2, 0.5, 0.5)):
    model.save_pretrained(folder / "adapter")
    for k, v in enumerate(val_accuracies):
        (folder / f"stage{k}").mkdir(parents=True, exist_ok=True)
        (folder / f"stage{k}" / "done.json").write_text(json.dumps({"val_accuracy": v, "steps": 10}))


def test_adapters_are_swapped_in_place_and_match_a_fresh_load(tmp_path):
    from rdmldg.models.lora import load_adapter  # PeftModel.from_pretrained, minus a peft-internal warning

    outputs = []
    for seed in (1, 2):
        base, processor = _tiny()
        torch.manual_seed(seed)
        tuned = add_lora(base, 4, 8, 0.0)
        for n, t in tuned.named_parameters():
            if "lora_B" in n:
                t.data.normal_(0, 0.5)  # a non-trivial adapter
        _save_run(tmp_path / f"run{seed}", tuned)
    base, processor = _tiny()
    wear = runs.AdapterSwapper(base)
    batch = processor(text=[processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "ball?"}]}],
        add_generation_prompt=True, tokenize=False)], images=[Image.new("RGB", (32, 32))], return_tensors="pt")
    zero = wear(runs.Run("zeroshot", 0, "all", None))(**batch).logits
    for seed in (1, 2):
        outputs.append(wear(runs.Run("m", 0, "photo", tmp_path / f"run{seed}"))(**batch).logits)
    fresh = load_adapter(_tiny()[0], tmp_path / "run2" / "adapter").eval()
    assert torch.allclose(outputs[1], fresh(**batch).logits, atol=1e-5)
    assert not torch.allclose(outputs[0], outputs[1]) and not torch.allclose(zero, outputs[0])
    with pytest.raises(RuntimeError, match="zero-shot base before"):
        wear(runs.Run("zeroshot", 0, "all", None))


def test_selected_stage_and_steps_follow_validation(tmp_path):
    (tmp_path / "stage0").mkdir()
    run = runs.Run("m", 0, "photo", tmp_path)
    for k, v in enumerate((0.2, 0.5, 0.5)):
        (tmp_path / f"stage{k}").mkdir(exist_ok=True)
        (tmp_path / f"stage{k}" / "done.json").write_text(json.dumps({"val_accuracy": v, "steps": 10 + k}))
    assert run.selected() == (1, 21)  # first of the best, steps through it


def test_missing_runs_name_the_stage_to_run(project):
    p: Params = load(project / "params")
    with pytest.raises(FileNotFoundError, match=r"dvc repro train@label"):
        runs.trained_runs(project, p)
    assert [r.name for r in runs.zero_shot_runs(p)] == ["zeroshot-trial0-all"]


def test_every_run_has_its_own_name():
    names = {runs.Run(m, t, h, None).name for m in ("a", "b") for t in (0, 1) for h in ("x", "y")}
    assert len(names) == 8 and np.all([n.count("-trial") == 1 for n in names])


def test_run_names_parse_back():
    assert runs.Run.parse(runs.Run("rdmldg", 2, "art_painting", None).name) == ("rdmldg", 2, "art_painting")
    assert runs.Run.parse("zeroshot-trial0-all") == ("zeroshot", 0, "all")


def test_finished_runs_lists_only_completed_folders(tmp_path):
    store.load_or_compute(tmp_path / "b-trial0-x", "k", lambda: (pd.DataFrame({"a": [1]}), {"q": [0.1]}))
    (tmp_path / "a-trial0-x").mkdir()  # started, never finished
    ((name, pred, extras),) = store.finished_runs(tmp_path)
    assert name == "b-trial0-x" and pred["a"].tolist() == [1] and extras == {"q": [0.1]}
