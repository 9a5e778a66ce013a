"""Azure Logic Apps runs and API Management requests from diagnostic settings exports."""

from __future__ import annotations

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import azure
from collector.parsers._base import ParseContext, ParseError


def test_storage_blob_lines(parse_data):
    events, dead = parse_data("auto", "azure/PT1H.json")
    assert dead == []
    action, request = events
    assert (action.dataset, action.platform) == ("logicapps.workflow", "logicapps")
    assert action.timestamp_ms == iso_to_ms("2016-07-09T17:09:53.543Z")  # endTime
    assert (action.service, action.stage, action.action, action.outcome) == (
        "MyLogicApp", "Http", "completed", "success")
    assert action.ids == ["logicapps.run:08587361146922712057", "correlation:ORD-4711-track",
                          "order:4711"]
    assert action.duration_ns == 110_000_000
    assert action.labels["logicapps_status"] == "Succeeded"
    # API Management: the gateway's reason is the error type; the code stays the status.
    assert (request.dataset, request.platform) == ("apigw.azure_apim", "apigw")
    assert request.message == "POST /orders/v1/orders?source=web 502"
    assert (request.outcome, request.error_class) == ("failure", "connectivity")
    assert (request.error_type, request.error_code) == ("BackendConnectionFailure", "502")
    assert request.error_message.startswith("The underlying connection was closed")
    assert request.duration_ns == 243_000_000 and request.labels["upstream_ms"] == "221"
    assert request.labels["api_id"] == "orders-api" and request.service == "orders-api"
    assert request.labels["vhost"] == "contoso.azure-api.net"
    assert request.ids == ["http.request:0d5e4c3b-9f1a-4b7e-8e2f-1a2b3c4d5e6f"]


def test_event_hub_batch_pretty_printed(parse_data):
    events, dead = parse_data("auto", "azure/eventhub-records.json")
    assert dead == []
    action, run = events
    assert (action.stage, action.action, action.outcome, action.level) == (
        "Send_email", "failed", "failure", "error")
    assert (action.error_code, action.error_class) == ("BadGateway", "connectivity")
    assert action.ids == ["logicapps.run:08587330013509921957",
                          "correlation:08587330013509921958"]
    # The run's own ID as client tracking ID is no correlation ID of its own.
    assert run.ids == ["logicapps.run:08587330013509921957"]
    assert run.stage is None and run.error_code == "ActionFailed"
    assert run.message == "JohnKemTestLA workflowRunCompleted Failed"


def test_pascal_case_gateway_properties_and_bad_records():
    old = ('{"time":"2018-01-01T00:00:00Z","category":"GatewayLogs","DurationMs":12,'
           '"properties":{"Method":"GET","Url":"https://x.azure-api.net/a","ResponseCode":200,'
           '"ApiId":"a"}}')
    (ev,) = azure.parse(Record(text=old), ParseContext())
    assert ev.message == "GET /a 200" and ev.duration_ns == 12_000_000
    assert ev.labels["api_id"] == "a"
    with pytest.raises(ParseError, match="category 'AuditEvent' is not WorkflowRuntime"):
        azure.parse(Record(text='{"category":"AuditEvent","properties":{}}'), ParseContext())
    with pytest.raises(ParseError, match=r"record \[1\] of 2: not a JSON object") as bad:
        azure.parse(Record(text='{"records":[' + old + ',3]}'), ParseContext())
    assert [e.message for e in bad.value.events] == ["GET /a 200"]  # the readable one is kept


def test_apim_logged_request_headers_give_their_ids(parse_data):
    """An X-Correlation-ID or traceparent among the headers the diagnostic setting logs is
    what the backend's own logs carry: it was dropped, and that hop joined no trace."""
    events, dead = parse_data("azure", "azure/apim-headers.json")
    assert dead == []
    (ev,) = events
    assert ev.ids == ["http.request:3f9a1c2e-7b4d-4e8f-9a0b-1c2d3e4f5a6b",
                      "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40",
                      "otel.trace:5b8efff798038103d269b633813fc60c"]
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert (ev.outcome, ev.error_code, ev.error_class) == ("failure", "504", "timeout")
