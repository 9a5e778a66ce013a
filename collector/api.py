"""The HTTP API: message traces by any ID, trace search, health, metrics, its OpenAPI document.

Access rules (documented in the OpenAPI document too):
- ``/api/*`` and ``/metrics`` need ``Authorization: Bearer <token>`` when tokens are
  configured: a missing or unknown token gets 401 with ``WWW-Authenticate: Bearer``; a token
  without the route's scope (``traces`` for ``/api/*``, ``metrics`` for ``/metrics``) gets 403.
  Without tokens the config refuses any address but loopback, so only this machine can ask.
- ``/healthz`` (for load balancers and probes) and ``/openapi.json`` are public; health
  answers only ``ok`` / ``unavailable``, never why (the reason is logged).
- A request with an ``Origin`` header that is not in ``api.cors_origins`` gets 403: CORS is
  off by default, and a browser page elsewhere must not read traces through a user's network.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse
from collections.abc import Callable

import orjson

from collector.apidoc import DEFAULT_LIMIT, MAX_LIMIT, openapi
from collector.config import Api as ApiConfig
from collector.deadletters import DEFAULT_SINCE, DeadLetterQuery, newest, summary
from collector.explorer import routes as explorer
from collector.httpserver import Handler, HttpError, Server, authorize
from collector.knowledge import KnowledgeBase, trace_known_issues
from collector.metrics import CONTENT_TYPE, Registry
from collector.since import parse_since
from collector.store.base import Store, StoreError, TraceQuery
from collector.trace import STATUSES, Trace
from collector.tracequery import MAX_MATCHES, find_by_id, matches_doc, not_found_hint, one_named

log = logging.getLogger("midwatch.api")

_SEARCH_PARAMS = ("flow", "status", "partner", "since", "limit")
_DEADLETTER_PARAMS = ("since", "input", "reason", "limit", "summary")
_LIMIT = re.compile(r"[0-9]{1,4}")


def _params(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string's parameters: each known and given once, or 400."""
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise HttpError(400, "too many query parameters") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise HttpError(400, f"unknown parameter {name[:60]!r}; expected "
                                 f"{', '.join(allowed)}")
        if name in params:
            raise HttpError(400, f"{name}: given more than once; give it once")
        params[name] = value
    return params


def _since_ms(params: dict[str, str], now_ms: int) -> int | None:
    if "since" not in params:
        return None
    try:
        return parse_since(params["since"], now_ms)
    except ValueError as exc:
        raise HttpError(400, f"since: {exc}") from None


def _limit(params: dict[str, str]) -> int:
    limit = params.get("limit", str(DEFAULT_LIMIT))
    if not _LIMIT.fullmatch(limit) or not 1 <= int(limit) <= MAX_LIMIT:
        raise HttpError(400, f"limit: expected a number from 1 to {MAX_LIMIT}")
    return int(limit)


def search_query(query: str, now_ms: int) -> TraceQuery:
    """Query string -> the ``Store.search_traces`` query, every value validated."""
    params = _params(query, _SEARCH_PARAMS)
    args: dict = {k: params[k] for k in ("flow", "partner", "status") if k in params}
    if "status" in args and args["status"] not in STATUSES:
        raise HttpError(400, f"status: expected one of {', '.join(STATUSES)}")
    since_ms = _since_ms(params, now_ms)
    if since_ms is not None:
        args["since_ms"] = since_ms
    return TraceQuery(**args, limit=_limit(params))


def deadletter_query(query: str, now_ms: int) -> tuple[DeadLetterQuery, bool]:
    """Query string -> the dead letters asked for (``since`` default 1d, as the CLI's), and
    whether their summary (counts by reason and input) is wanted instead."""
    params = _params(query, _DEADLETTER_PARAMS)
    summary = params.get("summary", "false")
    if summary not in ("true", "false"):
        raise HttpError(400, "summary: expected true or false")
    since_ms = _since_ms({"since": DEFAULT_SINCE, **params}, now_ms)
    return DeadLetterQuery(start_ms=since_ms or 0, end_ms=now_ms + 1,
                           input=params.get("input"), reason=params.get("reason"),
                           limit=_limit(params)), summary == "true"


def trace_summary(trace: Trace) -> dict:
    doc = trace.to_doc()
    doc.pop("hops")
    return doc


