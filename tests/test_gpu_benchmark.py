"""benchmarks/gpu.py runs end to end at tiny sizes on the CPU (the GPU numbers come from a GPU)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _gpu_benchmark():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", REPO / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_measures_every_benchmark(tmp_path):
    bench = _gpu_benchmark()
    rows = bench.main(["--tiny", "--out", str(tmp_path / "gpu.jsonl")])
    kinds = [r["bench"] for r in rows]
    assert kinds == ["machine", "mtct", "generate", "generate", "score65"]
    mtct = rows[1]
    assert mtct["tokens_per_s"] > 0 and mtct["sequences"] == 2 * mtct["batch_images"] and mtct["mfu"] is None
    assert [r["batch"] for r in rows if r["bench"] == "generate"] == [1, 2]
    assert rows[-1]["classes"] == 65 and rows[-1]["images_per_s"] > 0
    assert len((tmp_path / "gpu.jsonl").read_text().splitlines()) == len(rows)


def test_real_sizes_are_internvl3_shapes():
    bench = _gpu_benchmark()
    assert bench.SIZES["8b"].text_hidden == 3584 and bench.SIZES["2b"].text_hidden == 1536
    assert bench.SIZES["8b"].image_size // bench.SIZES["8b"].patch_size == 32  # 1024 patches → 256 tokens per tile
    assert len(bench.OFFICEHOME) == 65


def test_without_a_gpu_the_real_run_says_so(monkeypatch):
    import torch

    bench = _gpu_benchmark()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "2b"])
