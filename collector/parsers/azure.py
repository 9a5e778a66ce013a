"""Azure integration services, as their diagnostic settings export them: Logic Apps
(``WorkflowRuntime``, BizTalk's successor in the cloud) and API Management gateway requests
(``GatewayLogs``).

Diagnostic settings write resource log records as JSON: one record per line in the hourly
``PT1H.json`` blobs of a storage account, and ``{"records": [...]}`` batches through Event
Hubs (and in older blobs); both are read, a batch yielding one event per record. Record
fields as Azure Monitor documents them: ``time``, ``resourceId``, ``category``,
``operationName``, ``level``, ``properties``; API Management's older records use PascalCase
property names, so property names are matched case-insensitively.

Logic Apps: a run, trigger or action of a workflow (``operationName``
``Microsoft.Logic/workflows/workflowRunCompleted`` ...). ``status`` (Succeeded, Failed,
Skipped, Cancelled, TimedOut) is the outcome, ``code`` the error code of a failure. IDs: the
run (``logicapps.run:``), the client tracking ID (``x-ms-client-tracking-id``, the
correlation ID callers pass through; Logic Apps sets it to the run ID when none is passed, so
only a different one is a ``correlation:`` ID), and ``trackedProperties`` as business fields
(``orderId`` -> ``order:``). The workflow is the service, the action or trigger the stage.

API Management: one gateway request, like the other gateways' access logs (``apigw``
platform): method, URL path, ``responseCode``, ``durationMs``, ``backendTime``, the API and
operation, the caller, and ``correlationId`` (the gateway's request ID, ``http.request:``).
``lastError`` (reason, message, policy section) says why a request failed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import as_int, business_field, elements, set_label
from collector.parsers._request import header_id, request_event
from collector.timeparse import parse_ms, to_ms

NAME = "azure"
# Logged headers whose names read as IDs but join nothing: Application Insights' Request-Id
# ("|<trace>.<span>.", a new one per hop, so the client's and the backend's copies differ;
# its trace is the traceparent's), and a mail-style Message-Id, no business message.
_HEADERS_NOT_IDS = frozenset(("request-id", "message-id"))
START = None
LOGIC_APPS_DATASET = "logicapps.workflow"
APIM_DATASET = "apigw.azure_apim"

_CATEGORIES = ('"WorkflowRuntime"', '"GatewayLogs"')
_OUTCOMES = {"succeeded": "success", "failed": "failure", "timedout": "failure",
             "aborted": "failure", "cancelled": "failure", "skipped": "unknown",
             "ignored": "unknown", "running": "unknown", "waiting": "unknown"}
# Logic Apps failure codes that are HTTP status names say what kind of trouble it was.
_CODE_CLASS = {"badgateway": "connectivity", "serviceunavailable": "connectivity",
               "gatewaytimeout": "timeout", "requesttimeout": "timeout", "timedout": "timeout",
               "unauthorized": "auth", "forbidden": "auth", "toomanyrequests": "throttling",
               "badrequest": "validation", "unprocessableentity": "validation"}
_ACTIONS = {"workflowrunstarted": "started", "workflowruncompleted": "completed",
            "workflowtriggerstarted": "received", "workflowtriggercompleted": "received",
            "workflowactionstarted": "started", "workflowactioncompleted": "completed"}


# The first characters of a line ``detect`` may claim (JSON; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '{'
# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
DETECT_NEEDS = {"{": ('"category"',)}


def detect(line: str) -> bool:
    return line[:1] == "{" and '"category"' in line and any(c in line for c in _CATEGORIES)


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    try:
        doc = orjson.loads(record.text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    records = doc.get("records") if isinstance(doc, dict) else None
    if isinstance(records, list):
        return elements(records, lambda r: [_record(r, ctx)], "record")
    return [_record(doc, ctx)]


def _record(doc: object, ctx: ParseContext) -> Event:
    if not isinstance(doc, dict):
        raise ParseError("not a JSON object")
    category = str(doc.get("category") or "")
    props = doc.get("properties")
    if isinstance(props, str):  # some exports carry the properties as a JSON string
        try:
            props = orjson.loads(props)
        except orjson.JSONDecodeError:
            props = None
    if not isinstance(props, dict):
        raise ParseError("no properties object", field="properties")
    if category == "WorkflowRuntime":
        return _workflow(doc, props, ctx)
    if category == "GatewayLogs":
        return _gateway(doc, {str(k).lower(): v for k, v in props.items()}, ctx)
    raise ParseError(f"category {category!r} is not WorkflowRuntime (Logic Apps) or "
                     "GatewayLogs (API Management)", field="category")


def _workflow(doc: dict, props: dict, ctx: ParseContext) -> Event:
    resource = props.get("resource") if isinstance(props.get("resource"), dict) else {}
    correlation = props.get("correlation") if isinstance(props.get("correlation"), dict) else {}
    ts, estimated = to_ms(props.get("endTime") or doc.get("time"), ctx)
    operation = str(doc.get("operationName") or "").rsplit("/", 1)[-1]
    status = str(props.get("status") or "")
    outcome = _OUTCOMES.get(status.lower(), "unknown")
    stage = resource.get("actionName") or resource.get("triggerName")
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=LOGIC_APPS_DATASET,
               platform="logicapps", outcome=outcome,
               action="failed" if outcome == "failure" else _ACTIONS.get(operation.lower()),
               level=normalize_level(str(doc.get("level") or "info")),
               service=resource.get("workflowName"), stage=stage)
    ev.message = " ".join(str(p) for p in (resource.get("workflowName"), stage, operation,
                                           status) if p)
    run = resource.get("runId")
    ev.add_id("logicapps.run", run)
    tracking = correlation.get("clientTrackingId")
    if tracking and tracking != run:
        ev.add_id("correlation", tracking)
    tracked = props.get("trackedProperties")
    if isinstance(tracked, dict):
        for name, value in tracked.items():
            business_field(ev, name, value)
    start, end = parse_ms(props.get("startTime")), parse_ms(props.get("endTime"))
    if start is not None and end is not None and end >= start:
        ev.duration_ns = (end - start) * 1_000_000
    if outcome == "failure":
        ev.level = "error" if ev.level in ("debug", "info", "warn") else ev.level
        ev.error_code = str(props.get("code") or status)
        ev.error_class = _CODE_CLASS.get(ev.error_code.lower())
        error = props.get("error")
        ev.error_message = (str(error.get("message")) if isinstance(error, dict)
                            and error.get("message") else f"{stage or 'run'} {status}: "
                            f"{props.get('code') or 'no code'}")
    set_label(ev, "logicapps_status", status)
    set_label(ev, "logicapps_action_tracking_id", correlation.get("actionTrackingId"))
    set_label(ev, "resource_group", resource.get("resourceGroupName"))
    set_label(ev, "location", resource.get("location"))
    return ev


def _gateway(doc: dict, props: dict, ctx: ParseContext) -> Event:
    url = str(props.get("url") or "")
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "") if parts.scheme else url
    ev = request_event(APIM_DATASET, to_ms(doc.get("time"), ctx), str(props.get("method") or ""),
                       path, as_int(props.get("responsecode")))
    duration = as_int(doc.get("durationMs") or doc.get("DurationMs"))
    if duration is not None:
        ev.duration_ns = duration * 1_000_000
    set_label(ev, "upstream_ms", as_int(props.get("backendtime")))
    set_label(ev, "upstream_status", props.get("backendresponsecode"))
    set_label(ev, "upstream_addr", props.get("backendurl"))
    set_label(ev, "api_id", props.get("apiid"))
    set_label(ev, "operation_id", props.get("operationid"))
    set_label(ev, "client_ip", doc.get("callerIpAddress"))
    set_label(ev, "vhost", parts.hostname)
    ev.service = str(props["apiid"]) if props.get("apiid") else None
    ev.payload_bytes = as_int(props.get("responsesize"))
    ev.add_id("http.request", doc.get("correlationId"))
    # Headers the diagnostic setting is told to log (requestHeaders as the client sent them,
    # backendRequestHeaders as forwarded): an X-Correlation-ID there is what the backend
    # logs, and it was dropped, so the backend's hop joined no trace.
    for key in ("requestheaders", "backendrequestheaders"):
        headers = props.get(key)
        if isinstance(headers, dict):
            for name, value in headers.items():
                value = value[0] if isinstance(value, list) and value else value
                if isinstance(value, str) and str(name).lower() not in _HEADERS_NOT_IDS:
                    header_id(ev, str(name).lower(), value)
    error = props.get("lasterror")
    if isinstance(error, dict) and (error.get("message") or error.get("reason")):
        ev.error_message = str(error.get("message") or error.get("reason"))
        # The code stays the HTTP status, as for every gateway (rules count 5xx by it).
        ev.error_type = str(error.get("reason") or ev.error_type)
        set_label(ev, "error_reason", error.get("reason"))
        set_label(ev, "error_section", error.get("section"))
        if ev.outcome != "failure":
            ev.outcome, ev.level = "failure", "error"
    return ev
