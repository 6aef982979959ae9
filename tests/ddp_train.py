"""Launched by test_ddp.py under `accelerate launch --num_processes 2 --cpu`: the same
Trainer glue as the training stage, on a tiny model; each rank reports what it saw."""

import json
import sys
from pathlib import Path

import torch
from PIL import Image

from rdmldg.models import architectures
from rdmldg.models.lora import add_lora
from rdmldg.params import TrainParams
from rdmldg.training.pathways import PathwayCollator, TrainItem
from rdmldg.training.trainer import Eq1Trainer, arguments, train

out = Path(sys.argv[1])
classes = ["ball", "star"]
items = [TrainItem(f"i{i}", Image.new("RGB", (32, 32), (15 * i, 90, 30)), classes[i % 2],
                   f"<SUMMARY>s</SUMMARY><CONCLUSION>{classes[i % 2]}</CONCLUSION>") for i in range(16)]
torch.manual_seed(0)
model, processor = architectures.llava(texts=["ball star s"] * 4)
model = add_lora(model, rank=4, alpha=8, dropout=0.0)
args = arguments(out, TrainParams(lr=1e-2, epochs=1, batch_size=2), seed=0, n_items=len(items), progress=False)
trainer = Eq1Trainer(model=model, args=args, train_dataset=items, data_collator=PathwayCollator(processor, classes))
info = train(trainer, resume="never")
state = trainer.accelerator.state
(out / f"rank{state.process_index}.json").write_text(json.dumps({
    "world_size": state.num_processes, "steps": info["steps"], "backend": str(state.backend),
    "adapter_sum": float(sum(p.detach().sum() for n, p in trainer.model.named_parameters() if "lora_" in n)),
}))
