"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions protocol, for tests.

`app(payload, headers) -> Reply` decides each answer; the server records every request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Reply:
    status: int = 200
    content: str | None = None      # the assistant's text (status 200)
    raw: bytes | None = None        # a body sent as is (malformed replies)
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


def image_sha1(payload: dict) -> str:
    """sha1 of the image bytes inside the request's data URL."""
    for part in payload["messages"][0]["content"]:
        if part["type"] == "image_url":
            return hashlib.sha1(base64.b64decode(part["image_url"]["url"].split(",", 1)[1])).hexdigest()
    raise KeyError("no image in request")


class ChatServer:
    def __init__(self, app: Callable[[dict, dict], Reply]):
        self.app = app
        self.requests: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                payload = json.loads(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server.lock:
                    server.requests.append((payload, headers))
                reply = server.app(payload, headers)
                time.sleep(reply.delay)
                if reply.raw is not None:
                    data = reply.raw
                elif reply.status == 200:
                    data = json.dumps({"id": "x", "object": "chat.completion", "model": payload["model"],
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

    def __enter__(self) -> "ChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
