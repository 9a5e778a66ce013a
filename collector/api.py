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
import time
import urllib.parse

import orjson

from collector.config import Api as ApiConfig
from collector.explorer import routes as explorer
from collector.httpserver import Handler, HttpError, Server, authorize
from collector.metrics import CONTENT_TYPE, Registry
from collector.store.base import Store, StoreError
from collector.trace import STATUSES, Trace
from collector.tracequery import since_ms

log = logging.getLogger("midwatch.api")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
_SEARCH_PARAMS = ("flow", "status", "partner", "since", "limit")


def parse_since(text: str, now_ms: int) -> int:
    """``1h`` (that long ago) or an ISO-8601 time -> epoch ms."""
    try:
        return since_ms(text, now_ms)
    except ValueError as exc:
        raise HttpError(400, f"since: {exc}") from None


def search_args(query: str, now_ms: int) -> dict:
    """Query string -> ``Store.search_traces`` keyword arguments, validated."""
    params = urllib.parse.parse_qs(query, keep_blank_values=False)
    for name in params:
        if name not in _SEARCH_PARAMS:
            raise HttpError(400, f"unknown parameter {name!r}; expected {', '.join(_SEARCH_PARAMS)}")
    args: dict = {k: params[k][-1] for k in ("flow", "partner", "status") if k in params}
    if "status" in args and args["status"] not in STATUSES:
        raise HttpError(400, f"status: expected one of {', '.join(STATUSES)}")
    if "since" in params:
        args["since_ms"] = parse_since(params["since"][-1], now_ms)
    limit = params.get("limit", [str(DEFAULT_LIMIT)])[-1]
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise HttpError(400, f"limit: expected a number from 1 to {MAX_LIMIT}")
    args["limit"] = int(limit)
    return args


def trace_summary(trace: Trace) -> dict:
    doc = trace.to_doc()
    doc.pop("hops")
    return doc


class Api:
    def __init__(self, cfg: ApiConfig, store: Store, metrics: Registry):
        self.cfg, self.store, self.metrics = cfg, store, metrics
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
            api.requests.inc(_route_name(urllib.parse.urlsplit(self.path).path) or "other",
                             str(exc.status))
            super()._error(exc)

    return ApiHandler


# What a token needs for each route; the others (health, openapi) are public.
_SCOPE = {"search": "traces", "trace": "traces", "metrics": "metrics"}


def _route_name(path: str) -> str | None:
    if path == "/api/traces":
        return "search"
    if path.startswith("/api/traces/") and len(path) > len("/api/traces/"):
        return "trace"
    return {"/healthz": "health", "/metrics": "metrics", "/openapi.json": "openapi"}.get(path)


def _answer(api: Api, route: str, path: str, query: str) -> tuple[int, bytes, str]:
    if route == "metrics":
        return 200, api.metrics.expose().encode(), CONTENT_TYPE
    if route == "openapi":
        return 200, orjson.dumps(OPENAPI), "application/json"
    if route == "health":
        try:
            api.store.ping()
        except StoreError as exc:
            log.warning("health check: store unavailable", extra={"error": str(exc)})
            return 503, orjson.dumps({"status": "unavailable"}), "application/json"
        return 200, orjson.dumps({"status": "ok"}), "application/json"
    try:
        if route == "trace":
            any_id = urllib.parse.unquote(path[len("/api/traces/"):])
            trace = api.store.get_trace(any_id)
            if trace is None:
                raise HttpError(404, f"no trace knows the ID {any_id!r}")
            return 200, orjson.dumps(trace.to_doc()), "application/json"
        args = search_args(query, int(time.time() * 1000))
        traces = api.store.search_traces(**args)
    except StoreError as exc:
        log.warning("store query failed", extra={"route": route, "error": str(exc)})
        raise HttpError(503, "the store is unavailable; retry later", {"Retry-After": "5"}) from None
    return 200, orjson.dumps({"traces": [trace_summary(t) for t in traces], "count": len(traces)}), \
        "application/json"


_ERROR = {"$ref": "#/components/schemas/Error"}
_ERR = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}


def _param(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {"title": "midwatch trace API", "version": "1",
             "description": "Message journeys across integration platforms, by any ID."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "status"],
                      "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
            "Hop": {"type": "object", "properties": {
                "stage": {"type": ["string", "null"]}, "service": {"type": ["string", "null"]},
                "platform": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"},
                "outcome": {"type": "string"}, "event_id": {"type": "string"},
                "action": {"type": ["string", "null"]}, "latency_ms": {"type": ["integer", "null"]},
                "error_class": {"type": ["string", "null"]},
                "error_message": {"type": ["string", "null"]}}},
            "TraceSummary": {"type": "object", "required": ["trace_key", "ids", "status"],
                             "properties": {
                "trace_key": {"type": "string"}, "ids": {"type": "array", "items": {"type": "string"}},
                "flow": {"type": "string"}, "partner": {"type": ["string", "null"]},
                "status": {"type": "string", "enum": list(STATUSES)},
                "started_at": {"type": "string", "format": "date-time"},
                "ended_at": {"type": ["string", "null"], "format": "date-time"},
                "last_seen": {"type": "string", "format": "date-time"},
                "duration_ms": {"type": "integer"}, "hop_count": {"type": "integer"},
                "error_count": {"type": "integer"}, "retry_count": {"type": "integer"},
                "stages": {"type": "array", "items": {"type": "string"}},
                "last_error": {"type": ["object", "null"]}, "sla_ms": {"type": ["integer", "null"]},
                "sla_breached": {"type": "boolean"}, "dead_lettered": {"type": "boolean"},
                "platforms": {"type": "array", "items": {"type": "string"}},
                "services": {"type": "array", "items": {"type": "string"}}}},
            "Trace": {"allOf": [{"$ref": "#/components/schemas/TraceSummary"}, {
                "type": "object", "properties": {
                    "hops": {"type": "array", "items": {"$ref": "#/components/schemas/Hop"}}}}]},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/traces/{id}": {"get": {
            "summary": "One message journey by any of its IDs",
            "description": "The ID may be typed (order:4711) or bare (4711), or a trace_key.",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "the trace with its hops in time order",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Trace"}}}},
                "401": _ERR, "403": _ERR, "404": _ERR, "503": _ERR}}},
        "/api/traces": {"get": {
            "summary": "Traces, most recently seen first",
            "parameters": [
                _param("flow", "flow name from the catalog", {"type": "string"}),
                _param("status", "trace status", {"type": "string", "enum": list(STATUSES)}),
                _param("partner", "trading partner", {"type": "string"}),
                _param("since", "duration (1h, 2d) or ISO-8601 time", {"type": "string"}),
                _param("limit", "at most this many", {"type": "integer", "minimum": 1,
                                                      "maximum": MAX_LIMIT,
                                                      "default": DEFAULT_LIMIT}),
            ],
            "responses": {
                "200": {"description": "matching traces without their hops",
                        "content": {"application/json": {"schema": {
                            "type": "object", "properties": {
                                "count": {"type": "integer"},
                                "traces": {"type": "array", "items": {
                                    "$ref": "#/components/schemas/TraceSummary"}}}}}}},
                "400": _ERR, "401": _ERR, "403": _ERR, "503": _ERR}}},
        "/healthz": {"get": {
            "summary": "Whether the store answers", "security": [],
            "responses": {"200": {"description": "ok"}, "503": {"description": "unavailable"}}}},
        "/metrics": {"get": {
            "summary": "Prometheus text exposition of the collector's own metrics",
            "responses": {"200": {"description": "metrics",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          "401": _ERR, "403": _ERR}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    },
}
