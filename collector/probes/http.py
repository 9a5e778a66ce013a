"""HTTP endpoints (API health checks): status, latency and body match.

Credentials go in ``secret_headers`` (``Authorization: ${ORDERS_API_TOKEN}``): they are
Secrets, refused when written literally, never logged. Plain ``headers`` are for the rest.

Redirects are not followed: a health check that answers 301 is a configuration to fix (or an
``expect_status`` to list).

Readings (label ``endpoint``: the URL): ``endpoint.up`` (1 when the status is expected and the
body matches; the error says which check failed; label ``http.status``) and
``http.latency_ms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collector.config_values import Section
from collector.probes import httpget
from collector.probes.config import http_url, regex
from collector.probes.reading import Reading
from collector.yamlconf import Secret

KEYS = ("url", "method", "expect_status", "body_contains", "body_regex", "headers",
        "secret_headers", "ca_file", "verify_tls")
PLATFORM = "generic"
DEFAULT_INTERVAL = "30s"
MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    method: str
    expect_status: tuple[int, ...]
    body_contains: str | None
    body_regex: re.Pattern | None
    headers: dict[str, str]
    secret_headers: dict[str, Secret]
    ca_file: str | None
    verify_tls: bool


def parse(s: Section, config) -> Settings:
    url = http_url(s)
    status = s.raw("expect_status", [200])
    status = status if isinstance(status, list) else [status]
    if not status or not all(isinstance(x, int) and 100 <= x <= 599 for x in status):
        raise s.error("expect_status", f"expected HTTP status codes, got {status!r}",
                      "e.g. expect_status: [200, 204]")
    plain = s.sub("headers", tuple(s.raw("headers", {}) or ()))
    secret = s.sub("secret_headers", tuple(s.raw("secret_headers", {}) or ()))
    return Settings(
        url=url, method=s.choice("method", ("GET", "HEAD", "POST"), "GET"),
        expect_status=tuple(status), body_contains=s.text("body_contains"),
        body_regex=regex(s, "body_regex"),
        headers={str(k): plain.text(k) for k in plain.data},
        secret_headers={str(k): secret.secret(k) for k in secret.data},
        ca_file=s.text("ca_file"), verify_tls=s.flag("verify_tls", True),
    )


class Probe:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.target = settings.url
        self.http = httpget.pool(settings.ca_file, settings.verify_tls)

    def run(self, timeout_s: float) -> list[Reading]:
        s = self.settings
        headers = {**s.headers, **{k: v.reveal() for k, v in s.secret_headers.items()}}
        where = {"endpoint": s.url}
        try:
            answer = httpget.get(self.http, s.url, headers, timeout_s, method=s.method,
                                 max_bytes=MAX_BODY_BYTES)
        except httpget.ProbeError as exc:
            return [Reading("endpoint.up", 0, where, ok=False, error=str(exc))]
        labels = {**where, "http.status": str(answer.status)}
        problem = self.problem(answer)
        return [Reading("endpoint.up", 0 if problem else 1, labels, ok=not problem,
                        error=problem),
                Reading("http.latency_ms", answer.latency_ms, labels)]

    def problem(self, answer: httpget.Answer) -> str | None:
        s = self.settings
        if answer.status not in s.expect_status:
            return f"HTTP {answer.status}, expected {' or '.join(map(str, s.expect_status))}"
        body = answer.body.decode("utf-8", "replace")
        if s.body_contains is not None and s.body_contains not in body:
            return f"body does not contain {s.body_contains!r}"
        if s.body_regex is not None and not s.body_regex.search(body):
            return f"body does not match {s.body_regex.pattern!r}"
        return None

    def close(self) -> None:
        self.http.clear()
