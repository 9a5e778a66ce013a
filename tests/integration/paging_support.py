"""What the paging tests share: local HTTP receivers standing in for PagerDuty and webhooks
that record every request and can be told to answer 503/429/400 or hang, and configs for
``midwatch run`` processes that evaluate rules on a shared store.

These receivers are contract stand-ins (a fake HTTP peer); the store, the processes and the
Alertmanager are real.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler], tls=None) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:  # an ssl.SSLContext with the server certificate
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"


class Receiver:
    """Answers ``status`` (202 by default) with ``body``; ``hang`` holds requests until
    ``release``."""

    def __init__(self, tls=None) -> None:
        self.requests: list[tuple[float, dict]] = []
        self.arrived = 0  # requests read, answered or not (a hung one counts)
        self.status = 202
        self.body = b"{}"  # a Slack stand-in answers b"ok" (anything else is not Slack)
        self.hang = threading.Event()
        self.released = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(_Handler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with outer.lock:
                    outer.arrived += 1
                if outer.hang.is_set():
                    outer.released.wait(30)
                status = outer.status
                if 200 <= status < 300:
                    with outer.lock:
                        outer.requests.append((time.monotonic(), body))
                self.answer(status, outer.body if status < 300 else b'{"message": "told to fail"}')

        self.server, self.url = _serve(Handler, tls)

    def accepted(self) -> Counter:
        """(dedup key, action) -> how many times a 2xx was answered for it."""
        with self.lock:
            return Counter((_key(b), action_of(b)) for _, b in self.requests)

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    """A forward proxy: CONNECT tunnels (HTTPS targets) and absolute-URI requests (HTTP
    targets, relayed); ``seen`` lists what it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        outer = self

        class Handler(_Handler):
            def do_CONNECT(self) -> None:  # noqa: N802
                outer.seen.append(f"CONNECT {self.path}")
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.send_response(200)
                self.end_headers()
                pipes = [threading.Thread(target=_pipe, args=(a, b), daemon=True)
                         for a, b in ((self.connection, upstream), (upstream, self.connection))]
                for t in pipes:
                    t.start()
                for t in pipes:
                    t.join(30)

            def do_POST(self) -> None:  # noqa: N802
                outer.seen.append(f"POST {self.path}")
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                req = urllib.request.Request(self.path, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                try:
                    with _DIRECT.open(req, timeout=10) as r:
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                self.answer(status, data)

        self.server, self.url = _serve(Handler)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never the env's proxy


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _key(body: dict) -> str:
    return body.get("dedup_key") or ""


def action_of(body: dict) -> str:
    """firing or resolved, from a webhook or a PagerDuty body."""
    action = body.get("action") or body.get("event_action")
    return {"trigger": "firing", "resolve": "resolved"}.get(action, action)


def rules_yaml(names: list[str], *, window: str, run: str) -> str:
    """One threshold rule per name: fires while events of flow ``<name>`` are in its window."""
    return "rules:\n" + "".join(
        f"  - {{name: {n}, type: threshold, filter: {{midwatch.flow: {n}}}, above: 0, "
        f"window: {window}, severity: critical, labels: {{run: {run}}}}}\n" for n in names)


def paging_top(rule_files: list[str], receivers: dict[str, Receiver], *, ttl: str = "5s",
               backoff_max: str = "2s", alertmanager_url: str | None = None) -> str:
    """The ``rules:`` and ``notifiers:`` sections: webhooks (and PagerDuty-shaped receivers
    for names starting with ``pd``) at the local receivers, plus the real Alertmanager."""
    notifiers = {}
    for name, r in receivers.items():
        if name.startswith("pd"):
            notifiers[name] = f"{{type: pagerduty, routing_key: '${{PD_KEY}}', url: '{r.url}/v2/enqueue'}}"
        else:
            notifiers[name] = f"{{type: webhook, url: '{r.url}/hook'}}"
    if alertmanager_url:
        notifiers["am"] = f"{{type: alertmanager, url: '{alertmanager_url}'}}"
    lines = "".join(f"  {k}: {v}\n" for k, v in notifiers.items())
    return (f"rules: {{paths: {rule_files}, interval: 1s, lease_ttl: {ttl}, "
            f"retry_backoff: 100ms, retry_backoff_max: {backoff_max}, "
            f"notify: [{', '.join(notifiers)}]}}\nnotifiers:\n{lines}")


@pytest.fixture(name="store", params=["sqlite", "elasticsearch"])
def paging_stores(request, tmp_path):
    """``paging_store`` as the fixture ``store``, closed after the test (import it to use it)."""
    s = paging_store(request, tmp_path)
    yield s
    s.close()


def paging_store(request, tmp_path):
    """A set-up store for a test parametrized over "sqlite" (a file in ``tmp_path``) and
    "elasticsearch" (the real one, under the test's unique index prefix)."""
    from collector.store.elasticsearch import ElasticsearchStore
    from collector.store.sqlite import SQLiteStore

    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "s.sqlite")
    else:
        prefix = request.getfixturevalue("es_index_prefix")
        s = ElasticsearchStore(request.getfixturevalue("es_url"), index_prefix=f"{prefix}mw")
    s.setup()
    return s
