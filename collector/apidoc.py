"""The trace API's OpenAPI 3.1 document, as served at ``/openapi.json``.

Built per listener because it must say exactly what that listener does: with tokens every
route but health and this document needs a bearer token (401 without one, 403 without the
scope); without tokens there is no security at all. Every status a route can answer is
listed with its body and headers, so a client generator, or schemathesis with all its checks
(``tests/unit/test_api_schemathesis.py``), can hold the server to it.
"""

from __future__ import annotations

from collector.since import SINCE_DURATION
from collector.trace import STATUSES
from collector.tracequery import MAX_MATCHES

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str, **headers: str) -> dict:
    doc: dict = {"description": description, "content": {"application/json": {"schema": _ERROR}}}
    if headers:
        doc["headers"] = {name: {"required": True, "description": text,
                                 "schema": {"type": "string"}}
                          for name, text in headers.items()}
    return doc


_400 = _err("a malformed request: a query parameter that does not validate (named in the "
            "message), or ambiguous framing (two Content-Lengths, a Transfer-Encoding "
            "other than chunked)")
_401 = _err("no bearer token, or an unknown one", **{
    "WWW-Authenticate": "Bearer realm=\"midwatch\", with error=\"invalid_token\" for a wrong one"})
_403 = _err("the token lacks the route's scope, or the Origin is not in api.cors_origins")
_403_ORIGIN = _err("the Origin is not in api.cors_origins")
_413 = _err("a request body over api.max_body_bytes (GETs carry none)")
_500 = _err("an unexpected failure; the details are only in the server's log")
_503_STORE = _err("the store is unavailable, or every request slot is busy",
                  **{"Retry-After": "seconds to wait before asking again"})
_503_BUSY = _err("every request slot is busy", **{"Retry-After": "seconds to wait"})


def _param(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def _schemas() -> dict:
    nullable_str = {"type": ["string", "null"]}
    summary_props = {
        "trace_key": {"type": "string"}, "ids": {"type": "array", "items": {"type": "string"}},
        "flow": {"type": "string"}, "partner": nullable_str,
        "status": {"type": "string", "enum": list(STATUSES)},
        "started_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "last_seen": {"type": "string", "format": "date-time"},
        "duration_ms": {"type": "integer", "minimum": 0}, "hop_count": {"type": "integer"},
        "error_count": {"type": "integer"}, "retry_count": {"type": "integer"},
        "stages": {"type": "array", "items": {"type": "string"}},
        "last_error": {"type": ["object", "null"]}, "sla_ms": {"type": ["integer", "null"]},
        "sla_breached": {"type": "boolean"}, "dead_lettered": {"type": "boolean"},
        "platforms": {"type": "array", "items": {"type": "string"}},
        "services": {"type": "array", "items": {"type": "string"}},
    }
    hop_props = {
        "stage": nullable_str, "service": nullable_str, "platform": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"}, "outcome": {"type": "string"},
        "event_id": {"type": "string"}, "action": nullable_str,
        "latency_ms": {"type": ["integer", "null"]}, "error_class": nullable_str,
        "error_message": nullable_str,
    }
    return {
        "Error": {"type": "object", "required": ["error", "status"], "properties": {
            "error": {"type": "string"}, "status": {"type": "integer"}}},
        "Health": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]}}},
        "Hop": {"type": "object", "required": list(hop_props), "properties": hop_props},
        "TraceSummary": {"type": "object", "required": list(summary_props),
                         "properties": summary_props},
        "Trace": {"allOf": [{"$ref": "#/components/schemas/TraceSummary"}, {
            "type": "object", "required": ["hops"], "properties": {
                "hops": {"type": "array", "items": {"$ref": "#/components/schemas/Hop"}}}}]},
        "TraceMatches": {
            "type": "object", "required": ["id", "count", "truncated", "matches"],
            "properties": {
                "id": {"type": "string"},
                "count": {"type": "integer", "minimum": 2, "maximum": MAX_MATCHES},
                "truncated": {"type": "boolean",
                              "description": f"more than {MAX_MATCHES} traces hold the ID; "
                                             "the most recently seen are listed"},
                "matches": {"type": "array", "items": {"allOf": [
                    {"$ref": "#/components/schemas/TraceSummary"},
                    {"type": "object", "required": ["href"], "properties": {
                        "href": {"type": "string",
                                 "description": "/api/traces/{trace_key}: this trace alone"}}}]}}}},
    }


_SINCE_TEXT = ("a duration ago (1h, 2d, 90m, 1.5h; at most 9 digits) or an RFC 3339 time "
               "or date; before 1970 means from the start")
_SINCE = {"anyOf": [{"type": "string", "pattern": f"^{SINCE_DURATION}$"},
                    {"type": "string", "format": "date-time"},
                    {"type": "string", "format": "date"}]}
