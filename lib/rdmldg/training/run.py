"""One method on one fold: stage 0 (the method's pathways on teacher chains), then SARR
rounds for the methods that have them, each stage selected on the source domains'
validation split. Stages finish with a marker carrying a fingerprint of everything that
determines them, so a stopped run continues where it was (and Trainer resumes inside a stage)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from rdmldg.chains import q_cls
from rdmldg.data import split_column
from rdmldg.fingerprints import DONE, fingerprint, finished, stamp_of
from rdmldg.io import ordinary_modes
from rdmldg.methods import CLS, Method
from rdmldg.models.readout import accuracy, chain_predictions, class_loglik, loglik_predictions
from rdmldg.models.sequences import single
from rdmldg.params import EvalParams, Params
from rdmldg.seeding import derive_seed, sample_per_domain
from rdmldg.training import data, sarr, served
from rdmldg.training.pathways import TrainItem
from rdmldg.training.trainer import eq1_trainer, process_state, train, with_lora


def _sample(rows: pd.DataFrame, per_domain: int | None, seed: int, purpose: str) -> pd.DataFrame:
    if per_domain is None:
        return rows
    return sample_per_domain(rows, per_domain, seed, purpose, keep_order=True)


def fold_items(p: Params, manifest, root: Path, chains: dict[str, str], heldout: str, split_col: str):
    """(training items, validation items) of the source domains, guarded against leakage."""
    train_rows = _sample(data.source_rows(manifest, heldout, split_col, "in", "training"),
                         p.train.images_per_domain, p.study.seed, "train-sample")
    val_rows = _sample(data.source_rows(manifest, heldout, split_col, "out", "validation"),
                       p.train.val_images_per_domain, p.study.seed, "val-sample")
    return (data.items(train_rows, root, chains, heldout, "training"),
            data.items(val_rows, root, chains, heldout, "validation"))


@dataclass
class FoldPlan:
    """Everything one method's run on one fold (trial seed × held-out domain) is made of."""

    trial: int
    heldout: str
    train_items: list[TrainItem]
    val_items: list[TrainItem]
    key: str  # fingerprint of the params, images and inputs that determine the run
    out_dir: Path
    stage0_from: Path | None = None  # the stage-0 donor's run on this fold

    @property
    def name(self) -> str:
        return f"trial{self.trial}/{self.heldout}"


def fold_plans(p: Params, method: Method, manifest, image_root: Path, chains: dict[str, str], runs_root: Path,
               inputs: str) -> list[FoldPlan]:
    """One plan per trial seed × held-out domain, in the study's order."""
    plans = []
    for trial in p.data.trial_seeds:
        for heldout in p.heldout_domains():
            train_items, val_items = fold_items(p, manifest, image_root, chains, heldout, split_column(trial))
            key = fingerprint(trial, heldout, p.train.model_dump(), p.eval.model_dump(), p.study.seed,
                              [it.image_id for it in train_items], inputs)
            name = f"trial{trial}/{heldout}"
            plans.append(FoldPlan(trial, heldout, train_items, val_items, key, runs_root / method.name / name,
                                  runs_root / method.stage0 / name))
    return plans


def val_accuracy(model, processor, items: list[TrainItem], classes: list[str], readout: str, p: EvalParams) -> float:
    """Training-domain validation on the sources' out split, read the way the method answers
    (`Method.readout`): q_cls by class log-likelihood, or the CONCLUSION of a q_reason chain."""
    model.eval()
    truth = [it.label for it in items]
    if readout == "reason":
        return accuracy(chain_predictions(model, processor, [it.image for it in items], classes,
                                          p.chain_max_new_tokens, p.generate_batch_size)[1], truth)["accuracy"]
    scores = class_loglik(model, processor, [single(it.image, q_cls(classes)) for it in items], classes, p.batch_size)
    return accuracy(loglik_predictions(scores, classes), truth)["accuracy"]


def _load_adapter(model, folder: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))


def _adopt(folder: Path, donor: Path | None, stamp: str) -> None:
    """Copy a finished stage with this fingerprint from `donor` (another method's run) into `folder`."""
    if donor is None or stamp_of(folder) == stamp:  # none to copy from, or this stage is current already
        return
    if stamp_of(donor) == stamp:  # a stale stage of an earlier run (other params) is replaced too
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(donor, folder)


def _self_chains(p: Params, method: Method, model, processor, items, classes, plan: FoldPlan, stage: int, main: bool,
                 state) -> list[str]:
    """SARR round `stage`'s chains from the current model (the previous stage's adapter): in
    this process, or from a vLLM server that loads that adapter (`train.sarr.generator`)."""
    s = p.train.sarr
    if s.generator == "local":
        return sarr.self_chains(model, processor, items, classes, plan.heldout, p.eval.chain_max_new_tokens,
                                s.generation_batch_size)
    answers = plan.out_dir / f"stage{stage}" / "self_chains.json"
    if main:  # one process asks the server; the others read its answers
        previous = plan.out_dir / f"stage{stage - 1}"
        stamp = stamp_of(previous)
        name = f"{method.name}-trial{plan.trial}-{plan.heldout}-stage{stage - 1}-{stamp[:8]}"
        texts = served.served_chains(s.served, previous / "adapter", name, items, classes, plan.heldout,
                                     p.eval.chain_max_new_tokens)
        answers.write_text(json.dumps(texts))
    state.wait_for_everyone()
    return json.loads(answers.read_text())


