"""One method on every fold of the study, in turn: the train stage's loop, with the Challenge-1
probe of each fold's training images before and after fine-tuning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rdmldg.methods import Method
from rdmldg.models.base import load_base
from rdmldg.models.token_probs import class_token_probs, confidence_shares, probe_items
from rdmldg.params import Params
from rdmldg.training.run import FoldPlan, run

SHARES = ["high (p>0.75)", "low (p<0.25)"]


@dataclass
class FoldResults:
    runs: dict[str, dict]     # run name → selected stage, training images, its validation accuracy
    curves: pd.DataFrame      # loss per logged step, stage, fold and trial
    stages: pd.DataFrame      # one row per stage (and SARR round) and fold; `selected` marks the pick
    challenge: pd.DataFrame   # run × before/after × prompt: shares of confident class tokens

    def metrics(self, method: Method) -> dict:
        summary = self.challenge.groupby(["prompt", "when"])[SHARES].mean()
        return {
            "method": method.name, "runs": self.runs,
            "mean_val_accuracy": float(pd.DataFrame(self.runs).T["val_accuracy"].mean()),
            "challenge1": {f"{p}_{w}": v for (p, w), v in summary.to_dict("index").items()},
            "sarr_rounds": (self.stages.drop(columns=["sarr_reasons", "tokens"]).to_dict("records")
                            if method.sarr else []),
        }

    def run_info(self) -> dict:
        return {"steps": int(self.stages["steps"].sum()), "tokens": int(self.stages["tokens"].sum()),
                "images_per_epoch": sum(r["train_images"] for r in self.runs.values())}


def train_folds(root: Path, p: Params, method: Method, plans: list[FoldPlan], classes: list[str]) -> FoldResults:
    """Train (or, where a finished run's fingerprint matches, read back) every plan, each from a
    freshly loaded base, printing one line per fold."""
    runs, curves, stages, challenge = {}, [], [], []
    for plan in plans:
        base, processor = load_base(root, p.model)
        probe = probe_items(plan.train_items)
        before = class_token_probs(base, processor, probe, classes, p.eval.batch_size)
        result = run(p, method, base, processor, plan, classes, progress=False)
        after = class_token_probs(result["model"], processor, probe, classes, p.eval.batch_size)
        challenge += [{"run": plan.name, "when": when, "prompt": prompt, **confidence_shares(values)}
                      for when, probs in (("before", before), ("after", after)) for prompt, values in probs.items()]
        curves.append(result["history"].assign(heldout=plan.heldout, trial=plan.trial))
        stages.append(result["stages"].assign(heldout=plan.heldout, trial=plan.trial,
                                              selected=result["stages"]["stage"] == result["selected_stage"]))
        runs[plan.name] = {"selected_stage": result["selected_stage"], "train_images": len(plan.train_items),
                           "val_accuracy": float(result["stages"]["val_accuracy"].iloc[result["selected_stage"]])}
        print(plan.name, runs[plan.name], flush=True)
    return FoldResults(runs, pd.concat(curves), pd.concat(stages), pd.DataFrame(challenge))
