"""Teachers: the offline attribute teacher, an OpenAI-compatible endpoint (a real local HTTP
server) and a local transformers checkpoint (tiny, random, saved to disk)."""

from __future__ import annotations

import collections
import threading

import pandas as pd
import pytest

from chat_server import ChatServer, Reply, image_sha1
from rdmldg import chain_dataset
from rdmldg.chains import format_chain, parse_chain, q_reason, reason_kind
from rdmldg.data import image_root, world
from rdmldg.data.prepare import prepare
from rdmldg.params import DataParams, HFTeacherParams, OpenAITeacherParams, SyntheticParams
from rdmldg.teachers import Item, ResponseCache, generate_chains
from rdmldg.teachers.attribute import AttributeTeacher
from rdmldg.teachers.openai_compat import CONNECT_ATTEMPTS, OpenAICompatTeacher, TeacherConfigError, TeacherUnreachable


@pytest.fixture(scope="module")
def world_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    p = DataParams(synthetic=SyntheticParams(images_per_class=3, image_size=24))
    manifest, info, _ = prepare(p, root / "prepared", root)
    items = chain_dataset.source_items(manifest, image_root(info, root), info["domains"], ["in", "out"], ["split_t0"])
    return manifest, info, items


def _run(teacher, items, classes, tmp_path, k=3, seed=0):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        return generate_chains(teacher, items, classes, q_reason(classes), k, cache, seed, progress=False)
    finally:
        cache.close()


# ----------------------------------------------------------------------------- attribute
def test_attribute_teacher_is_deterministic_under_its_seed(world_data, tmp_path):
    _, info, items = world_data
    a = _run(AttributeTeacher(0.3), items, info["classes"], tmp_path / "a")
    b = _run(AttributeTeacher(0.3), items, info["classes"], tmp_path / "b")
    c = _run(AttributeTeacher(0.3), items, info["classes"], tmp_path / "c", seed=1)
    assert a.accepted == b.accepted and a.failed == b.failed
    assert [r["text"] for r in a.accepted] != [r["text"] for r in c.accepted]


def test_attribute_teacher_imperfection_gives_the_filter_work(world_data, tmp_path):
    _, info, items = world_data
    run = _run(AttributeTeacher(0.4), items, info["classes"], tmp_path, k=1)
    reasons = collections.Counter(reason_kind(w) for r in run.failed for w in r["rejections"])
    assert set(reasons) == {"wrong conclusion", "missing section", "truncated"}
    assert 0.25 < len(run.failed) / len(items) < 0.55  # every imperfect candidate is caught
    assert all(parse_chain(r["text"]) for r in run.accepted)


def test_attribute_chains_put_nuisances_in_the_caption_only(world_data, tmp_path):
    manifest, info, items = world_data
    run = _run(AttributeTeacher(0.0), items, info["classes"], tmp_path)
    assert not run.failed
    check = chain_dataset.nuisance_check(run.accepted, manifest, world.nuisance_words(), world.STYLE_WORDS)
    assert (check["caption_names_colour"] == 1).all() and (check["caption_names_style"] == 1).all()
    assert (check["reasoning_names_a_nuisance"] == 0).all()


def test_attribute_teacher_refuses_real_classes(tmp_path):
    item = Item("x", tmp_path / "x.png", "0" * 40, "photo", "giraffe", {})
    with pytest.raises(ValueError, match="no evidence for class 'giraffe'"):
        _run(AttributeTeacher(0.0), [item], ["giraffe"], tmp_path)


def test_cache_makes_a_rerun_free(world_data, tmp_path):
    _, info, items = world_data
    first = _run(AttributeTeacher(0.3), items, info["classes"], tmp_path)
    again = _run(AttributeTeacher(0.3), items, info["classes"], tmp_path)
    assert first.teacher_calls == first.requested > 0
    assert again.teacher_calls == 0 and again.accepted == first.accepted


