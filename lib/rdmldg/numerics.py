"""Numerics that do not depend on the CPU: the same bytes on every x86-64 machine with AVX2.

torch's CPU wheel, NumPy and OpenBLAS each choose their code path by the CPU they find, and
different vector widths sum in different orders, so the same study gives other numbers on
another machine. Each library has a knob that fixes its path; pinned, they all run the code an
AVX2 machine runs:

* ATen's own vector kernels: ``ATEN_CPU_CAPABILITY=avx2``.
* MKL (torch's BLAS): ``MKL_CBWR=COMPATIBLE``. MKL honours its AVX2 branch only on Intel CPUs
  (elsewhere it falls back to automatic dispatch, measured: on an AMD EPYC every branch but
  COMPATIBLE gives the automatic result), so only COMPATIBLE is the same on Intel and AMD.
* oneDNN (torch's convolutions): turned off in-process (:func:`configure_torch`), so
  convolutions take ATen's own path; its blocking would otherwise follow the cache sizes.
  ``ONEDNN_MAX_CPU_ISA=AVX2`` covers any process that does not call it.
* NumPy's dispatched loops: ``NPY_DISABLE_CPU_FEATURES`` switches off the AVX-512 targets.
* OpenBLAS (NumPy, SciPy, scikit-learn): ``OPENBLAS_CORETYPE=Haswell``.
* Threads: parallel reductions split work by thread count, so the count is fixed too
  (``RDMLDG_THREADS``, default 2).

``RDMLDG_NUMERICS=native`` leaves every library to choose for itself (faster on wide CPUs,
not comparable across machines). The values must be in the environment before the libraries
load, which is why the notebook runner applies them before it starts a kernel.
"""

from __future__ import annotations

import os
import sys

MODE_VAR = "RDMLDG_NUMERICS"
THREADS_VAR = "RDMLDG_THREADS"
DEFAULT_THREADS = 2
_NUMPY_AVX512_TARGETS = "X86_V4 AVX512_ICL AVX512_SPR"


def pinned() -> bool:
    mode = os.environ.get(MODE_VAR, "pinned")
    if mode not in ("pinned", "native"):
        raise ValueError(f"{MODE_VAR}={mode!r}: expected 'pinned' (the default) or 'native'")
    return mode == "pinned"


def threads() -> int:
    raw = os.environ.get(THREADS_VAR, str(DEFAULT_THREADS))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_VAR}={raw!r}: expected a positive whole number of threads")
    return int(raw)


def pins() -> dict[str, str]:
    """The environment variables that fix every library's code path (empty when native)."""
    if not pinned():
        return {}
    n = str(threads())
    return {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "COMPATIBLE",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512_TARGETS,
        "OPENBLAS_CORETYPE": "Haswell",
        "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
        "OMP_DYNAMIC": "FALSE", "MKL_DYNAMIC": "FALSE",
    }


def apply(environ: dict | None = None) -> dict[str, str]:
    """Write the pins into `environ` (default: this process's environment, for its children)."""
    environ = os.environ if environ is None else environ
    values = pins()
    environ.update(values)
    return values


def configure_torch() -> None:
    """In-process part: pinned, convolutions leave oneDNN and torch uses the pinned thread
    count; native, torch uses every core. Idempotent; does nothing until torch is loaded."""
    if "torch" not in sys.modules:
        return
    import torch

    if pinned():
        torch.backends.mkldnn.enabled = False
        torch.set_num_threads(threads())
    else:
        torch.set_num_threads(os.cpu_count() or 1)


def describe() -> dict[str, str]:
    """What governs this process's numerics, for provenance tables."""
    out = {"numerics": "pinned" if pinned() else "native"}
    for key in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE",
                "OMP_NUM_THREADS"):
        out[f"env_{key}"] = os.environ.get(key, "(unset)")
    if "torch" in sys.modules:
        import torch

        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["torch_threads"] = str(torch.get_num_threads())
        out["torch_onednn"] = "on" if torch.backends.mkldnn.enabled else "off"
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m rdmldg.numerics` prints the pins; `... run CMD ARGS` runs CMD under them."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"] and len(argv) > 1:
        apply()
        os.execvp(argv[1], argv[1:])
    if argv:
        print("usage: python -m rdmldg.numerics [run COMMAND [ARGS...]]", file=sys.stderr)
        return 2
    values = pins()
    print("\n".join(f"{k}={v}" for k, v in values.items()) or f"{MODE_VAR}=native: nothing pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
