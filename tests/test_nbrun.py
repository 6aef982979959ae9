"""The notebook runner: papermill for real, HTML always, papermill's exit status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rdmldg.nbrun import output_paths, parse_coordinates, stage_name

REPO = Path(__file__).resolve().parents[1]

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


def test_a_failed_stage_marks_the_front_page_out_of_date(project):
    from rdmldg.reports import build_index

    build_index(project)  # a front page from an earlier, good run
    before = (project / "reports" / "index.html").read_text()
    assert "Out of date" not in before
    for coords in (("heldout=photo",), ("heldout=sketch",)):
        assert _run(project, True, *coords).returncode == 1
    page = (project / "reports" / "index.html").read_text()
    assert page.count("Out of date") == 1  # one banner: the latest failure's
    assert "Stage <code>tiny@sketch</code> failed" in page and "href='tiny/heldout-sketch.html'" in page
    assert page.replace(re.search(r"\n<div id='stale'>.*?</div>", page, re.DOTALL).group(0), "") == before
    build_index(project)  # the next good run's report stage writes a clean page
    assert "Out of date" not in (project / "reports" / "index.html").read_text()


def test_bad_params_fail_before_any_kernel(project):
    path = project / "params" / "train.yaml"
    path.write_text(path.read_text().replace("lr: 0.004", "lr: -1"))
    out = _run(project, False)
    assert out.returncode == 2 and "train.lr" in out.stderr and "params/train.yaml" in out.stderr
    assert not (project / "reports").exists()


def test_names_and_coordinates():
    assert stage_name(Path("notebooks/05_train.py")) == "train"
    assert parse_coordinates(["heldout=photo", "seed=2"]) == {"heldout": "photo", "seed": 2}
    html, ipynb = output_paths(Path("05_train.py"), {"heldout": "photo"}, Path("r"))
    assert html == Path("r/train/heldout-photo.html") and ipynb == Path("r/executed/train/heldout-photo.ipynb")


# ----------------------------------------------------------------------------- how a stage runs
PROBE = '''# %%
import json, os
import torch
from rdmldg import numerics
numerics.configure_torch()
print("PROBE", json.dumps({"aten": torch.backends.cpu.get_cpu_capability(), "mkl": os.environ.get("MKL_CBWR"),
                           "threads": torch.get_num_threads(), "onednn": torch.backends.mkldnn.enabled}))
'''


def _probe(project: Path, prefix: list[str] = (), **env) -> tuple[subprocess.CompletedProcess, dict]:
    import json
    import os

    nb = project / "notebooks" / "08_probe.py"
    nb.parent.mkdir(exist_ok=True)
    nb.write_text(PROBE)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("RDMLDG_", "ATEN_", "MKL_"))}
    out = subprocess.run([*prefix, sys.executable, "-m", "rdmldg.nbrun", str(nb)], cwd=project,
                         env={**full, **env}, capture_output=True, text=True, timeout=300)
    html = (project / "reports" / "probe.html").read_text() if out.returncode == 0 else ""
    found = re.search(r"PROBE (\{.*?\})", html.replace("&quot;", '"'))
    return out, json.loads(found.group(1)) if found else {}


def test_the_kernel_runs_with_the_numerics_pinned_whatever_the_environment_says(project):
    out, seen = _probe(project, ATEN_CPU_CAPABILITY="default", MKL_CBWR="AUTO")
    assert out.returncode == 0, out.stderr[-2000:]
    assert seen == {"aten": "AVX2", "mkl": "COMPATIBLE", "threads": 2, "onednn": False}
    out, seen = _probe(project, RDMLDG_NUMERICS="native", ATEN_CPU_CAPABILITY="default")
    assert out.returncode == 0, out.stderr[-2000:]
    assert seen["aten"] == "DEFAULT" and seen["mkl"] is None and seen["onednn"] is True


def _unshare_works() -> bool:
    import shutil

    return (bool(shutil.which("unshare"))
            and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0)


@pytest.mark.skipif(not _unshare_works(), reason="unshare -n (a network namespace) is not permitted here")
def test_a_stage_runs_with_no_network_interface_at_all(project):
    down = subprocess.run(["unshare", "-n", sys.executable, "-c",
                           "import socket; s = socket.socket(); s.connect(('127.0.0.1', 9))"], capture_output=True)
    assert down.returncode != 0  # the namespace has not even loopback
    out, seen = _probe(project, ["unshare", "-n"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert seen["aten"] == "AVX2"


def test_the_stage_command_finds_the_project_python_or_names_the_fix(tmp_path):
    import os
    import shutil

    bare = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "RDMLDG_PYTHON")}
    bare["PATH"] = "/usr/bin:/bin"  # as `.venv/bin/dvc repro` leaves it: no environment on PATH
    launcher = REPO / "lib" / "project-python"
    out = subprocess.run([launcher, "-c", "import rdmldg, sys; print(sys.prefix)"], env=bare,
                         capture_output=True, text=True)
    if (REPO / ".venv" / "bin" / "python").exists():
        assert out.returncode == 0 and out.stdout.strip() == str(REPO / ".venv"), out.stderr
    (tmp_path / "lib").mkdir()
    elsewhere = shutil.copy(launcher, tmp_path / "lib" / "project-python")  # a checkout with no .venv
    out = subprocess.run([elsewhere, "-c", "pass"], env=bare, capture_output=True, text=True)
    assert out.returncode == 2 and "Fix: run 'make env'" in out.stderr and "RDMLDG_PYTHON" in out.stderr
    out = subprocess.run([elsewhere, "-c", "import rdmldg"], env={**bare, "RDMLDG_PYTHON": sys.executable},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


WAIT = '''# %%
import json, os, time
from pathlib import Path
Path("started.json").write_text(json.dumps({"kernel": os.getpid(), "runner": os.getppid()}))
for _ in range(3000):  # the test kills the process that started the stage long before this ends
    time.sleep(0.2)
'''


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # exited (a zombie waits only for its reaper)


def _wait_for(condition, cap_s: float = 300) -> bool:
    import time

    end = time.monotonic() + cap_s  # a cap against hanging, not a timing assumption
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_killing_dvc_stops_the_stage_and_its_kernel(project):
    import json
    import os
    import signal

    (project / "notebooks").mkdir(exist_ok=True)
    (project / "notebooks" / "09_wait.py").write_text(WAIT)
    (project / "dvc.yaml").write_text(
        f"stages:\n  wait:\n    cmd: {sys.executable} -m rdmldg.nbrun notebooks/09_wait.py\n")
    env = {**os.environ, "SHELL": "/bin/sh"}  # dash forks for `-c`: the stage's parent is a shell, not dvc
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=project, env=env, check=True)
    dvc = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=project, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = project / "started.json"
    try:
        assert _wait_for(started.exists), "the stage never started"
        pids = json.loads(started.read_text())
        dvc.send_signal(signal.SIGKILL)
        dvc.wait()
        assert _wait_for(lambda: _gone(pids["runner"])), "the notebook runner outlived dvc"
        assert _wait_for(lambda: _gone(pids["kernel"])), "the kernel outlived its runner"
    finally:
        dvc.kill()
        if started.exists():
            for pid in json.loads(started.read_text()).values():
                if not _gone(pid):
                    os.kill(pid, signal.SIGKILL)
