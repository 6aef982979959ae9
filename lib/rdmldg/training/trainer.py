"""transformers' Trainer with Eq. 1: checkpoints, resume, accumulation, bf16/checkpointing on GPU,
and DDP under `accelerate launch`, all from the library; only the loss is ours."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from rdmldg.models.lora import add_lora
from rdmldg.params import LoraParams, TrainParams
from rdmldg.training.loss import eq1_groups
from rdmldg.training.pathways import PathwayCollator, TrainItem, forward


def process_state():
    """This process's place in an `accelerate launch` (or the only process, outside one).

    Asked for on the device the Trainer will use: without CUDA, accelerate's default
    `PartialState()` finds no distributed backend, so every CPU process would call itself the
    main one (and all of them would write the same files) until the Trainer re-creates the state."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


class NonFiniteLoss(FloatingPointError):
    """The training loss became inf or NaN: the run stops before any adapter is saved."""


class Eq1Trainer(Trainer):
    def __init__(self, *args, share_images: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.share_images = share_images
        self.loss_is_scaled_for_ga = False  # Eq. 1 is a per-micro-batch mean: let Trainer divide by GA steps
        self._parts: list[tuple[float, float]] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logits = forward(model, inputs, self.share_images)
        parts = eq1_groups(logits, inputs["groups"], int(inputs["n_images"]))
        label, reasoning = float(parts["label"]), float(parts["reasoning"])
        if not torch.isfinite(parts["loss"]):
            raise NonFiniteLoss(
                f"the Eq. 1 loss is {float(parts['loss'].detach())} at step {self.state.global_step + 1} "
                f"(label term {label}, reasoning term {reasoning}) in {self.args.output_dir}: training diverged and "
                f"nothing of this stage is kept. Fix: lower train.lr (now {self.args.learning_rate}) in "
                "params/train.yaml, or check the inputs for empty chains or corrupt images")
        self._parts.append((label, reasoning))
        return (parts["loss"], {"logits": logits}) if return_outputs else parts["loss"]

    def log(self, logs: dict, *args, **kwargs) -> None:
        if self._parts and "loss" in logs:  # per-pathway terms since the last log, for the curves
            logs["loss_label"] = sum(p[0] for p in self._parts) / len(self._parts)
            logs["loss_reasoning"] = sum(p[1] for p in self._parts) / len(self._parts)
            self._parts.clear()
        super().log(logs, *args, **kwargs)


def arguments(out_dir: Path, p: TrainParams, seed: int, n_items: int, progress: bool = True,
              epochs: float | None = None) -> TrainingArguments:
    gpu = torch.cuda.is_available()
    bf16 = gpu if p.compute.mixed_precision == "auto" else p.compute.mixed_precision == "bf16"
    steps = max(1, -(-n_items // (p.batch_size * p.grad_accum))) * (epochs or p.epochs)
    return TrainingArguments(
        output_dir=str(out_dir), per_device_train_batch_size=p.batch_size, gradient_accumulation_steps=p.grad_accum,
        num_train_epochs=epochs or p.epochs, learning_rate=p.lr, weight_decay=p.weight_decay,
        lr_scheduler_type="linear", warmup_steps=p.warmup, logging_steps=max(1, min(10, steps // 20)),
        save_strategy="steps",
        save_steps=max(1, steps // 4), save_total_limit=1, seed=seed, data_seed=seed, report_to="none",
        remove_unused_columns=False, dataloader_num_workers=0, use_cpu=not gpu, bf16=bf16,
        activation_checkpointing=gpu, disable_tqdm=not progress, include_num_input_tokens_seen="non_padding",
    )


def with_lora(base, lora: LoraParams):
    """`base` wrapped with the study's LoRA adapters (`train.lora`), in place."""
    return add_lora(base, lora.rank, lora.alpha, lora.dropout, token_embeddings=lora.token_embeddings)


def eq1_trainer(model, processor, items: list[TrainItem], classes: list[str], pathways: tuple[int, ...],
                p: TrainParams, seed: int, out_dir: Path, *, epochs: float | None = None, share_images: bool = True,
                progress: bool = False) -> Eq1Trainer:
    """The Trainer for one fine-tune of `model` on `items` through `pathways`; quiet unless
    `progress` (the stage reports plot the curves instead of printing them)."""
    trainer = Eq1Trainer(model=model, args=arguments(out_dir, p, seed, len(items), progress, epochs),
                         train_dataset=items, data_collator=PathwayCollator(processor, classes, pathways),
                         share_images=share_images)
    if not progress:
        trainer.remove_callback(PrinterCallback)
    return trainer


def train(trainer: Eq1Trainer, resume: str) -> dict:
    """Train, continuing from the last checkpoint in output_dir when resume is 'auto'."""
    out = Path(trainer.args.output_dir)
    last = get_last_checkpoint(str(out)) if resume == "auto" and out.is_dir() else None
    result = trainer.train(resume_from_checkpoint=last)
    broken = [n for n, w in trainer.model.named_parameters() if w.requires_grad and not torch.isfinite(w).all()]
    if broken:  # the last step can diverge after its (finite) loss was computed
        raise NonFiniteLoss(f"{len(broken)} trained tensors hold inf/NaN after training (e.g. {broken[0]}) in "
                            f"{out}: nothing of this stage is kept. Fix: lower train.lr (now "
                            f"{trainer.args.learning_rate}) in params/train.yaml")
    # wall-clock entries (train_runtime, …_per_second) would make a stage's record differ run to run
    history = [{k: v for k, v in h.items() if not k.endswith(("_runtime", "_per_second"))}
               for h in trainer.state.log_history]
    return {"resumed_from": last, "steps": result.global_step, "tokens": trainer.state.num_input_tokens_seen,
            "history": history}