_LIMIT_PARAM = _param("limit", "at most this many", {
    "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})


def openapi(secured: bool) -> dict:
    """The document for a listener with (``secured``) or without bearer tokens."""
    auth = {"401": _401, "403": _403} if secured else {"403": _403_ORIGIN}
    json_body = {"application/json": {"schema": {"type": "object"}}}
    doc: dict = {
        "openapi": "3.1.0",
        "info": {"title": "midwatch trace API", "version": "1",
                 "description": "Message journeys across integration platforms, by any ID. "
                                "Other methods on these paths answer 405 with Allow; other "
                                "paths 404."},
        "components": {"schemas": _schemas()},
        "paths": {
            "/api/traces/{id}": {"get": {
                "summary": "One message journey by any of its IDs",
                "description": "The ID may be typed (order:4711) or bare (4711), or a "
                               "trace_key; percent-encode characters that are not allowed "
                               "in a path segment. An ID several traces hold (the ISA or GS "
                               "control number of an interchange carrying several orders, a "
                               "batch ID) answers 300 with all of them; a trace_key always "
                               "names one.",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string", "minLength": 1}}],
                "responses": {
                    "200": {"description": "the trace with its hops in time order",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Trace"}}}},
                    "300": {"description": "several traces hold the ID: their summaries, most "
                                           "recently seen first, each with the href of its "
                                           "trace",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/TraceMatches"}}}},
                    "400": _400, **auth,
                    "404": _err("no trace knows this ID"), "413": _413, "500": _500,
                    "503": _503_STORE}}},
            "/api/traces": {"get": {
                "summary": "Traces, most recently seen first",
                "description": "Each parameter at most once; unknown parameters are refused.",
                "parameters": [
                    _param("flow", "flow name from the catalog", {"type": "string"}),
                    _param("status", "trace status",
                           {"type": "string", "enum": list(STATUSES)}),
                    _param("partner", "trading partner", {"type": "string"}),
                    _param("since", "seen since: " + _SINCE_TEXT, _SINCE),
                    _LIMIT_PARAM,
                ],
                "responses": {
                    "200": {"description": "matching traces without their hops",
                            "content": {"application/json": {"schema": {
                                "type": "object", "required": ["count", "traces"],
                                "properties": {
                                    "count": {"type": "integer", "minimum": 0},
                                    "traces": {"type": "array", "items": {
                                        "$ref": "#/components/schemas/TraceSummary"}}}}}}},
                    "400": _400, **auth, "413": _413, "500": _500, "503": _503_STORE}}},
            "/api/deadletters": {"get": {
                "summary": "Dead letters (records not parsed or stored), newest first",
                "description": "Each parameter at most once; unknown parameters are refused. "
                               "Newest first, those of one time by source (file:line, as "
                               "text). Each raw record is cut to its first 4 KiB (UTF-8), "
                               "raw_truncated true; `midwatch deadletters --source FILE:LINE "
                               "--json --whole` gives one whole. With summary=true: counts "
                               "by reason kind and input over the window instead.",
                "parameters": [
                    _param("since", "dead-lettered since (default 1d): " + _SINCE_TEXT,
                           _SINCE),
                    _param("input", "input name from the config", {"type": "string"}),
                    _param("reason", "reason kind (the reason's head), e.g. parse_error",
                           {"type": "string"}),
                    _LIMIT_PARAM,
                    _param("summary", "counts instead of records",
                           {"type": "string", "enum": ["true", "false"], "default": "false"}),
                ],
                "responses": {
                    "200": {"description": "dead-letter documents (reason, kind, source, "
                                           "input, stage, raw...), or their counts",
                            "content": json_body},
                    "400": _400, **auth, "413": _413, "500": _500, "503": _503_STORE}}},
            "/healthz": {"get": {
                "summary": "Whether the store answers (the reason is only logged)",
                "responses": {
                    "200": {"description": "ok", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Health"}}}},
                    "400": _400, "403": _403_ORIGIN, "413": _413,
                    "503": {"description": "unavailable, or every request slot is busy",
                            "content": {"application/json": {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/Health"}, _ERROR]}}}}}}},
            "/api/rules/{name}/explain": {"get": {
                "summary": "Why a rule paged or did not",
                "description": "Per group: the query and its value, the bound, pending/for "
                               "progress, mute windows, silences and inhibitions that "
                               "matched, the notifiers chosen and each delivery attempt "
                               "from the outbox. Served by `midwatch run` (the process that "
                               "evaluates rules); `midwatch serve` answers 404.",
                "parameters": [
                    {"name": "name", "in": "path", "required": True,
                     "schema": {"type": "string", "minLength": 1}},
                    _param("at", "evaluation time: ISO-8601, epoch ms or now (default)",
                           {"type": "string"}),
                    _param("labels", "only the groups with these labels: k=v,k2=v2",
                           {"type": "string"}),
                ],
                "responses": {
                    "200": {"description": "the explanation", "content": json_body},
                    "400": _400, **auth,
                    "404": _err("no such rule, or this process does not evaluate rules"),
                    "413": _413, "500": _500, "503": _503_STORE}}},
            "/metrics": {"get": {
                "summary": "Prometheus text exposition of the collector's own metrics",
                "responses": {
                    "200": {"description": "metrics", "content": {
                        "text/plain": {"schema": {"type": "string"}}}},
                    "400": _400, **auth, "413": _413, "503": _503_BUSY}}},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": json_body},
                              "400": _400, "403": _403_ORIGIN, "413": _413,
                              "503": _503_BUSY}}},
        },
    }
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for public in ("/healthz", "/openapi.json"):
            doc["paths"][public]["get"]["security"] = []
    return doc
