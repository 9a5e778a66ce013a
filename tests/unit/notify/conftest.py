"""The fake vendor receivers of the notifier contract tests: a local HTTP server that checks
each request against the vendor's documented schema (``notify_support``) and answers 2xx or
400 with the problems, or fails on purpose (status, delay) for the retry and isolation tests;
and ``Scripted``, which answers a scripted list of (status, headers, body).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from notify_support import Scripted


class Receiver:
    """An HTTP server; ``validate(path, headers, body) -> list of problems`` decides 2xx/400."""

    def __init__(self, validate: Callable[[str, dict, bytes], list[str]], *, ok_status: int = 202,
                 ok_body: bytes = b"{}", delay_s: float = 0.0, fail_status: int | None = None):
        self.requests: list[tuple[str, dict, bytes, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers), body, time.monotonic()))
                time.sleep(delay_s)
                if fail_status:
                    self._answer(fail_status, b'{"message": "unavailable"}')
                    return
                problems = validate(self.path, dict(self.headers), body)
                if problems:
                    self._answer(400, json.dumps({"errors": problems}).encode())
                else:
                    self._answer(ok_status, ok_body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [json.loads(b) for _, _, b, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(validate, **kw) -> Receiver:
        made.append(Receiver(validate, **kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def peer() -> Iterator[Callable[..., Scripted]]:
    made: list[Scripted] = []

    def make(*args, kind: type[Scripted] = Scripted, **kw) -> Scripted:
        made.append(kind(*args, **kw))
        return made[-1]

    yield make
    for p in made:
        p.server.shutdown()
        p.server.server_close()
