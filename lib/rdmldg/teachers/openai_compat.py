"""A teacher behind any OpenAI-compatible chat-completions endpoint (vLLM, OpenAI, ...).

The key is read from the environment variable the params *name*; it lives only in a request
header in memory, never in params, cache keys, logs or outputs. Requests run with bounded
concurrency and are retried with exponential backoff on 429, 5xx, timeouts and malformed
replies; other 4xx fail at once. An endpoint that cannot be connected to at all (connection
refused, unknown host) stops the whole run after a few attempts, in seconds, rather than
failing every request slowly. Each answer is handed over from its worker thread as it
arrives, so an interruption loses no paid-for answer.
"""

from __future__ import annotations

import base64
import io
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import urlparse

import httpx

from rdmldg.data.images import load_image
from rdmldg.params import OpenAITeacherParams
from rdmldg.teachers.base import OnResponse, Request, Response

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class TeacherConfigError(ValueError):
    pass


class TeacherUnreachable(ConnectionError):
    """The endpoint could not be connected to; nothing more is asked of it in this run."""


# Attempts to connect before the endpoint counts as down, and the longest wait between them.
CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF_CAP_S = 2.0


def image_data_url(path: Path) -> str:
    """The image as a data URL: PNG/JPEG bytes as they are, anything else re-encoded as PNG."""
    raw = Path(path).read_bytes()
    head = raw[:8]
    if head.startswith(b"\x89PNG"):
        mime = "image/png"
    elif head.startswith(b"\xff\xd8"):
        mime = "image/jpeg"
    else:
        buf = io.BytesIO()
        load_image(path).save(buf, format="PNG")
        raw, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _content(reply: dict) -> str:
    """The assistant's text from a chat-completions reply; KeyError/TypeError if malformed."""
    content = reply["choices"][0]["message"]["content"]
    if isinstance(content, list):  # some servers return content parts
        content = "".join(part.get("text", "") for part in content)
    if not isinstance(content, str):
        raise TypeError(f"content is {type(content).__name__}")
    return content


class OpenAICompatTeacher:
    name = "openai"

    def __init__(self, p: OpenAITeacherParams, api_key: str | None):
        self.p = p
        self.model = f"{p.model}@{urlparse(p.base_url).netloc}"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._url = p.base_url.rstrip("/") + "/chat/completions"
        self._unreachable = threading.Event()
        self._why_unreachable = ""

    @classmethod
    def from_params(cls, p: OpenAITeacherParams) -> OpenAICompatTeacher:
        key = os.environ.get(p.api_key_env)
        if not key and urlparse(p.base_url).hostname not in LOCAL_HOSTS:
            raise TeacherConfigError(
                f"the environment variable {p.api_key_env} (chains.openai.api_key_env) is not set. "
                f"Fix: export {p.api_key_env}=<your key> before running; keys never go in params files")
        return cls(p, key)

    def decoding(self) -> dict:
        return {"temperature": self.p.temperature, "top_p": self.p.top_p, "max_tokens": self.p.max_tokens}

    def payload(self, req: Request) -> dict:
        return {
            "model": self.p.model, "temperature": self.p.temperature, "top_p": self.p.top_p,
            "max_tokens": self.p.max_tokens, "seed": req.seed,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": req.prompt},
                {"type": "image_url", "image_url": {"url": image_data_url(req.item.path)}},
            ]}],
        }

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        return self.p.backoff_s * 2**attempt * (1 + 0.25 * random.random())

    def ask(self, client: httpx.Client, req: Request) -> Response:
        """One request with retries; never raises (failures become Response.error)."""
        try:
            body = self.payload(req)
        except OSError as exc:
            return Response(None, f"cannot read image {req.item.path}: {exc}")
        last = "no attempt"
        refused = 0
        for attempt in range(self.p.max_retries + 1):
            if self._unreachable.is_set():
                return Response(None, "not asked: the endpoint is unreachable")
            retry_after = None
            try:
                r = client.post(self._url, json=body, headers=self._headers)
                if r.status_code == 200:
                    return Response(_content(r.json()))
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                if r.status_code != 429 and r.status_code < 500:
                    return Response(None, last)  # a client error does not heal by retrying
                retry_after = r.headers.get("retry-after")
            except httpx.ConnectError as exc:
                refused += 1
                last = f"{type(exc).__name__}: {exc}"
                if refused >= min(CONNECT_ATTEMPTS, self.p.max_retries + 1):
                    self._why_unreachable = last
                    self._unreachable.set()
                    return Response(None, f"{last} (endpoint unreachable)")
                time.sleep(min(self._delay(attempt, None), CONNECT_BACKOFF_CAP_S))
                continue
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                last = f"malformed reply: {type(exc).__name__}: {exc}"
            if attempt < self.p.max_retries:
                time.sleep(self._delay(attempt, retry_after))
        return Response(None, f"{last} (after {self.p.max_retries} retries)")

    def generate(self, requests: list[Request], on_response: OnResponse) -> None:
        timeout = httpx.Timeout(self.p.timeout_s)
        with httpx.Client(timeout=timeout) as client:
            pool = ThreadPoolExecutor(max_workers=self.p.concurrency, thread_name_prefix="teacher")
            try:
                futures = [pool.submit(lambda i=i, r=r: on_response(i, self.ask(client, r)))
                           for i, r in enumerate(requests)]
                wait(futures)
                for f in futures:
                    f.result()  # surface a failing callback
                if self._unreachable.is_set():
                    raise TeacherUnreachable(
                        f"cannot connect to the teacher endpoint {self.p.base_url} ({self._why_unreachable}; "
                        f"{CONNECT_ATTEMPTS} attempts). Fix: start the server there, or correct "
                        "chains.openai.base_url in params/chains.yaml; answers received so far are cached")
            finally:
                # on an interruption, let answers in flight arrive (and be cached); drop the queue
                pool.shutdown(wait=True, cancel_futures=True)
