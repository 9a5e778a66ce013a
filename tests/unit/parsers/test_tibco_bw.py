"""TIBCO BusinessWorks engine logs: BW 5's own layout (dead-lettered before: no parser knew
it) and BW 6's logback lines of the engine (generic text before: no platform, job or app)."""

from __future__ import annotations

from collector.event import iso_to_ms
from collector.parsers import tibco_bw


def test_bw5_engine_log(parse_data):
    events, dead = parse_data("auto", "tibco-bw/bw5-engine.log")
    assert dead == []
    started, tracing, logged, failed, deferred = events
    assert {(e.dataset, e.platform) for e in events} == {("tibco.bw", "tibco")}
    assert started.timestamp_ms == iso_to_ms("2024-05-02T17:59:42.312Z")  # GMT -7
    assert started.service == "Order-Process"
    assert started.labels["event_code"] == "BWENGINE-300001" and started.error_code is None
    assert logged.message == "Received order PO-4711 from partner ACME"
    assert logged.labels["bw_activity"] == "Processes/Orders/ReceiveOrder.process/Log"
    assert logged.labels["bw_process"] == "ReceiveOrder.process"
    assert logged.ids == failed.ids == ["tibco.job:BW.Order-Process/Job-7000"]
    assert (failed.level, failed.error_code) == ("error", "BWENGINE-100034")
    assert failed.error_message == "Activity timed out waiting for a reply"
    assert failed.error_stack_trace.endswith("Activity.eval(Unknown Source)")
    assert failed.labels["bw_activity"] == "Processes/Orders/ReceiveOrder.process/Send to SAP"
    assert (deferred.level, deferred.error_code) == ("warn", "BWENGINE-300014")
    assert deferred.ids == ["tibco.job:BW.Order-Process/Job-7001"]


def test_bw6_appnode_log(parse_data):
    events, dead = parse_data("auto", "tibco-bw/bw6-appnode.log")
    assert dead == []
    resolved, started, logged, faulted, jetty = events
    assert [e.platform for e in events] == ["tibco"] * 4 + ["generic"]
    assert (started.service, started.labels["event_code"]) == ("orderapp", "TIBCO-THOR-FRWK-300006")
    assert logged.labels["thread"] == "bwEngThread:In-Memory Process Worker-1"
    assert logged.ids == ["order:PO-4711"]
    assert faulted.error_code == "TIBCO-BW-CORE-500050"
    assert faulted.ids == ["tibco.job:bw0a10114"]
    assert faulted.service == "orderapp"
    assert faulted.labels["bw_process"] == "orderapp.module.Process"
    assert faulted.error_type == "java.net.ConnectException"
    assert jetty.dataset == "generic.text"
    assert resolved.timestamp_ms == iso_to_ms("2024-05-02T10:11:10.101Z")


def test_detect_claims_only_bw_lines():
    assert tibco_bw.detect("2004 Jun 08 10:59:42:312 GMT -7 BW.Order-Process Info [BW-Core] "
                           "BWENGINE-300001 Process Engine version 5.2.0")
    assert tibco_bw.detect("2024-05-02 10:11:13,456 INFO  [bwEngThread:In-Memory Process "
                           "Worker-1] c.t.b.p.g.L.orderapp.module.Log - hello")
    assert not tibco_bw.detect("2024-05-02 10:11:15,002 WARN  [main] com.example.Foo - hello")
    assert not tibco_bw.detect("bwEngThread TIBCO-BW-CORE-500050 without a stamp")


def test_a_text_line_quoting_a_bw_code_stays_text(parse_text):
    """A Spring Boot and a Mule line that quote a partner's BW fault code (review R): under
    ``auto`` they were claimed by BW 6 detection and re-platformed as tibco, with a
    ``tibco.job`` ID taken from the quoted message. Only an engine thread or a code starting
    a logback message marks a BW 6 line."""
    lines = ("2024-05-02 10:11:14.567 ERROR 4711 --- [nio-8080-exec-1] c.e.orders.PartnerClient"
             "  : fault TIBCO-BW-CORE-500050 from order service, JobId [bw0a10114]\n"
             "2024-05-02 10:11:15,002 ERROR [[orders].http.requester.01] "
             "org.mule.runtime.core.internal.exception.OnErrorPropagateHandler - partner said "
             "TIBCO-BW-CORE-500050: The BW process [orderapp.module.Process] faulted\n")
    assert not any(tibco_bw.detect(line) for line in lines.splitlines())
    events, dead = parse_text("auto", lines)
    assert dead == [] and len(events) == 2
    assert [(e.platform, e.dataset) for e in events] == [("generic", "generic.text")] * 2
    assert all(e.ids == [] for e in events), [e.ids for e in events]
