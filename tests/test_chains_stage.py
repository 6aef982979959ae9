"""The chains stage as a user runs it: interrupted and resumed, and with a secret key."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chat_server import ChatServer, Reply, image_sha1
from rdmldg import chain_dataset, params
from rdmldg.chains import format_chain
from rdmldg.data.prepare import prepare
from rdmldg.io import read_jsonl
from rdmldg.params import DataParams, SyntheticParams

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-live-DO-NOT-LEAK-5f1c9e"


def _setup(project: Path, base_url: str, concurrency: int = 2) -> dict[str, str]:
    data = DataParams(synthetic=SyntheticParams(images_per_class=3, image_size=24))
    params.write_concern("data", data.model_dump(mode="json"), project / "params")
    manifest, _, _ = prepare(data, project / "data" / "prepared", project)
    chains = params.ChainsParams(teacher="openai", candidates=2, openai={
        "base_url": base_url, "model": "m", "api_key_env": "TEST_TEACHER_KEY", "concurrency": concurrency,
        "backoff_s": 0.01, "timeout_s": 10.0})
    params.write_concern("chains", chains.model_dump(mode="json"), project / "params")
    return dict(zip(manifest["sha1"], manifest["class_name"], strict=True))


def _app(truth: dict[str, str], delay: float = 0.0):
    """Correct chains, except a wrong conclusion for the even seeds of about a quarter of the images."""
    def app(payload, headers):
        sha = image_sha1(payload)
        cls = truth[sha]
        wrong = sha[0] in "0123" and payload["seed"] % 2 == 0
        answer = "moon" if cls != "moon" else "ball"
        body = format_chain(summary="S.", caption="C.", reasoning="R.", reflection="F.",
                            conclusion=answer if wrong else cls)
        return Reply(200, body, delay=delay)
    return app


# The child takes Ctrl-C as a terminal user's process does, even where the test runner was
# started with SIGINT ignored (a background job of a non-interactive shell inherits that).
BUILD = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "from pathlib import Path; from rdmldg import chain_dataset, params; "
         "root = Path(sys.argv[1]); p = params.load(root / 'params'); "
         "chain_dataset.build(p, root, root / 'data' / 'chains', progress=False)")


def _keys(server: ChatServer) -> list[tuple[str, int]]:
    return [(image_sha1(p), p["seed"]) for p, _ in server.requests]


IMAGES = 3 * 8 * 4 - 4 * int(0.2 * 24)  # every source in-split image of the _setup world


def test_interrupted_run_resumes_with_zero_repeated_teacher_calls(project, tmp_path):
    env = {**os.environ, "TEST_TEACHER_KEY": SECRET}
    # Requests after the 12th are held until the interrupt has been sent: the run cannot
    # finish first, however the machine schedules the two processes.
    with ChatServer(lambda p, h: Reply(500), hold_after=12) as server:
        truth = _setup(project, server.base_url)
        server.app = _app(truth)
        proc = subprocess.Popen([sys.executable, "-c", BUILD, str(project)], env=env, cwd=project,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if not server.holding.wait(300):
            proc.kill()
            pytest.fail(f"the build never sent a 13th request: {proc.communicate()[1][-2000:]}")
        proc.send_signal(signal.SIGINT)
        server.release.set()  # the interrupted run lets the answers in flight arrive (and caches them)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode != 0 and b"KeyboardInterrupt" in err, err[-2000:]
        assert not (project / "data" / "chains" / "chains.jsonl").exists()  # nothing half-written
        asked_before = len(server.requests)
        assert 13 <= asked_before < IMAGES  # interrupted within the first wave of candidates

        out = subprocess.run([sys.executable, "-c", BUILD, str(project)], env=env, cwd=project,
                             capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        keys = _keys(server)

    repeats = [k for k, n in collections.Counter(keys).items() if n > 1]
    assert repeats == [], f"{len(repeats)} teacher calls repeated"
    rows = read_jsonl(project / "data" / "chains" / "chains.jsonl")
    failed = read_jsonl(project / "data" / "chains" / "failed.jsonl")
    ids = [r["image_id"] for r in rows + failed]
    assert len(ids) == len(set(ids)) == IMAGES  # every source in-split image, once

    # the same chains as an uninterrupted run
    reference = tmp_path / "reference"
    shutil.copytree(project, reference, ignore=shutil.ignore_patterns("cache", "chains"))
    with ChatServer(_app(truth)) as server:
        p = params.load(reference / "params")
        p = p.model_copy(update={"chains": p.chains.model_copy(update={"openai": p.chains.openai.model_copy(
            update={"base_url": server.base_url})})})
        os.environ["TEST_TEACHER_KEY"] = SECRET
        try:
            chain_dataset.build(p, reference, reference / "data" / "chains", progress=False)
        finally:
            del os.environ["TEST_TEACHER_KEY"]
    ref_rows = read_jsonl(reference / "data" / "chains" / "chains.jsonl")
    def strip(rs):
        return [{k: v for k, v in r.items() if k != "model"} for r in rs]  # model names the port
    assert strip(rows) == strip(ref_rows)

    def summary(root):  # all but the model name, which names the port
        return {k: v for k, v in json.loads((root / "data" / "chains" / "summary.json").read_text()).items()
                if k != "model"}
    assert summary(project) == summary(reference)  # half from the cache or none: the same data


def test_the_key_is_read_from_the_environment_and_written_nowhere(project):
    shutil.copytree(REPO / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("*.ipynb"))
    with ChatServer(lambda p, h: Reply(500)) as server:
        truth = _setup(project, server.base_url)
        server.app = _app(truth)
        env = {**os.environ, "TEST_TEACHER_KEY": SECRET}
        out = subprocess.run([sys.executable, "-m", "rdmldg.nbrun", "notebooks/02_chains.py"], cwd=project,
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        assert {h["authorization"] for _, h in server.requests} == {f"Bearer {SECRET}"}
    assert SECRET not in out.stdout + out.stderr
    written = [p for p in project.rglob("*") if p.is_file()]
    assert any(p.name == "chains.html" for p in written) and any(p.suffix == ".sqlite" for p in written)
    leaks = [p for p in written if SECRET.encode() in p.read_bytes()]
    assert leaks == []
    assert "TEST_TEACHER_KEY" in (project / "params" / "chains.yaml").read_text()  # the name, not the key


def test_when_every_candidate_fails_nothing_is_written_and_the_teacher_is_named(project):
    with ChatServer(lambda p, h: Reply(200, "I cannot see the image.")) as server:
        _setup(project, server.base_url)
        os.environ["TEST_TEACHER_KEY"] = SECRET
        try:
            with pytest.raises(chain_dataset.NoChainAccepted) as exc:
                chain_dataset.build(params.load(project / "params"), project, project / "data" / "chains",
                                    progress=False)
        finally:
            del os.environ["TEST_TEACHER_KEY"]
        netloc = server.base_url.split("/")[2]
    msg = str(exc.value)
    assert msg.startswith(f"no chain was accepted: all {IMAGES} images were rejected after up to 2 candidates")
    assert f"teacher openai (m@{netloc})" in msg and "missing section" in msg and "nothing was written" in msg
    assert not (project / "data" / "chains").exists()


def test_a_local_checkpoint_teacher_that_never_answers_in_format_is_refused_by_name(project):
    """A random tiny LLaVA as `chains.teacher: hf`: every candidate is rejected, and the stage
    says so (teacher, reasons, the fix) instead of failing later on an empty table."""
    from rdmldg.models import architectures
    from rdmldg.models.checkpoints import save_checkpoint

    data = DataParams(synthetic=SyntheticParams(images_per_class=2, image_size=24))
    params.write_concern("data", data.model_dump(mode="json"), project / "params")
    prepare(data, project / "data" / "prepared", project)
    save_checkpoint(*architectures.llava(), project / "teacher")
    chains = params.ChainsParams(teacher="hf", candidates=1, hf={"checkpoint": "teacher", "max_new_tokens": 8})
    params.write_concern("chains", chains.model_dump(mode="json"), project / "params")
    with pytest.raises(chain_dataset.NoChainAccepted) as exc:
        chain_dataset.build(params.load(project / "params"), project, project / "data" / "chains", progress=False)
    msg = str(exc.value)
    assert "no chain was accepted" in msg and "teacher hf (teacher:" in msg and "Fix:" in msg
    assert not (project / "data" / "chains").exists()
