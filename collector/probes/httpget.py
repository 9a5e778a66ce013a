"""HTTP GETs for the probes that talk HTTP (RabbitMQ management, Elasticsearch, endpoints).

One pool per probe, no retries (the next run is the retry), a hard timeout, and a cap on how
much of a body is read: a probe must never hang on, or buffer, a misbehaving server.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import orjson
import urllib3

from collector.yamlconf import Secret

MAX_BODY_BYTES = 4 * 1024 * 1024


class ProbeError(Exception):
    """The target did not answer usefully; the message says what happened."""


class ProbeTimeout(ProbeError):
    """The target did not answer within the probe's timeout (a ``timeout`` run in /metrics)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    latency_ms: int
    truncated: bool = False


def pool(ca_file: str | None = None, verify_tls: bool = True) -> urllib3.PoolManager:
    if not verify_tls:
        return urllib3.PoolManager(cert_reqs=ssl.CERT_NONE, assert_hostname=False, retries=False)
    return urllib3.PoolManager(cert_reqs=ssl.CERT_REQUIRED, ca_certs=ca_file, retries=False)


def auth_headers(username: str | None, password: Secret | None,
                 api_key: Secret | None = None) -> dict[str, str]:
    if api_key is not None:
        return {"Authorization": f"ApiKey {api_key.reveal()}"}
    if username:
        secret = password.reveal() if password is not None else ""
        return urllib3.make_headers(basic_auth=f"{username}:{secret}")
    return {}


def get(http: urllib3.PoolManager, url: str, headers: dict[str, str], timeout_s: float, *,
        method: str = "GET", max_bytes: int = MAX_BODY_BYTES) -> Answer:
    start = time.perf_counter()
    try:
        resp = http.request(method, url, headers=headers, preload_content=False,
                            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
                            retries=False, redirect=False)
        try:
            body = resp.read(max_bytes + 1)
        finally:
            resp.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        kind = ProbeTimeout if _timed_out(exc) else ProbeError
        raise kind(f"{method} {url}: {_reason(exc)}") from None
    latency_ms = round((time.perf_counter() - start) * 1000)
    return Answer(resp.status, body[:max_bytes], latency_ms, truncated=len(body) > max_bytes)


def get_json(http: urllib3.PoolManager, url: str, headers: dict[str, str],
             timeout_s: float) -> object:
    answer = get(http, url, headers, timeout_s)
    if answer.status != 200:
        snippet = answer.body[:200].decode("utf-8", "replace")
        raise ProbeError(f"GET {url}: HTTP {answer.status} {snippet}")
    if answer.truncated:
        raise ProbeError(f"GET {url}: answer larger than {MAX_BODY_BYTES} bytes")
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError as exc:
        raise ProbeError(f"GET {url}: not JSON ({exc})") from None


def _timed_out(exc: Exception) -> bool:
    # NewConnectionError (refused, unresolvable) derives from ConnectTimeoutError: not a timeout.
    inner = getattr(exc, "reason", None)
    return any(isinstance(e, (urllib3.exceptions.TimeoutError, TimeoutError))
               and not isinstance(e, urllib3.exceptions.NewConnectionError)
               for e in (exc, inner))


def _reason(exc: Exception) -> str:
    inner = getattr(exc, "reason", None)
    return f"{type(inner or exc).__name__}: {inner or exc}"
