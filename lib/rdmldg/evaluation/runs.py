"""The trained runs the evaluate stage reads, and one base model that wears each adapter in turn.

A run is models/runs/<method>/trial<t>/<heldout>/ with the selected stage's LoRA adapter in
`adapter/` and one `stage<k>/done.json` per finished stage (steps, validation accuracy).
The base model is loaded once; adapters are swapped in place (same LoRA shape for every run
of a study), so a real 8B checkpoint is not re-read twenty times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from rdmldg.fingerprints import folder_digest
from rdmldg.params import Params

ZERO_SHOT = "zeroshot"


class RunKey(NamedTuple):
    method: str
    trial: int
    heldout: str


@dataclass(frozen=True)
class Run:
    method: str
    trial: int
    heldout: str
    folder: Path | None  # None: the zero-shot base model

    @property
    def name(self) -> str:
        return f"{self.method}-trial{self.trial}-{self.heldout}"

    @staticmethod
    def parse(name: str) -> RunKey:
        """(method, trial, heldout) back from a run's name."""
        method, rest = name.rsplit("-trial", 1)
        trial, heldout = rest.split("-", 1)
        return RunKey(method, int(trial), heldout)

    @property
    def adapter(self) -> Path:
        return self.folder / "adapter"

    def stages(self) -> list[dict]:
        return [json.loads(f.read_text()) for f in sorted(self.folder.glob("stage*/done.json"),
                                                          key=lambda f: int(f.parent.name[5:]))]

    def selected(self) -> tuple[int, int]:
        """(selected stage, training steps up to and including it), the training-domain-validation
        choice the train stage made (first best, as it picks)."""
        stages = self.stages()
        best = max(range(len(stages)), key=lambda k: (stages[k]["val_accuracy"], -k))
        return best, sum(s["steps"] for s in stages[:best + 1])

    def digest(self) -> str:
        if self.folder is None:
            return ZERO_SHOT
        return folder_digest(self.adapter)


def trained_runs(root: Path, p: Params) -> list[Run]:
    """Every (method, trial seed, held-out domain) the params ask for; a clear error names the
    first missing one."""
    runs = []
    for method in p.study.methods:
        for trial in p.data.trial_seeds:
            for heldout in p.heldout_domains():
                run = Run(method, trial, heldout, root / "models" / "runs" / method / f"trial{trial}" / heldout)
                if not (run.adapter / "adapter_model.safetensors").exists() or not run.stages():
                    raise FileNotFoundError(
                        f"no trained adapter for {run.name} in {run.folder}: run `dvc repro train@{method}` first")
                runs.append(run)
    return runs


def zero_shot_runs(p: Params) -> list[Run]:
    """The base model once per trial seed (its splits differ); it serves every held-out domain."""
    return [Run(ZERO_SHOT, t, "all", None) for t in p.data.trial_seeds]


class AdapterSwapper:
    """The base model, and the same model with any run's adapter loaded into it."""

    def __init__(self, base_model):
        self.base = base_model
        self.peft = None
        self.config = None

    def __call__(self, run: Run):
        if run.folder is None:
            if self.peft is not None:
                raise RuntimeError("evaluate the zero-shot base before any adapter is loaded into it")
            return self.base.eval()
        config = json.loads((run.adapter / "adapter_config.json").read_text())
        shape = {k: config.get(k) for k in ("r", "lora_alpha", "target_modules")}
        if self.peft is None:
            from rdmldg.models.lora import load_adapter

            self.peft, self.config = load_adapter(self.base, run.adapter), shape
        else:
            if shape != self.config:
                raise ValueError(f"{run.adapter}: LoRA shape {shape} differs from the other runs' {self.config}; "
                                 "retrain the runs with one train.lora setting")
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(self.peft, load_file(run.adapter / "adapter_model.safetensors"))
        return self.peft.eval()


