"""Mule APIkit flow names (``post:\\orders:application\\json:order-api-config``) give the
event its service and route, so a catalog stage can match them (they gave no service.name).
Fixture shape: tests/data/mule/SOURCES.md."""

from __future__ import annotations

import pytest

from collector.correlation.catalog import load_catalog
from collector.parsers._apikit import route

CATALOG = load_catalog({"flows": [{"name": "order-api", "stages": [
    {"name": "order.failed", "terminal": "failure",
     "match": {"platform": "mulesoft", "service": "order-api", "level": "error"}},
    {"name": "order.received",
     "match": {"platform": "mulesoft", "service": "order-api",
               "labels": {"http_method": "POST", "route": "/orders"}}},
    {"name": "order.status_asked", "terminal": "success",
     "match": {"platform": "mulesoft", "service": "order-api",
               "labels": {"route": "/orders/{orderId}*"}}},
]}]})


@pytest.mark.parametrize("flow,expected", [
    ("post:\\orders:application\\json:order-api-config",
     ("POST", "/orders", "application/json", "order-api")),
    ("get:\\orders\\(orderId):order-api-config", ("GET", "/orders/{orderId}", None, "order-api")),
    ("put:\\orders\\(orderId)\\status:application\\json:order-api-config",
     ("PUT", "/orders/{orderId}/status", "application/json", "order-api")),
    ("get:\\tasks:to-do-task-management-api-config",
     ("GET", "/tasks", None, "to-do-task-management-api")),
    ("get:\\:api-config", ("GET", "/", None, "api")),
])
def test_apikit_names_are_read_as_routes(flow, expected):
    r = route(flow)
    assert r is not None and (r.method, r.path, r.media_type, r.api) == expected


@pytest.mark.parametrize("flow", ["order-main", "create-order-flow", "post:orders", "a:b:c"])
def test_other_flow_names_are_not_routes(flow):
    assert route(flow) is None


def test_apikit_flows_get_service_and_route_and_match_catalog_stages(parse_data):
    events, dead = parse_data("mule", "mule/apikit-flows.log")
    assert not dead and len(events) == 5
    assert {e.service for e in events} == {"order-api"}
    received, implementation, asked, failed, status = events
    assert (received.labels["http_method"], received.labels["route"],
            received.labels["media_type"]) == ("POST", "/orders", "application/json")
    # a flow-ref'd implementation flow runs on the APIkit flow's thread: same route
    assert implementation.labels["processor"].startswith("create-order-flow/")
    assert implementation.labels["route"] == "/orders"
    assert failed.error_type == "HTTP:CONNECTIVITY" and failed.labels["route"] == "/orders/{orderId}"
    # no app in the thread name (a listener thread): the router config names the API
    assert status.labels["thread"] == "http.listener.02 SelectorRunner"
    assert status.labels["route"] == "/orders/{orderId}/status"
    stages = [CATALOG.classify(e) for e in events]
    assert stages == [("order-api", "order.received"), ("order-api", "order.received"),
                      ("order-api", "order.status_asked"), ("order-api", "order.failed"),
                      ("order-api", "order.status_asked")]


def test_the_json_logger_location_of_an_apikit_flow_gives_the_route():
    from collector.event import Event
    from collector.parsers._base import ParseContext
    from collector.parsers.mule_json import apply_doc

    ev = Event(0, "mulesoft.json_logger", "mulesoft")
    apply_doc(ev, {"correlationId": "c-1", "message": "start", "locationInfo": {
        "rootContainer": "post:\\orders:application\\json:order-api-config",
        "component": "json-logger:logger"}}, ParseContext())
    assert (ev.service, ev.labels["route"], ev.labels["http_method"]) == (
        "order-api", "/orders", "POST")
