"""Where the time of a finished study goes, and how close training comes to the machine's speed.

    python benchmarks/budget.py [--root DIR] [--budget-min 15]

Reads a study that `dvc repro` (or `make study`) finished in DIR (default: this checkout):
the wall time of every stage run (reports/runinfo/stages/, notebook start-up included), the
tokens each training stage saw (reports/runinfo/base.json, train-<method>.json) and the
images the evaluation read (reports/metrics/evaluate.json). Then, in this process and under
the study's numerics pins, it measures the machine's fp32 matrix-product rate — on a large
square product and on the base model's own layer shapes — and prints, per stage: seconds,
share of the budget and of the run, tokens trained, images evaluated, and the achieved
training FLOP/s beside the measured rate.

Training FLOPs are estimated from the parameter count N of the base model: 6·N per token
for the base stage (every weight trained: forward 2N, backward 4N), 4·N for the LoRA stages
(frozen weights need no weight gradients; the adapters' are negligible). Both ignore
attention's sequence-length term, a few per cent at these lengths.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from rdmldg import numerics  # noqa: E402
from rdmldg.provenance import cpu_model  # noqa: E402

FLOPS_PER_TOKEN = {"base": 6, "train": 4}


def stage_seconds(reports: Path) -> list[tuple[str, float]]:
    """(stage run, seconds) in pipeline order, e.g. ('train method-label', 81.2)."""
    order = ["prepare", "chains", "base", "zeroshot", "train", "evaluate", "ood_analysis"]
    rows = []
    for f in sorted((reports / "runinfo" / "stages").rglob("*.json")):
        info = json.loads(f.read_text())
        tag = " ".join(f"{k}-{v}" for k, v in info["coordinates"].items())
        rows.append((info["stage"], f"{info['stage']} {tag}".strip(), float(info["seconds"])))
    if not rows:
        raise SystemExit(f"no stage timings under {reports / 'runinfo' / 'stages'}: the stages record their "
                         "seconds there as they run: `make study` (or `dvc repro`) in that checkout first")
    rank = {s: i for i, s in enumerate(order)}
    methods = {f"train method-{m}": i for i, m in enumerate(["label", "reasoning", "mtct", "sarr", "rdmldg"])}
    return [(name, s) for stage, name, s in sorted(rows, key=lambda r: (rank.get(r[0], len(order)),
                                                                        methods.get(r[1], len(methods)), r[1]))]


def base_parameters(root: Path) -> int:
    from safetensors import safe_open

    files = sorted((root / "models" / "base").glob("*.safetensors"))
    if not files:
        raise SystemExit(f"no safetensors weights in {root / 'models' / 'base'} (a real checkpoint is not counted)")
    n = 0
    for f in files:
        with safe_open(f, "pt") as st:
            n += sum(_numel(st.get_slice(k).get_shape()) for k in st.keys())
    return n


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def matmul_rate(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """Sustained fp32 FLOP/s of (m×k)·(k×n), best of three timed bursts."""
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        reps, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            a @ b
            reps += 1
        best = max(best, 2 * m * k * n * reps / elapsed)
    return best


def native_matmul_rate() -> float:
    """The 1024³ rate with every library on its own fastest path (the pins off), measured in a
    fresh interpreter because MKL reads its branch setting once, when it loads."""
    env = {k: v for k, v in os.environ.items() if k not in numerics.pins()}
    env[numerics.MODE_VAR] = "native"
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); sys.path.insert(0, {str(REPO / 'lib')!r}); "
            "from rdmldg import numerics; numerics.apply(); import torch; numerics.configure_torch(); "
            "import budget; print(budget.matmul_rate(1024, 1024, 1024))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="checkout holding a finished study")
    parser.add_argument("--budget-min", type=float, default=15.0, help="the study's time budget, minutes")
    args = parser.parse_args()
    root = args.root.resolve()
    reports = root / "reports"
    numerics.apply()  # before torch loads: the same code paths as the study
    import torch

    numerics.configure_torch()
    stages = stage_seconds(reports)
    total = sum(s for _, s in stages)
    n_params = base_parameters(root)
    config = json.loads((root / "models" / "base" / "config.json").read_text())
    hidden = config["text_config"]["hidden_size"]
    big = matmul_rate(1024, 1024, 1024)
    own = matmul_rate(16 * 120, hidden, config["text_config"]["intermediate_size"])  # a training batch's MLP
    native = native_matmul_rate()
    run_info = {f.stem: json.loads(f.read_text()) for f in (reports / "runinfo").glob("*.json")}
    evaluate = json.loads((reports / "metrics" / "evaluate.json").read_text()) if (
        reports / "metrics" / "evaluate.json").exists() else {}
    mode = "pinned" if numerics.pinned() else "native"
    print(f"{root}\nCPU: {cpu_model()}; {torch.get_num_threads()} thread(s); numerics {mode}; "
          f"base model {n_params / 1e6:.2f} M parameters\n"
          f"measured fp32 matmul: {big / 1e9:.0f} GFLOP/s (1024³), {own / 1e9:.0f} GFLOP/s "
          f"(1920×{hidden}·{hidden}×{config['text_config']['intermediate_size']}, the model's own MLP shape); "
          f"{native / 1e9:.0f} GFLOP/s (1024³) with the pins off\n")
    budget = 60 * args.budget_min
    print("| stage | seconds | share of budget | share of run | tokens trained | images evaluated "
          "| achieved GFLOP/s | of 1024³ rate |")
    print("|---|---|---|---|---|---|---|---|")
    for name, seconds in stages:
        kind, _, tag = name.partition(" ")
        info = run_info.get("base") if kind == "base" else run_info.get(f"train-{tag.split('-', 1)[-1]}") \
            if kind == "train" else None
        tokens = info.get("tokens") if info else None
        train_s = info.get("pretrain_seconds", seconds) if info else None
        images = (f"{evaluate['images_evaluated']} + {evaluate['chains_generated']} chains"
                  if kind == "evaluate" and "images_evaluated" in evaluate else "")
        rate = FLOPS_PER_TOKEN[kind] * n_params * tokens / train_s if tokens else None
        print(f"| {name} | {seconds:.0f} | {100 * seconds / budget:.0f} % | {100 * seconds / total:.0f} % | "
              f"{tokens or ''} | {images} | {'' if rate is None else f'{rate / 1e9:.1f}'} | "
              f"{'' if rate is None else f'{100 * rate / big:.0f} %'} |")
    print(f"| **all stages** | **{total:.0f}** | **{100 * total / budget:.0f} %** | 100 % | | | | |")
    print("\nA train stage's achieved rate is over its whole wall time (start-up, validation, SARR "
          "generation and Challenge-1 probes included); the base stage's over its pretraining loop only.")



if __name__ == "__main__":
    main()
