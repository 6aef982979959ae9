"""Multi-process training: the train stage's folds under `accelerate launch`.

With `train.compute.num_processes` above 1, the train notebook first runs

    accelerate launch --multi_gpu --num_processes N [--mixed_precision bf16] \
        -m rdmldg.training.launch --method M --params params

which trains every fold of the method with N data-parallel replicas (one per GPU; gloo
processes on a CPU). The notebook then walks the same folds in its own process, finds every
stage finished (same fingerprints) and only reads the results, so the report is written
exactly as after a single-process run.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

from rdmldg.params import Params


def free_port() -> int:
    """A TCP port nobody listens on now, for the launch's rendezvous: accelerate's fixed default
    (29500) collides with any other distributed job on the machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(p: Params, method: str, params_dir: Path, inputs: str) -> list[str]:
    """The `accelerate launch` command line for one method's folds; `inputs` is the launching
    process's `rdmldg.fingerprints.inputs_digest`."""
    c = p.train.compute
    precision = c.mixed_precision
    if precision == "auto":
        import torch

        precision = "bf16" if torch.cuda.is_available() else "no"
    # --multi_gpu selects accelerate's multi-process launcher; without CUDA it runs DDP over gloo
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
            str(c.num_processes), "--num_machines", "1", "--main_process_port", str(free_port()),
            "--mixed_precision", precision, "--dynamo_backend", "no",
            "-m", "rdmldg.training.launch", "--method", method, "--params", str(params_dir), "--inputs", inputs]


def train_folds(root: Path, p: Params, method: str, params_dir: Path, inputs: str) -> None:
    """Run the launch (its output streams into the stage's log); raise if any process failed."""
    cmd = command(p, method, params_dir, inputs)
    print(f"{p.train.global_batch_note()}; launching: {' '.join(cmd[1:])}", flush=True)
    env = {**os.environ, "RDMLDG_ROOT": str(root)}
    # CPU processes share the cores rather than each taking the pinned count (rdmldg.numerics)
    env.setdefault("RDMLDG_THREADS", str(max(1, (os.cpu_count() or 1) // p.train.compute.num_processes)))
    with subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:  # into the notebook's output, so the stage report keeps the launch's log
            print(line, end="", flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"accelerate launch of {method} exited with status {proc.returncode} (its output is "
                           "above). Fix the cause, or set train.compute.num_processes: 1 in params/train.yaml to "
                           "train in this process")


def main(argv: list[str] | None = None) -> int:
    """What each process of the launch runs: every fold of one method."""
    from rdmldg import methods, numerics, paths
    from rdmldg.data import image_root, read_prepared
    from rdmldg.data.chain_records import teacher_chains
    from rdmldg.models.base import load_base
    from rdmldg.params import load
    from rdmldg.training import run as train_run
    from rdmldg.training.trainer import process_state

    ap = argparse.ArgumentParser(prog="python -m rdmldg.training.launch", description=main.__doc__)
    ap.add_argument("--method", required=True)
    ap.add_argument("--params", type=Path, default=Path("params"))
    # the launching process's digest: its numerics pins hold its own thread count, not the share
    # each process here runs with, and the stages must carry the fingerprints it reads them back by
    ap.add_argument("--inputs", required=True, help="rdmldg.fingerprints.inputs_digest of the launching process")
    args = ap.parse_args(argv)
    numerics.configure_torch()
    state = process_state()
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if state.num_processes != launched:  # each process would train alone and all would write the same files
        raise RuntimeError(f"launched as {launched} processes, but this one joined a group of {state.num_processes}")
    print(f"process {state.process_index} of {state.num_processes} ({state.distributed_type.value}) ready",
          flush=True)
    root = paths.find_root()
    p, method = load(root / args.params), methods.get(args.method)
    manifest, info = read_prepared(root / "data" / "prepared")
    chains = teacher_chains(root / "data" / "chains")
    plans = train_run.fold_plans(p, method, manifest, image_root(info, root), chains, root / "models" / "runs",
                                 args.inputs)
    for plan in plans:
        base, processor = load_base(root, p.model)
        train_run.run(p, method, base, processor, plan, info["classes"], progress=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
