"""Same study, different numerics: do the results keep their bytes, and what do the pins cost?

    python benchmarks/determinism.py [--profile smoke] [--config NAME ...] [--keep DIR]

Each configuration runs the whole pipeline (`dvc repro`) in a fresh copy of this checkout
with its own environment variables, then hashes every result file: the metrics, the DomainBed
records and the per-image predictions (timings and HTML reports are not results). Printed:
wall time per configuration and per stage, a hash per result group, and which files differ
from the first configuration.

Configurations (a machine is emulated by the same knobs the pins set):

    pinned            the default: rdmldg.numerics pins every library
    pinned-vs-avx512  pinned, started with the environment an AVX-512 machine would leave
                      (ATen forced to AVX-512, MKL automatic): the pins must win
    pinned-vs-generic pinned, started with ATen forced to its plain (no vector) kernels
    native            RDMLDG_NUMERICS=native: every library picks its own path on this CPU
    native-aten-avx2  native, but ATen's kernels as on an AVX2-only CPU
    native-avx2       native with every library on its AVX2 path except MKL (whose AVX2
                      branch only Intel honours): an AVX2 machine as far as can be emulated
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rdmldg.provenance import cpu_model

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "pinned": {},
    "pinned-vs-avx512": {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AUTO"},
    "pinned-vs-generic": {"ATEN_CPU_CAPABILITY": "default"},
    "native": {"RDMLDG_NUMERICS": "native"},
    "native-aten-avx2": {"RDMLDG_NUMERICS": "native", "ATEN_CPU_CAPABILITY": "avx2"},
    "native-avx2": {"RDMLDG_NUMERICS": "native", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell"},
}
RESULTS = {"metrics": "reports/metrics", "domainbed": "reports/domainbed", "predictions": "reports/evaluation"}
STAGE_TIME = re.compile(r"(\d\d_\w+)\.py (?:ran|failed) in ([\d.]+) s")


def copy_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for rel in files:
        if rel.startswith(("data/", "models/", "reports/")) and not rel.endswith(".gitignore"):
            continue
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    (dest / "dvc.lock").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)


BOOKKEEPING = {"done.json"}  # reuse markers: a fingerprint of the code, not a result


def result_hashes(root: Path) -> dict[str, dict[str, str]]:
    """{group: {file: sha256}} of every result file (ipynb, html, timings and reuse markers excluded)."""
    out = {}
    for group, folder in RESULTS.items():
        files = sorted(p for p in (root / folder).rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".csv")
                       and p.name not in BOOKKEEPING)
        out[group] = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    return out


def group_hash(files: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{k}{v}" for k, v in sorted(files.items())).encode()).hexdigest()[:12]


def run(config: str, profile: str, keep: Path | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"determinism-{config}-", dir=keep))
    copy_checkout(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RDMLDG_", "ATEN_", "MKL_", "ONEDNN_",
                                                                      "NPY_", "OPENBLAS_", "OMP_"))}
    env.update(CONFIGS[config])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(work / "lib")
    subprocess.run([sys.executable, "-m", "rdmldg.params", "apply", profile], cwd=work, env=env, check=True,
                   capture_output=True)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{config}: dvc repro failed in {work}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    stages: dict[str, float] = {}
    for name, seconds in STAGE_TIME.findall(out.stdout + out.stderr):
        stages[name[3:]] = stages.get(name[3:], 0.0) + float(seconds)
    result = {"config": config, "wall_s": wall, "stages": stages, "hashes": result_hashes(work), "dir": work}
    (work / "determinism-run.log").write_text(out.stdout + out.stderr)
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS), help="repeatable; default: all")
    parser.add_argument("--keep", type=Path, help="leave each run's copy under this folder")
    args = parser.parse_args()
    configs = args.config or list(CONFIGS)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    results = []
    for config in configs:
        print(f"running {config} ({args.profile} profile) ...", flush=True)
        results.append(run(config, args.profile, args.keep))
        r = results[-1]
        print(f"  {r['wall_s']:.0f} s; " + ", ".join(f"{g} {group_hash(h)}" for g, h in r["hashes"].items()),
              flush=True)
    first = results[0]
    stages = list(first["stages"])
    print(f"\nprofile {args.profile}; CPU: {cpu_model()}; {os.cpu_count()} cores\n")
    print("| config | wall s | vs first | " + " | ".join(stages) + " | " + " | ".join(RESULTS)
          + " | files differing from first |")
    print("|---" * (4 + len(stages) + len(RESULTS)) + "|")
    for r in results:
        differ = sorted(f for g in RESULTS for f, h in r["hashes"][g].items() if first["hashes"][g].get(f) != h)
        shown = ("none" if not differ
                 else f"{len(differ)}: " + ", ".join(differ[:4]) + (" ..." if len(differ) > 4 else ""))
        print(f"| {r['config']} | {r['wall_s']:.0f} | {r['wall_s'] / first['wall_s']:.2f}x | "
              + " | ".join(f"{r['stages'].get(s, 0):.0f}" for s in stages) + " | "
              + " | ".join(group_hash(r["hashes"][g]) for g in RESULTS) + f" | {shown} |")



if __name__ == "__main__":
    main()
