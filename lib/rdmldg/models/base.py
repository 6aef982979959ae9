"""The base MLLM the study starts from: the embedded model pretrained in the pipeline, or a
local checkpoint recorded by path, config and content hash (never copied into DVC)."""

from __future__ import annotations

import json
from pathlib import Path

from rdmldg.models import checkpoints
from rdmldg.params import ModelParams

POINTER = "checkpoint.json"


def base_dir(root: Path) -> Path:
    return root / "models" / "base"


def load_base(root: Path, p: ModelParams):
    """(model, processor) of the base model, in eval mode."""
    folder = base_dir(root)
    pointer = folder / POINTER
    if pointer.exists():
        path = json.loads(pointer.read_text())["path"]
        model, processor = checkpoints.load(path, p.trust_remote_code, p.dtype)
    elif (folder / "config.json").exists():
        model, processor = checkpoints.load(folder, False, p.dtype)
    else:
        raise FileNotFoundError(f"no base model in {folder}: run the base stage first (dvc repro base)")
    return model.eval(), processor


def base_model_type(root: Path) -> str:
    """The base model's architecture (`llava`, `internvl`, `qwen2_vl`, …) without loading it."""
    folder = base_dir(root)
    pointer = folder / POINTER
    if pointer.exists():
        return json.loads(pointer.read_text())["model_type"]
    if (folder / "config.json").exists():
        return json.loads((folder / "config.json").read_text())["model_type"]
    raise FileNotFoundError(f"no base model in {folder}: run the base stage first (dvc repro base)")


def record_checkpoint(root: Path, p: ModelParams) -> dict:
    """For a real profile: write models/base/checkpoint.json instead of weights."""
    path = checkpoints.resolve(p.checkpoint, root)
    rec = checkpoints.record(path)
    folder = base_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / POINTER).write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    return rec