class Api:
    def __init__(self, cfg: ApiConfig, store: Store, metrics: Registry,
                 knowledge: KnowledgeBase | None = None):
        self.cfg, self.store, self.metrics = cfg, store, metrics
        self.openapi = orjson.dumps(openapi(secured=bool(cfg.tokens)))
        self.knowledge = knowledge  # a trace's known issues are shown when configured
        # GET /api/rules/{name}/explain: set by the rule side in ``midwatch run`` (collector
        # must not import rules); (rule name, query string) -> document, KeyError: no rule.
        self.explain: Callable[[str, str], dict] | None = None
        self.requests = metrics.counter("midwatch_api_requests_total", "API requests answered.",
                                        ("route", "status"))
        tls = (cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else None
        self.server = Server(cfg.listen, _handler(self),
                             request_timeout_s=cfg.request_timeout_ms / 1000, tls=tls)

    @property
    def port(self) -> int:
        return self.server.port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(api: Api) -> type[Handler]:
    cfg = api.cfg

    class ApiHandler(Handler):
        def route(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            path = url.path
            if explorer.owns(path):  # the browser pages: same listener, tokens and scope
                explorer.handle(self, method, api.store, cfg)
                return
            route = _route_name(path)
            self.read_body(cfg.max_body_bytes)  # GETs carry none; refuse big ones unread
            origin = self.headers.get("Origin")
            cors = {}
            if origin is not None:
                if origin not in cfg.cors_origins:
                    raise HttpError(403, "cross-origin requests are not allowed from this origin")
                cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
            if method == "OPTIONS" and cors:
                self.send(204, b"", "text/plain", {
                    **cors, "Access-Control-Allow-Methods": "GET",
                    "Access-Control-Allow-Headers": "Authorization"})
                return
            if route is None:
                raise HttpError(404, f"no such endpoint {path}")
            if method not in ("GET", "HEAD"):
                raise HttpError(405, "use GET", {"Allow": "GET, HEAD"})
            if route in _SCOPE and cfg.tokens:
                authorize(self.headers.get("Authorization"), cfg.tokens, _SCOPE[route])
            status, body, ctype = _answer(api, route, path, url.query)
            api.requests.inc(route, str(status))
            self.send(status, body, ctype, cors)

        def _error(self, exc: HttpError) -> None:
            api.requests.inc(_route_name(urllib.parse.urlsplit(self.path or "").path) or "other",
                             str(exc.status))
            super()._error(exc)

    return ApiHandler


# What a token needs for each route; the others (health, openapi) are public.
_SCOPE = {"search": "traces", "trace": "traces", "metrics": "metrics", "explain": "traces",
          "deadletters": "traces"}


def _route_name(path: str) -> str | None:
    if path == "/api/traces":
        return "search"
    if path == "/api/deadletters":
        return "deadletters"
    if path.startswith("/api/traces/") and len(path) > len("/api/traces/"):
        return "trace"
    if path.startswith("/api/rules/") and path.endswith("/explain"):
        return "explain"
    return {"/healthz": "health", "/metrics": "metrics", "/openapi.json": "openapi"}.get(path)


def _answer(api: Api, route: str, path: str, query: str) -> tuple[int, bytes, str]:
    if route == "metrics":
        return 200, api.metrics.expose().encode(), CONTENT_TYPE
    if route == "openapi":
        return 200, api.openapi, "application/json"
    if route == "health":
        try:
            api.store.ping()
        except StoreError as exc:
            log.warning("health check: store unavailable", extra={"error": str(exc)})
            return 503, orjson.dumps({"status": "unavailable"}), "application/json"
        return 200, orjson.dumps({"status": "ok"}), "application/json"
    try:
        if route == "explain":
            return _explain(api, path, query)
        if route == "deadletters":
            return _deadletters(api, query)
        if route == "trace":
            any_id = urllib.parse.unquote(path[len("/api/traces/"):])
            named, found = find_by_id(api.store, any_id, MAX_MATCHES + 1)
            if not found:
                hint = not_found_hint(any_id)
                raise HttpError(404, f"no trace knows the ID {any_id!r}"
                                + (f" ({hint})" if hint else ""))
            one = one_named(named, found)
            if one is None:
                # 300, not 200 with a list: a client written for one trace must not read
                # one of several messages as the answer (the bug a shared envelope ID
                # caused); each match links to its trace_key, which names one trace.
                return 300, orjson.dumps(matches_doc(named, found, full=False)), \
                    "application/json"
            doc = one.to_doc()
            if api.knowledge:
                doc["known_issues"] = trace_known_issues(api.store, one, api.knowledge)
            return 200, orjson.dumps(doc), "application/json"
        traces = api.store.search_traces(search_query(query, int(time.time() * 1000)))
    except StoreError as exc:
        log.warning("store query failed", extra={"route": route, "error": str(exc)})
        raise HttpError(503, "the store is unavailable; retry later", {"Retry-After": "5"}) from None
    return 200, orjson.dumps({"traces": [trace_summary(t) for t in traces], "count": len(traces)}), \
        "application/json"


def _deadletters(api: Api, query: str) -> tuple[int, bytes, str]:
    q, counts = deadletter_query(query, int(time.time() * 1000))
    if counts:
        return 200, orjson.dumps({"summary": summary(api.store, q)}), "application/json"
    docs = newest(api.store, q)
    return 200, orjson.dumps({"deadletters": docs, "count": len(docs)}), "application/json"


def _explain(api: Api, path: str, query: str) -> tuple[int, bytes, str]:
    name = urllib.parse.unquote(path[len("/api/rules/"):-len("/explain")])
    if api.explain is None:
        raise HttpError(404, "this process does not evaluate rules (midwatch serve)")
    try:
        return 200, orjson.dumps(api.explain(name, query), default=str), "application/json"
    except KeyError as exc:
        raise HttpError(404, f"no rule {name!r}: {exc.args[0]}") from None
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None