# ----------------------------------------------------------------------------- openai
def _chain_for(cls: str) -> str:
    return format_chain(summary="Plan.", caption="An image.", reasoning="Evidence.", reflection="Checked.",
                        conclusion=cls)


def _truth(manifest: pd.DataFrame, items) -> dict[str, str]:
    return {it.sha1: it.class_name for it in items}


def _teacher(server: ChatServer, **kw) -> OpenAICompatTeacher:
    # A minute per request: on a loaded machine a local reply is never mistaken for a timeout.
    p = OpenAITeacherParams(base_url=server.base_url, model="teacher-x", timeout_s=kw.pop("timeout_s", 60.0),
                            backoff_s=0.01, **kw)
    return OpenAICompatTeacher(p, api_key="sk-test-123")


def test_openai_teacher_retries_then_filters(world_data, tmp_path):
    manifest, info, items = world_data
    items = items[:3]
    truth = _truth(manifest, items)
    script = collections.deque([Reply(429, headers={"retry-after": "0"}), Reply(500), Reply(raw=b"{not json")])
    first_answer_of = {}

    def app(payload, headers):
        if script:
            return script.popleft()
        sha = image_sha1(payload)
        if sha == items[0].sha1 and sha not in first_answer_of:
            first_answer_of[sha] = True
            return Reply(200, "<SUMMARY>only this</SUMMARY>")  # wrongly formatted chain
        return Reply(200, _chain_for(truth[sha]))

    with ChatServer(app) as server:
        run = _run(_teacher(server, concurrency=1, max_retries=5), items, info["classes"], tmp_path)
        headers = [h for _, h in server.requests]
    assert len(run.accepted) == 3 and not run.failed
    assert len(headers) == 3 + 4  # three failures retried, then one answer per image and the re-asked one
    rejected = {r["image_id"]: r["rejections"] for r in run.accepted}
    assert [reason_kind(w) for w in rejected[items[0].image_id]] == ["missing section"]
    assert all(h["authorization"] == "Bearer sk-test-123" for h in headers)
    payload = server.requests[-1][0]
    assert payload["model"] == "teacher-x" and payload["messages"][0]["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,")


def test_a_reply_that_never_comes_is_abandoned_and_asked_again(world_data, tmp_path):
    manifest, info, items = world_data
    truth = _truth(manifest, items[:1])
    retried = threading.Event()  # set by the next request: proof the client stopped waiting
    first = [True]

    def app(payload, headers):
        if first[0]:
            first[0] = False
            return Reply(200, "late", wait_for=retried)  # sent (into a closed socket) only after the retry
        retried.set()
        return Reply(200, _chain_for(truth[image_sha1(payload)]))

    with ChatServer(app) as server:
        run = _run(_teacher(server, concurrency=1, timeout_s=1.0, max_retries=5), items[:1], info["classes"],
                   tmp_path, k=1)
        asked = len(server.requests)
    assert len(run.accepted) == 1 and run.accepted[0]["rejections"] == [] and asked >= 2
    assert run.accepted[0]["raw"] != "late"


def test_openai_client_errors_are_not_retried(world_data, tmp_path):
    _, info, items = world_data
    with ChatServer(lambda p, h: Reply(400)) as server:
        run = _run(_teacher(server, max_retries=4), items[:2], info["classes"], tmp_path, k=1)
        assert len(server.requests) == 2
    assert [reason_kind(r["rejections"][0]) for r in run.failed] == ["request failed"] * 2
    assert "HTTP 400" in run.failed[0]["rejections"][0]


def test_openai_gives_up_after_max_retries_and_caches_nothing(world_data, tmp_path):
    _, info, items = world_data
    with ChatServer(lambda p, h: Reply(503)) as server:
        run = _run(_teacher(server, max_retries=2), items[:1], info["classes"], tmp_path, k=1)
        assert len(server.requests) == 3
    assert "after 2 retries" in run.failed[0]["rejections"][0]
    assert len(ResponseCache(tmp_path / "cache.sqlite")) == 0  # a failure is retried next run


