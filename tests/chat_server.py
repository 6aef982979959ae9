"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions protocol, for tests.

`app(payload, headers) -> Reply` decides each answer (the request's path is the pseudo-header
`:path`); the server records every request.
Nothing here waits on a clock to order events: a reply can wait for an event
(`Reply.wait_for`), and `hold_after=N` holds every request after the first N until the test
sets `release` (`holding` is set as soon as one is held), so a test can act while the client
is guaranteed to be mid-run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    content: str | None = None      # the assistant's text (status 200)
    raw: bytes | None = None        # a body sent as is (malformed replies)
    delay: float = 0.0
    headers: dict = field(default_factory=dict)
    wait_for: threading.Event | None = None  # sent only once this is set


# A cap on every wait, so that a broken test fails instead of hanging CI.
WAIT_CAP_S = 300


def image_sha1(payload: dict) -> str:
    """sha1 of the image bytes inside the request's data URL."""
    for part in payload["messages"][0]["content"]:
        if part["type"] == "image_url":
            return hashlib.sha1(base64.b64decode(part["image_url"]["url"].split(",", 1)[1])).hexdigest()
    raise KeyError("no image in request")


class ChatServer:
    def __init__(self, app: Callable[[dict, dict], Reply], hold_after: int | None = None):
        self.app = app
        self.requests: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        self.hold_after = hold_after
        self.holding = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                payload = json.loads(body)
                headers = {k.lower(): v for k, v in self.headers.items()} | {":path": self.path}
                with server.lock:
                    server.requests.append((payload, headers))
                    held = server.hold_after is not None and len(server.requests) > server.hold_after
                if held:
                    server.holding.set()
                    server.release.wait(WAIT_CAP_S)
                reply = server.app(payload, headers)
                if reply.wait_for is not None:
                    reply.wait_for.wait(WAIT_CAP_S)
                time.sleep(reply.delay)
                if reply.raw is not None:
                    data = reply.raw
                elif reply.status == 200:
                    data = json.dumps({"id": "x", "object": "chat.completion", "model": payload.get("model", ""),
                                       "choices": [{"index": 0, "finish_reason": "stop", "message":
                                                    {"role": "assistant", "content": reply.content}}]}).encode()
                else:
                    data = json.dumps({"error": {"message": f"status {reply.status}"}}).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