def run(p: Params, method: Method, base_model, processor, plan: FoldPlan, classes: list[str],
        progress: bool = True) -> dict:
    """Train one method on one fold; returns the stage table and the selected stage.

    Stage 0 belongs to `method.stage0` — SARR's is reasoning SFT, RD-MLDG's is MTCT — and is
    seeded and fingerprinted as that method's, so it is the same training whichever run does it:
    a finished one in `plan.stage0_from` (that method's run on this fold) is copied, not redone.
    The pairs (reasoning, SARR) and (MTCT, RD-MLDG) then differ by their SARR rounds alone.

    Under `accelerate launch` every process runs this function: all train (data-parallel) and
    write the same chains; only the main process touches the files, the others wait for it."""
    state = process_state()
    main = state.is_main_process
    out_dir = plan.out_dir
    torch.manual_seed(derive_seed(p.study.seed, "lora", plan.heldout, method.stage0))
    model = with_lora(base_model, p.train.lora)
    items, val_items, rows, history = list(plan.train_items), plan.val_items, [], []
    rounds = p.train.sarr.rounds if method.sarr else 0
    if rounds:
        sarr.check_room(processor, items, p.eval.chain_max_new_tokens)
    for stage in range(rounds + 1):
        folder = out_dir / f"stage{stage}"
        stamp = fingerprint(plan.key, method.stage0 if stage == 0 else method.name, stage)
        done = folder / DONE
        if stage == 0 and main:
            _adopt(folder, plan.stage0_from and plan.stage0_from / "stage0", stamp)
        state.wait_for_everyone()
        record = finished(folder, stamp)
        if record:
            _load_adapter(model, folder / "adapter")  # finished earlier: continue from its weights
            items = [TrainItem(it.image_id, it.image, it.label, record["chains"].get(it.image_id), it.domain)
                     for it in items]
        else:
            mark = folder / "fingerprint"
            if main:
                if folder.exists() and (not mark.exists() or mark.read_text() != stamp):
                    shutil.rmtree(folder)  # left by other inputs: never resume from it
                folder.mkdir(parents=True, exist_ok=True)
                mark.write_text(stamp)
            state.wait_for_everyone()
            record = {"stage": stage, "sarr": None}
            if stage > 0:  # a SARR round: the current model writes the chains it trains on next
                texts = _self_chains(p, method, model, processor, items, classes, plan, stage, main, state)
                items, record["sarr"] = sarr.select(items, texts, classes, p.train.sarr.fallback)
            model.train()
            pathways = method.pathways
            if not any(it.chain for it in items) and CLS not in pathways:
                raise RuntimeError(f"{method.name}: no training image has a chain; nothing to train")
            trainer = eq1_trainer(model, processor, items, classes, pathways, p.train, p.study.seed,
                                  folder / "trainer", share_images=p.train.share_image_encoding, progress=progress)
            info = train(trainer, p.train.resume)
            record.update({"fingerprint": stamp, "steps": info["steps"], "tokens": info["tokens"],
                           "history": [h for h in info["history"] if "loss" in h],
                           "chains": {it.image_id: it.chain for it in items if it.chain}})
            record["val_accuracy"] = val_accuracy(model, processor, val_items, classes, method.readout, p.eval)
            if main:
                model.save_pretrained(folder / "adapter")
                ordinary_modes(folder / "adapter")
                shutil.rmtree(folder / "trainer", ignore_errors=True)  # checkpoints served their purpose
                if info["resumed_from"]:  # said, not stored: a resumed stage's files equal a clean one's
                    print(f"{folder}: resumed from {Path(info['resumed_from']).name}", flush=True)
                done.write_text(json.dumps(record, sort_keys=True))
                print(f"{out_dir} stage {stage}: {record['steps']} steps, "
                      f"validation accuracy {record['val_accuracy']:.3f}", flush=True)
            state.wait_for_everyone()
        history += [{**h, "stage": stage} for h in record["history"]]
        rows.append({"stage": stage, "val_accuracy": record["val_accuracy"], "steps": record["steps"],
                     "tokens": record["tokens"],
                     **{f"sarr_{k}": v for k, v in (record["sarr"] or {}).items() if k != "reasons"},
                     "sarr_reasons": (record["sarr"] or {}).get("reasons")})
    table = pd.DataFrame(rows)
    best = int(table["val_accuracy"].idxmax())  # training-domain validation selects the stage
    if main:
        shutil.copytree(out_dir / f"stage{best}" / "adapter", out_dir / "adapter", dirs_exist_ok=True)
    state.wait_for_everyone()
    _load_adapter(model, out_dir / "adapter")
    return {"model": model, "stages": table, "selected_stage": best, "history": pd.DataFrame(history)}