def test_a_refused_connection_stops_the_run_after_a_few_attempts(world_data, tmp_path, monkeypatch):
    import socket

    import httpx

    _, info, items = world_data
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
        posts = []
        real_post = httpx.Client.post
        monkeypatch.setattr(httpx.Client, "post", lambda self, *a, **k: posts.append(1) or real_post(self, *a, **k))
        teacher = OpenAICompatTeacher(OpenAITeacherParams(base_url=url, concurrency=2, max_retries=5), api_key=None)
        with pytest.raises(TeacherUnreachable) as exc:
            _run(teacher, items, info["classes"], tmp_path)
    msg = str(exc.value)
    assert f"cannot connect to the teacher endpoint {url}" in msg and "chains.openai.base_url" in msg
    assert len(posts) <= CONNECT_ATTEMPTS * 2  # a few attempts per worker, not retries for every image
    assert len(ResponseCache(tmp_path / "cache.sqlite")) == 0


def test_missing_key_for_a_remote_endpoint_names_the_variable(monkeypatch):
    monkeypatch.delenv("MY_TEACHER_KEY", raising=False)
    p = OpenAITeacherParams(base_url="https://api.example.com/v1", api_key_env="MY_TEACHER_KEY")
    with pytest.raises(TeacherConfigError, match="MY_TEACHER_KEY"):
        OpenAICompatTeacher.from_params(p)


# ----------------------------------------------------------------------------- hf
def test_hf_teacher_on_a_tiny_checkpoint_from_disk(world_data, tmp_path, monkeypatch):
    from rdmldg.models.embedded import LlavaSpec, build_model, build_processor, save, train_tokenizer
    from rdmldg.teachers.hf import HFTeacher

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, info, items = world_data
    spec = LlavaSpec(image_size=24, patch_size=8)
    tok = train_tokenizer([q_reason(info["classes"]), _chain_for("ball")] * 4, vocab_size=300)
    save(build_model(spec, tok), build_processor(tok, spec), tmp_path / "ckpt")
    teacher = HFTeacher(HFTeacherParams(checkpoint=str(tmp_path / "ckpt"), batch_size=3, max_new_tokens=10), tmp_path)
    run = _run(teacher, items[:4], info["classes"], tmp_path, k=2)
    assert run.requested == 8 and run.teacher_calls == 8
    assert all(len(r["rejections"]) == r["candidates_tried"] for r in run.failed)  # random weights: all rejected
    again = _run(teacher, items[:4], info["classes"], tmp_path, k=2)
    assert again.teacher_calls == 0 and again.failed == run.failed


@pytest.mark.parametrize("arch", ["internvl", "qwen2_vl"])
def test_hf_teacher_loads_processors_that_need_no_torchvision(arch, world_data, tmp_path, monkeypatch):
    """InternVL and Qwen2-VL processors carry a video processor that transformers cannot build
    without torchvision; the teacher goes through the same loader as the base model."""
    from rdmldg.models import architectures
    from rdmldg.models.checkpoints import save_checkpoint
    from rdmldg.teachers.hf import HFTeacher

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, info, items = world_data
    save_checkpoint(*architectures.BUILDERS[arch](), tmp_path / "ckpt")
    teacher = HFTeacher(HFTeacherParams(checkpoint="ckpt", batch_size=2, max_new_tokens=6), tmp_path)
    run = _run(teacher, items[:2], info["classes"], tmp_path, k=1)
    assert run.teacher_calls == 2 and len(run.accepted) + len(run.failed) == 2


def test_hf_teacher_names_the_parameter_when_the_checkpoint_is_missing(tmp_path):
    from rdmldg.models.checkpoints import CheckpointError
    from rdmldg.teachers.hf import HFTeacher

    with pytest.raises(CheckpointError, match=r"chains\.hf\.checkpoint"):
        HFTeacher(HFTeacherParams(checkpoint="nowhere"), tmp_path)
