"""The notebook runner: papermill for real, HTML always, papermill's exit status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rdmldg.nbrun import output_paths, parse_coordinates, stage_name

NOTEBOOK = '''# %% [markdown]
# # A tiny stage

# %% tags=["parameters"]
heldout = "none"
seed = 0

# %%
import matplotlib.pyplot as plt
plt.plot([0, seed]); plt.show()
print(f"held out {heldout}, seed {seed} + 1 = {seed + 1}")

# %%
if FAIL:
    raise RuntimeError("this cell fails on purpose")
'''

EXTERNAL = re.compile(r'(?:src|href)\s*=\s*["\'](?:https?:)?//|import\(\s*["\']https?:|url\(\s*["\']?https?:')


def _run(project: Path, fail: bool, *coords: str) -> subprocess.CompletedProcess:
    nb = project / "notebooks" / "07_tiny.py"
    nb.parent.mkdir(exist_ok=True)
    nb.write_text(NOTEBOOK.replace("FAIL", str(fail)))
    return subprocess.run([sys.executable, "-m", "rdmldg.nbrun", str(nb), *coords], cwd=project,
                          capture_output=True, text=True, timeout=300)


def test_success_writes_executed_notebook_and_offline_html(project):
    out = _run(project, False, "heldout=photo", "seed=3")
    assert out.returncode == 0, out.stderr[-2000:]
    html = project / "reports" / "tiny" / "heldout-photo_seed-3.html"
    ipynb = project / "reports" / "executed" / "tiny" / "heldout-photo_seed-3.ipynb"
    text = html.read_text()
    assert "held out photo, seed 3 + 1 = 4" in text and "data:image/png;base64" in text
    assert ipynb.exists()
    assert not EXTERNAL.search(text), EXTERNAL.search(text)
    assert "Executing" in out.stderr  # progress is visible in the terminal


def test_failure_still_renders_the_traceback_and_exits_1(project):
    out = _run(project, True)
    assert out.returncode == 1
    html = (project / "reports" / "tiny.html").read_text()
    assert "this cell fails on purpose" in html and "RuntimeError" in html


def test_bad_params_fail_before_any_kernel(project):
    path = project / "params" / "train.yaml"
    path.write_text(path.read_text().replace("lr: 0.0005", "lr: -1"))
    out = _run(project, False)
    assert out.returncode == 2 and "train.lr" in out.stderr and "params/train.yaml" in out.stderr
    assert not (project / "reports").exists()


def test_names_and_coordinates():
    assert stage_name(Path("notebooks/05_train.py")) == "train"
    assert parse_coordinates(["heldout=photo", "seed=2"]) == {"heldout": "photo", "seed": 2}
    html, ipynb = output_paths(Path("05_train.py"), {"heldout": "photo"}, Path("r"))
    assert html == Path("r/train/heldout-photo.html") and ipynb == Path("r/executed/train/heldout-photo.ipynb")
