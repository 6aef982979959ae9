"""Training on transformers' Trainer: resume equality, the leakage guard, the methods."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from PIL import Image
from transformers import TrainerCallback

from rdmldg import methods
from rdmldg.methods import CLS, REASON
from rdmldg.models import architectures
from rdmldg.models.lora import add_lora
from rdmldg.params import TrainParams
from rdmldg.training import data
from rdmldg.training.pathways import PathwayCollator, TrainItem
from rdmldg.training.trainer import Eq1Trainer, NonFiniteLoss, arguments, train

CLASSES = ["ball", "star", "ring"]


def _items() -> list[TrainItem]:
    return [TrainItem(f"img{i}", Image.new("RGB", (32, 32), (20 * i, 200 - 10 * i, 90)), CLASSES[i % 3],
                      f"<SUMMARY>look</SUMMARY><CONCLUSION>{CLASSES[i % 3]}</CONCLUSION>") for i in range(12)]


def _plan(out, key: str, donor=None):
    from rdmldg.training.run import FoldPlan

    items = _items()
    return FoldPlan(0, "sketch", items, items[:3], key, out, donor)


class Crash(Exception):
    pass


class CrashAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.step:
            raise Crash(f"simulated crash after step {self.step}")


def _trainer(out, callbacks=(), lr=1e-2):
    torch.manual_seed(0)
    model, processor = architectures.llava(texts=["ball star ring look"] * 4)
    model = add_lora(model, rank=4, alpha=8, dropout=0.05)
    p = TrainParams(lr=lr, epochs=2, batch_size=4, warmup=0.0)
    args = arguments(out, p, seed=0, n_items=12, progress=False)
    args.save_steps = 2
    return Eq1Trainer(model=model, args=args, train_dataset=_items(), callbacks=list(callbacks),
                      data_collator=PathwayCollator(processor, CLASSES, (CLS, REASON)))


def _adapter(trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}


def test_resume_after_a_crash_ends_with_the_same_adapter(tmp_path):
    straight = _trainer(tmp_path / "straight")
    info = train(straight, resume="auto")
    assert info["steps"] == 6 and info["resumed_from"] is None
    crashed = _trainer(tmp_path / "crashed", [CrashAt(5)])
    with pytest.raises(Crash):
        train(crashed, resume="auto")
    resumed = _trainer(tmp_path / "crashed")
    info = train(resumed, resume="auto")
    assert info["resumed_from"].endswith("checkpoint-4")
    a, b = _adapter(straight), _adapter(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    logged = [h for h in info["history"] if "loss" in h]
    assert logged and {"loss_label", "loss_reasoning"} <= set(logged[-1])


def test_resume_never_starts_over(tmp_path):
    first = _trainer(tmp_path / "run", [CrashAt(3)])
    with pytest.raises(Crash):
        train(first, resume="never")
    info = train(_trainer(tmp_path / "run"), resume="never")
    assert info["resumed_from"] is None and info["steps"] == 6


def _manifest() -> pd.DataFrame:
    return pd.DataFrame({"image_id": [f"{d}/{i}" for d in ("a", "b", "c") for i in range(4)],
                         "path": [f"{d}/{i}.png" for d in ("a", "b", "c") for i in range(4)],
                         "domain": [d for d in ("a", "b", "c") for _ in range(4)],
                         "class_name": ["ball"] * 12, "split_t0": ["in", "in", "in", "out"] * 3})


def test_source_rows_exclude_the_heldout_domain():
    rows = data.source_rows(_manifest(), "b", "split_t0", "in", "training")
    assert set(rows["domain"]) == {"a", "c"} and len(rows) == 6
    val = data.source_rows(_manifest(), "b", "split_t0", "out", "validation")
    assert set(val["domain"]) == {"a", "c"} and len(val) == 2


def test_the_guard_raises_on_any_heldout_image():
    leaked = _manifest()
    with pytest.raises(data.LeakageError, match="held-out domain 'b'.*training"):
        data.items(leaked, None, {}, "b", "training")
    with pytest.raises(data.LeakageError, match="SARR generation"):
        data.guard(["a", "b"], "b", "SARR generation")


def test_methods_registry_says_what_each_trains():
    assert methods.get("label").pathways == (CLS,) and not methods.get("label").sarr
    assert methods.get("reasoning").pathways == (REASON,)
    assert methods.get("mtct").pathways == (CLS, REASON) and not methods.get("mtct").sarr
    assert methods.get("sarr").pathways == (REASON,) and methods.get("sarr").sarr
    assert methods.get("rdmldg").pathways == (CLS, REASON) and methods.get("rdmldg").sarr
    with pytest.raises(KeyError, match="known: label"):
        methods.get("erm")


def test_finished_stages_are_reused_only_for_identical_inputs(tmp_path):
    from rdmldg import params as params_mod
    from rdmldg.training import run as train_run

    p = params_mod.Params(**{c: s() for c, s in params_mod.CONCERNS.items()})
    p = p.model_copy(update={"train": p.train.model_copy(update={"lr": 1e-2, "epochs": 1, "batch_size": 4})})
    model, processor = architectures.llava(texts=["ball star ring look"] * 4)
    first = train_run.run(p, methods.get("label"), model, processor, _plan(tmp_path, "inputs-A"), CLASSES,
                          progress=False)
    assert (tmp_path / "stage0" / "done.json").exists() and first["stages"]["steps"].tolist() == [3]
    mtime = (tmp_path / "stage0" / "done.json").stat().st_mtime_ns
    model, processor = architectures.llava(texts=["ball star ring look"] * 4)
    train_run.run(p, methods.get("label"), model, processor, _plan(tmp_path, "inputs-A"), CLASSES, progress=False)
    assert (tmp_path / "stage0" / "done.json").stat().st_mtime_ns == mtime  # reused, not retrained
    model, processor = architectures.llava(texts=["ball star ring look"] * 4)
    train_run.run(p, methods.get("label"), model, processor, _plan(tmp_path, "inputs-B"), CLASSES, progress=False)
    assert (tmp_path / "stage0" / "done.json").stat().st_mtime_ns != mtime  # other inputs: trained again


def test_inputs_digest_follows_code_and_data(tmp_path):
    from rdmldg.fingerprints import inputs_digest

    (tmp_path / "lib" / "rdmldg").mkdir(parents=True)
    (tmp_path / "lib" / "rdmldg" / "x.py").write_text("a = 1\n")
    (tmp_path / "data" / "chains").mkdir(parents=True)
    (tmp_path / "data" / "chains" / "chains.jsonl").write_text("{}\n")
    before = inputs_digest(tmp_path)
    (tmp_path / "lib" / "rdmldg" / "x.py").write_text("a = 2\n")
    assert inputs_digest(tmp_path) != before
    before = inputs_digest(tmp_path)
    (tmp_path / "requirements.lock").write_text("torch==2.13.0\n")
    assert inputs_digest(tmp_path) != before  # another environment: train again


def test_inputs_digest_follows_the_numerics(tmp_path, monkeypatch):
    from rdmldg.fingerprints import inputs_digest

    monkeypatch.setenv("RDMLDG_NUMERICS", "pinned")
    pinned = inputs_digest(tmp_path)
    monkeypatch.setenv("RDMLDG_NUMERICS", "native")
    assert inputs_digest(tmp_path) != pinned


def test_a_diverging_run_fails_loudly_and_keeps_nothing(tmp_path):
    trainer = _trainer(tmp_path / "diverge", lr=1e38)  # finite, valid by the schema, and hopeless
    with pytest.raises(NonFiniteLoss, match=r"(loss is (nan|inf)|hold inf/NaN).*Fix: lower train.lr"):
        train(trainer, resume="auto")
    assert not list((tmp_path / "diverge").glob("**/adapter_model.safetensors"))


def test_a_resumed_stage_leaves_the_same_files_as_a_clean_one(tmp_path, monkeypatch, capsys):
    from rdmldg import params as params_mod
    from rdmldg.training import run as train_run
    from rdmldg.training import trainer as trainer_module

    p = params_mod.Params(**{c: s() for c, s in params_mod.CONCERNS.items()})
    p = p.model_copy(update={"train": p.train.model_copy(update={"lr": 1e-2, "epochs": 2, "batch_size": 4})})

    def fold(out, crash_at=None):
        if crash_at:
            monkeypatch.setattr(trainer_module, "Eq1Trainer",
                                lambda *a, **k: Eq1Trainer(*a, callbacks=[CrashAt(crash_at)], **k))
        else:
            monkeypatch.setattr(trainer_module, "Eq1Trainer", Eq1Trainer)
        torch.manual_seed(0)
        model, processor = architectures.llava(texts=["ball star ring look"] * 4)
        return train_run.run(p, methods.get("label"), model, processor, _plan(out, "same-inputs"), CLASSES,
                             progress=False)

    fold(tmp_path / "clean")
    with pytest.raises(Crash):
        fold(tmp_path / "resumed", crash_at=4)
    fold(tmp_path / "resumed")
    assert "resumed from checkpoint-" in capsys.readouterr().out

    def files(root):
        return {f.relative_to(root).as_posix(): f.read_bytes()
                for f in sorted((root / "stage0").rglob("*")) if f.is_file()}

    clean, resumed = files(tmp_path / "clean"), files(tmp_path / "resumed")
    assert clean.keys() == resumed.keys() and "stage0/done.json" in clean
    assert [k for k in clean if clean[k] != resumed[k]] == []


def test_sarr_adopts_the_reasoning_run_as_its_stage0_and_ends_where_training_it_would(tmp_path):
    from rdmldg import params as params_mod
    from rdmldg.training import run as train_run

    p = params_mod.Params(**{c: s() for c, s in params_mod.CONCERNS.items()})
    train = p.train.model_copy(update={"lr": 1e-2, "epochs": 1, "batch_size": 4,
                                       "sarr": p.train.sarr.model_copy(update={"rounds": 1})})
    p = p.model_copy(update={"train": train, "eval": p.eval.model_copy(update={"chain_max_new_tokens": 64})})

    def fold(method, out, donor=None):
        model, processor = architectures.llava(texts=["ball star ring look"] * 4)
        return train_run.run(p, methods.get(method), model, processor, _plan(out, "same-inputs", donor), CLASSES,
                             progress=False)

    fold("reasoning", tmp_path / "reasoning")
    adopted = fold("sarr", tmp_path / "sarr-adopted", donor=tmp_path / "reasoning")
    alone = fold("sarr", tmp_path / "sarr-alone")
    assert methods.get("sarr").stage0 == "reasoning" and methods.get("rdmldg").stage0 == "mtct"
    assert (tmp_path / "sarr-adopted" / "stage0" / "done.json").read_bytes() == \
        (tmp_path / "reasoning" / "stage0" / "done.json").read_bytes()  # copied, not retrained
    for stage in ("stage0", "stage1"):
        a = (tmp_path / "sarr-adopted" / stage / "adapter" / "adapter_model.safetensors").read_bytes()
        b = (tmp_path / "sarr-alone" / stage / "adapter" / "adapter_model.safetensors").read_bytes()
        assert a == b, f"{stage}: adopting the reasoning run's stage 0 changed the result"
    assert adopted["stages"].equals(alone["stages"])
    # a stale stage 0 left by an earlier run (another seed, say) is replaced by the donor's, not retrained
    stale = tmp_path / "sarr-adopted" / "stage0" / "done.json"
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "fingerprint": "an earlier run"}))
    train_run._adopt(tmp_path / "sarr-adopted" / "stage0", tmp_path / "reasoning" / "stage0",
                     json.loads((tmp_path / "reasoning" / "stage0" / "done.json").read_text())["fingerprint"])
    assert stale.read_bytes() == (tmp_path / "reasoning" / "stage0" / "done.json").read_bytes()
