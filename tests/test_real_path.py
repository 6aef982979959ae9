"""The real study's path, end to end, as a researcher takes it: a PACS folder in DomainBed's
layout (JPEGs of mixed sizes), local checkpoints of the supported architectures, an
OpenAI-compatible teacher, `paper-pacs` with the `dryrun` overlay, and `dvc repro`.

The checkpoints are tiny and random (written by the project's own builders and
`save_checkpoint`, loaded back by path), the teacher a loopback stand-in that answers with
correct chains; everything else is the code a GPU run uses. InternVL — the paper's family,
tiling each image by its aspect ratio — goes through every stage to the front page; Qwen2-VL
then replaces it and goes through the model's stages again (one fold throughout, to fit the
test suite's budget)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from chat_server import ChatServer, Reply, image_sha1
from conftest import copy_repo, run_ok
from rdmldg.chains import format_chain, q_choice_list, q_cls, q_reason

pytestmark = pytest.mark.e2e

DOMAINS = ["art_painting", "cartoon", "photo", "sketch"]
CLASSES = ["dog", "elephant", "giraffe", "guitar", "horse", "house", "person"]
SIZES = [(40, 40), (96, 40), (40, 88), (64, 64), (227, 227)]  # wide, tall and square: InternVL tiles differ
CHECKPOINTS = {"internvl": "models/checkpoints/InternVL3-8B-hf",  # where paper-pacs looks
               "qwen2_vl": "models/checkpoints/qwen2-vl", "llava": "models/checkpoints/llava"}
KEY_VAR = "REAL_PATH_TEACHER_KEY"


def _write_pacs(root: Path) -> dict[str, str]:
    """Five JPEGs per domain × class (the dry run keeps four); returns sha1 → class."""
    truth = {}
    for d, domain in enumerate(DOMAINS):
        for c, cls in enumerate(CLASSES):
            folder = root / "PACS" / domain / cls
            folder.mkdir(parents=True)
            for k, size in enumerate(SIZES):
                path = folder / f"pic_{k:03d}.jpg"
                Image.new("RGB", size, (30 * c + 20, 60 * d + 10, 40 * k)).save(path, quality=90)
                truth[hashlib.sha1(path.read_bytes()).hexdigest()] = cls
    return truth


def _write_checkpoints(dest: Path) -> None:
    from rdmldg.models import architectures
    from rdmldg.models.checkpoints import save_checkpoint

    texts = [q_cls(CLASSES), q_reason(CLASSES), q_choice_list(CLASSES)] + [
        format_chain(summary="Look.", caption="A picture.", reasoning="Its shape.", reflection="Sure.", conclusion=c)
        + f" Answer Choice: {c}" for c in CLASSES]
    for arch, rel in CHECKPOINTS.items():
        build = architectures.BUILDERS[arch]
        kwargs = {"max_tiles": 4} if arch == "internvl" else {}
        save_checkpoint(*build(texts=texts * 2, **kwargs), dest / rel)


def _teacher(truth: dict[str, str]):
    def app(payload, headers):
        cls = truth[image_sha1(payload)]
        return Reply(200, format_chain(summary="The object.", caption="A picture of it.", reasoning="Its outline.",
                                       reflection="Consistent.", conclusion=cls))
    return app


def _set(dest: Path, concern: str, old: str, new: str) -> None:
    path = dest / "params" / f"{concern}.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} not in params/{concern}.yaml"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    dest = tmp_path_factory.mktemp("real") / "study"
    env = copy_repo(dest)
    env[KEY_VAR] = "sk-test-not-a-secret"
    truth = _write_pacs(dest / "data" / "domainbed")
    _write_checkpoints(dest)
    run_ok(dest, sys.executable, "-m", "rdmldg.params", "apply", "paper-pacs,dryrun", env=env)
    with ChatServer(_teacher(truth)) as server:
        _set(dest, "chains", "base_url: http://127.0.0.1:8000/v1", f"base_url: {server.base_url}")
        _set(dest, "chains", "api_key_env: OPENAI_API_KEY", f"api_key_env: {KEY_VAR}")
        # the test suite's budget: one fold, and chains of at most 96 tokens (a random tiny
        # model never ends a chain early, so every generation runs to the budget)
        _set(dest, "study", "heldout_domains: all", "heldout_domains: [sketch]")
        _set(dest, "eval", "chain_max_new_tokens: 512", "chain_max_new_tokens: 96")
        check = run_ok(dest, sys.executable, "-m", "rdmldg.params", "check", env=env)
        log = run_ok(dest, sys.executable, "-m", "dvc", "repro", env=env, timeout=1200)
        asked = len(server.requests)
    return dest, env, check + log, asked


def _front_page_is_current(dest: Path) -> str:
    index = (dest / "reports" / "index.html").read_text()
    assert "Out of date" not in index and "Traceback" not in index
    return index


def test_internvl_goes_through_every_stage_to_the_front_page(real):
    dest, _, log, asked = real
    assert "global batch 2 = 2 per device x 1 accumulation step(s) x 1 process(es) (the paper's is 128)" in log
    info = json.loads((dest / "data" / "prepared" / "dataset.json").read_text())
    assert info["dataset"] == "PACS" and info["images_per_class"] == 4 and info["n_images"] == 4 * 7 * 4
    assert asked > 0 and (dest / "data" / "chains" / "chains.jsonl").exists()
    base = json.loads((dest / "reports" / "metrics" / "base.json").read_text())
    assert base == {"source": "checkpoint", "model_type": "internvl"}
    assert not (dest / "models" / "base" / "model.safetensors").exists()  # recorded by path, not copied
    for method in ("label", "reasoning", "mtct", "sarr", "rdmldg"):
        report = (dest / "reports" / "train" / f"method-{method}.html").read_text()
        assert "Traceback" not in report and "each image through the vision tower once" in report, method
    for stage in ("zeroshot", "evaluate", "ood_analysis"):
        assert "Traceback" not in (dest / "reports" / f"{stage}.html").read_text(), stage
    zeroshot = json.loads((dest / "reports" / "metrics" / "zeroshot.json").read_text())
    assert "probe_accuracy" in json.dumps(zeroshot)
    index = _front_page_is_current(dest)
    assert "PACS" in index and "The loaded checkpoint" in index and "paper-pacs,dryrun" in index
    assert "miniature" not in index and "pretraining curves" not in index


# Qwen2-VL: its own probe path (a flat patch sequence with its grid) and per-sequence image
# encoding. LLaVA is left to the smoke pipeline of test_e2e.py: the default world's base *is*
# a LLaVA checkpoint, saved and loaded by path through the same loader (its probe, teacher and
# shared encoding are unit-tested on a checkpoint from disk too), which keeps `make test` short.
SECONDARY = {"qwen2_vl": (["rdmldg"], ["base", "zeroshot", "train@rdmldg"])}


@pytest.mark.parametrize("arch", sorted(SECONDARY))
def test_other_architectures_through_train_evaluate_and_analysis(real, arch):
    dest, env, _, _ = real
    methods, stages = SECONDARY[arch]
    edits = [("model", f"checkpoint: {CHECKPOINTS['internvl']}", f"checkpoint: {CHECKPOINTS[arch]}"),
             ("study", "methods: [label, reasoning, mtct, sarr, rdmldg]", f"methods: [{', '.join(methods)}]")]
    for concern, old, new in edits:
        _set(dest, concern, old, new)
    try:  # these stages alone (-s), in pipeline order: the data and chains stay InternVL's run's
        log = run_ok(dest, sys.executable, "-m", "dvc", "repro", "-s", *stages, "evaluate", "analysis", "report",
                     env=env, timeout=1200)
    finally:
        for concern, old, new in edits:
            _set(dest, concern, new, old)
    for stage in [*stages, "evaluate", "analysis"]:
        assert f"Running stage '{stage}'" in log, stage
    assert json.loads((dest / "reports" / "metrics" / "base.json").read_text())["model_type"] == arch
    for method in methods:
        report = (dest / "reports" / "train" / f"method-{method}.html").read_text()
        assert "Traceback" not in report
        assert (dest / "models" / "runs" / method / "trial0" / "sketch" / "adapter"
                / "adapter_model.safetensors").exists()
    if arch == "qwen2_vl":
        assert "needs its image grid per sequence" in report  # encoded once per sequence, and said so
        assert json.loads((dest / "reports" / "metrics" / "zeroshot.json").read_text())["probe_accuracy"]
    analysis = json.loads((dest / "reports" / "metrics" / "analysis.json").read_text())
    assert (analysis["domains"] == ["sketch"] and analysis["dataset"] == "PACS"
            and analysis["methods"] == ["zeroshot", *methods])
    _front_page_is_current(dest)
