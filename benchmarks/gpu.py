"""What the real study costs on a GPU: MTCT training steps, chain generation and 65-class scoring
for InternVL3-2B- and 8B-shaped models, randomly initialised (nothing is downloaded).

    python benchmarks/gpu.py                       # both sizes, on the GPU, bf16
    python benchmarks/gpu.py --sizes 2b --steps 5  # one size, fewer steps
    python benchmarks/gpu.py --tiny                # a CPU check of the script itself (the tests run it)

Each size is InternVL3's shape: InternViT-300M (448 px tiles, patch 14, 256 image tokens per
tile after pixel shuffle) with Qwen2.5-1.5B (2B) or Qwen2.5-7B (8B), vocabulary 151,674. The
model is trained as the study trains it: LoRA rank 8 in both towers, activation checkpointing,
bf16, AdamW, Eq. 1 over an MTCT batch (every image under q_cls and under q_reason with a chain of
~350 tokens, each image encoded once). Printed, one JSON line per measurement:

* `mtct`: training tokens/s (non-padding tokens the language model reads), images/s, peak GPU
  memory, and MFU against 989 TFLOP/s (dense bf16, H100/H200 SXM). FLOPs per step count
  6 x parameters x tokens for both towers (the usual "model FLOPs"; LoRA skips the frozen
  weights' gradients and checkpointing recomputes the forward, so the hardware does about
  4/6 and 8/6 of that respectively);
* `generate`: greedy chain tokens/s with HF `generate` at batch 1, 16 and 64 (every sequence
  forced to the full length);
* `score65`: images/s of the log-likelihood readout over OfficeHome's 65 class names.

Random weights cost what trained ones cost; only the measured speed is meaningful here.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from PIL import Image

from rdmldg.chains import format_chain, q_cls, q_reason
from rdmldg.models import architectures
from rdmldg.models.architectures import Sizes
from rdmldg.models.lora import add_lora
from rdmldg.models.sequences import prompt_text, single
from rdmldg.training.loss import eq1_groups
from rdmldg.training.pathways import PathwayCollator, TrainItem, forward

PEAK_BF16 = 989e12  # dense bf16 FLOP/s of an H100/H200 SXM
VIT_300M = dict(image_size=448, patch_size=14, vision_hidden=1024, vision_layers=24, vision_heads=16)
QWEN_VOCAB = 151_674
SIZES = {
    "2b": Sizes(**VIT_300M, text_hidden=1536, text_layers=28, text_heads=12, text_kv_heads=2, text_intermediate=8960,
                model_vocab=QWEN_VOCAB, max_positions=8192, vocab_size=2000),
    "8b": Sizes(**VIT_300M, text_hidden=3584, text_layers=28, text_heads=28, text_kv_heads=4, text_intermediate=18944,
                model_vocab=QWEN_VOCAB, max_positions=8192, vocab_size=2000),
    "tiny": Sizes(),
}
# OfficeHome's 65 classes, the scoring benchmark's answer set
OFFICEHOME = ("Alarm_Clock Backpack Batteries Bed Bike Bottle Bucket Calculator Calendar Candles Chair Clipboards "
              "Computer Couch Curtains Desk_Lamp Drill Eraser Exit_Sign Fan File_Cabinet Flipflops Flowers Folder Fork "
              "Glasses Hammer Helmet Kettle Keyboard Knives Lamp_Shade Laptop Marker Monitor Mop Mouse Mug Notebook "
              "Oven Pan Paper_Clip Pen Pencil Postit_Notes Printer Push_Pin Radio Refrigerator Ruler Scissors "
              "Screwdriver Shelf "
              "Sink Sneakers Soda Speaker Spoon Table Telephone ToothBrush Toys Trash_Can TV Webcam").split()


def chain_text(words: int) -> str:
    body = " ".join(["the outline shows a handle and a rounded body"] * (words // 9 + 1)).split()[:words]
    q = len(body) // 4
    return format_chain(summary=" ".join(body[:q]), caption=" ".join(body[q:2 * q]),
                        reasoning=" ".join(body[2 * q:3 * q]), reflection=" ".join(body[3 * q:]), conclusion="Mug")


def build(size: str, device: str, dtype: torch.dtype):
    texts = [q_cls(OFFICEHOME), q_reason(OFFICEHOME), chain_text(60)] * 4
    model, processor = architectures.internvl(SIZES[size], texts=texts)
    return model.to(device=device, dtype=dtype), processor


def params_of(module) -> int:
    return sum(p.numel() for p in module.parameters())


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_mtct(size: str, device: str, dtype, batch: int, steps: int, chain_words: int) -> dict:
    model, processor = build(size, device, dtype)
    n_vit, n_all = params_of(model.model.vision_tower), params_of(model)
    model = add_lora(model, rank=8, alpha=16, dropout=0.05)
    if device == "cuda":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    side = SIZES[size].image_size
    items = [TrainItem(f"i{k}", Image.new("RGB", (side, side), (k * 7 % 255, 90, 40)), "Mug", chain_text(chain_words))
             for k in range(batch)]
    collate = PathwayCollator(processor, OFFICEHOME)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)

    def step() -> int:
        inputs = collate(items)
        for g in inputs["groups"]:
            for k, v in g.items():
                g[k] = v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device)
        loss = eq1_groups(forward(model, inputs, True), inputs["groups"], batch)["loss"]
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        return int(inputs["attention_mask"].sum())

    step()  # warm-up: kernels, allocator
    sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start, tokens = time.perf_counter(), 0
    for _ in range(steps):
        tokens += step()
    sync(device)
    seconds = time.perf_counter() - start
    vit_tokens = (side // SIZES[size].patch_size) ** 2 + 1  # patches + class token, one tile per image
    flops = 6 * ((n_all - n_vit) * tokens + n_vit * vit_tokens * batch * steps)
    return {"bench": "mtct", "size": size, "batch_images": batch, "sequences": 2 * batch, "steps": steps,
            "tokens_per_step": tokens // steps, "tokens_per_s": round(tokens / seconds, 1),
            "images_per_s": round(batch * steps / seconds, 2), "params": n_all, "vision_params": n_vit,
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
            "mfu": round(flops / seconds / PEAK_BF16, 4) if device == "cuda" else None}


@torch.inference_mode()
def bench_generate(model, processor, size: str, device: str, batches: list[int], new_tokens: int) -> list[dict]:
    side = SIZES[size].image_size
    dtype = next(model.parameters()).dtype
    processor.tokenizer.padding_side = "left"
    out = []
    for b in batches:
        examples = [single(Image.new("RGB", (side, side), (k, 80, 160)), q_reason(OFFICEHOME)) for k in range(b)]
        inputs = processor(text=[prompt_text(processor, e) for e in examples], images=[e.images[0] for e in examples],
                           return_tensors="pt", padding=True)
        inputs = {k: v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device) for k, v in inputs.items()}
        kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        model.generate(**inputs, **{**kwargs, "max_new_tokens": 2, "min_new_tokens": 2})  # warm-up
        sync(device)
        start = time.perf_counter()
        model.generate(**inputs, **kwargs)
        sync(device)
        seconds = time.perf_counter() - start
        out.append({"bench": "generate", "size": size, "batch": b, "new_tokens": new_tokens,
                    "tokens_per_s": round(b * new_tokens / seconds, 1)})
    return out


@torch.inference_mode()
def bench_score(model, processor, size: str, images: int, batch: int) -> dict:
    from rdmldg.models.readout import class_loglik

    side = SIZES[size].image_size
    examples = [single(Image.new("RGB", (side, side), (k, 30, 200)), q_cls(OFFICEHOME)) for k in range(images)]
    class_loglik(model, processor, examples[:batch], OFFICEHOME, batch)  # warm-up
    sync(next(model.parameters()).device.type)
    start = time.perf_counter()
    class_loglik(model, processor, examples, OFFICEHOME, batch)
    sync(next(model.parameters()).device.type)
    seconds = time.perf_counter() - start
    return {"bench": "score65", "size": size, "images": images, "classes": len(OFFICEHOME),
            "images_per_s": round(images / seconds, 2)}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["2b", "8b"], choices=["2b", "8b"])
    ap.add_argument("--steps", type=int, default=10, help="timed MTCT steps per size")
    ap.add_argument("--batch", type=int, default=8, help="images per MTCT step (the paper's per-device batch)")
    ap.add_argument("--chain-words", type=int, default=260, help="words per chain (about 350 tokens)")
    ap.add_argument("--new-tokens", type=int, default=256, help="generated tokens per sequence")
    ap.add_argument("--generate-batches", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--score-images", type=int, default=64)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes on the CPU: checks the script, measures nothing")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    args = ap.parse_args(argv)
    if args.tiny:
        sizes, device, dtype = ["tiny"], "cpu", torch.float32
        args.steps, args.batch, args.chain_words, args.new_tokens = 1, 2, 20, 4
        args.generate_batches, args.score_images = [1, 2], 2
    else:
        if not torch.cuda.is_available():
            ap.error("no CUDA device: run on a GPU machine, or pass --tiny to check the script on a CPU")
        sizes, device, dtype = args.sizes, "cuda", torch.bfloat16
    header = {"bench": "machine", "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
              "torch": torch.__version__, "dtype": str(dtype)}
    rows = [header]
    print(json.dumps(header), flush=True)
    for size in sizes:
        found = [bench_mtct(size, device, dtype, args.batch, args.steps, args.chain_words)]
        if device == "cuda":
            torch.cuda.empty_cache()
        model, processor = build(size, device, dtype)
        model.eval()
        found += bench_generate(model, processor, size, device, args.generate_batches, args.new_tokens)
        found.append(bench_score(model, processor, size, args.score_images, min(8, args.score_images)))
        del model
        for row in found:
            print(json.dumps(row), flush=True)
        rows += found
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return rows


if __name__ == "__main__":
    main()
