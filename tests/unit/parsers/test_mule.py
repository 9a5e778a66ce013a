import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector import native
from collector.event import Record, iso_to_ms
from collector.parse import parse_stream
from collector.parsers import mule
from collector.parsers._base import ParseContext, ParseError

DATA = Path(__file__).resolve().parents[2] / "data"

CORR = "correlation:6f1c2e40-d7a1-11ee-9a3c-0242ac120002"


def test_default_pattern_lines_carry_correlation_processor_and_app(parse_data):
    events, dead = parse_data("mule", "mule/app-runtime.log")
    assert dead == []
    assert len(events) == 6
    first = events[0]
    assert first.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.123Z")
    assert first.level == "info" and first.action == "logged"
    assert first.ids == [CORR] and first.message_id == CORR
    assert first.service == "order-api"
    assert first.labels["processor"] == "order-main/processors/0"
    assert first.labels["mule_flow"] == "order-main"
    assert first.message == "Received order 4711 from partner ACME"


def test_short_event_variant_and_redaction(parse_data):
    events, _ = parse_data("mule", "mule/app-runtime.log")
    second = events[1]
    assert second.ids == [CORR]
    assert "processor" not in second.labels
    assert "jane.doe@example.com" not in second.message
    assert "4111 1111 1111 1111" not in second.message
    assert "[card:" in second.message and "[email:" in second.message


def test_error_block_gives_error_type_code_and_class(parse_data):
    events, _ = parse_data("mule", "mule/app-runtime.log")
    err = events[3]
    assert err.level == "error" and err.outcome == "failure" and err.action == "failed"
    assert err.error_type == "HTTP:CONNECTIVITY" and err.error_code == "CONNECTIVITY"
    assert err.error_message.startswith("HTTP POST on resource")
    assert err.error_class == "connectivity"
    assert err.labels["mule_element"].startswith("order-main/processors/2 @ order-api")
    assert err.signature and len(err.signature) == 16
    assert err.labels["signature_template"] == "HTTP POST on resource '<str>' failed: Connection refused."


def test_dataweave_message_spans_lines_and_classifies_as_mapping(parse_data):
    events, _ = parse_data("mule", "mule/app-runtime.log")
    dw = events[5]
    assert dw.error_type == "MULE:EXPRESSION"
    assert "payload.amount as Number" in dw.error_message
    assert dw.error_class == "mapping"
    assert dw.labels["mule_flow"] == "invoice-sync"


def test_empty_event_context_gives_no_ids(parse_data):
    events, _ = parse_data("mule", "mule/app-runtime.log")
    assert events[4].message == "Heartbeat ok" and events[4].ids == []


def test_banners_are_platform_health_not_errors(parse_data):
    events, dead = parse_data("mule", "mule/mule_ee.log")
    assert dead == []
    lifecycle = [(e.service, e.labels.get("mule_lifecycle"), e.outcome) for e in events
                 if "mule_lifecycle" in e.labels]
    assert lifecycle == [
        ("order-api", "started", "success"),
        ("billing-api", "failed", "failure"),
        ("order-api", "deployed", "success"),
        ("billing-api", "failed", "failure"),
    ]
    started = next(e for e in events if e.labels.get("mule_lifecycle") == "started")
    assert started.level == "info" and started.error_class is None


def test_classic_layout_and_java_stack_trace(parse_data):
    events, _ = parse_data("mule", "mule/mule_ee.log")
    warn = next(e for e in events if e.level == "warn")
    assert warn.message.startswith("Connection reset by peer")
    assert warn.labels["logger"].endswith("GrizzlyServerManager")
    timeout = events[-1]
    assert timeout.error_type == "java.util.concurrent.TimeoutException"
    assert timeout.error_stack_trace.count("\tat ") == 2
    assert timeout.error_class == "timeout"
    assert timeout.service == "order-api"


def test_malformed_records_are_dead_lettered_or_flagged(parse_data):
    events, dead = parse_data("mule", "mule/malformed.log")
    reasons = [(d.line, d.reason.split(":")[0]) for d in dead]
    assert reasons == [(1, "parse_error"), (4, "parse_error")]
    assert "JsonLogger" in dead[1].reason
    impossible = events[0]
    assert impossible.timestamp_estimated and impossible.timestamp_ms == 1_709_900_000_000


def test_json_logger_inside_runtime_log(parse_data):
    events, _ = parse_data("mule", "mule/malformed.log")
    jl = events[-1]
    assert jl.dataset == "mulesoft.jsonlogger"
    assert jl.action == "delivered" and jl.outcome == "unknown"  # the content says nothing
    assert jl.duration_ns == 1843 * 1_000_000
    assert "order:4711" in jl.ids and jl.message == "Order sent to SAP"
    assert jl.labels["mule_location"] == "order-api.xml:31"


def test_default_zone_applies_to_log4j_dates(parse_data):
    from zoneinfo import ZoneInfo

    events, _ = parse_data("mule", "mule/app-runtime.log", tz=ZoneInfo("Europe/Berlin"))
    assert events[0].timestamp_ms == iso_to_ms("2024-03-01T09:15:32.123Z")


def test_a_pattern_without_the_logger_category():
    """Mule 4.2 in Studio (solace-iot-team samples): ``[event: ...]`` then the message."""
    line = ("INFO  2020-07-23 13:35:50,946 [[MuleRuntime].cpuLight.15: "
            "[jsonmessage].jsonListenerFlow.CPU_LITE @560e1345] "
            "[event: 0ad1a200-cce1-11ea-86ea-f018982a62eb] greeting to: solace")
    (ev,) = mule.parse(Record(text=line, source="mule.log"), ParseContext())
    assert ev.message == "greeting to: solace"
    assert ev.ids == ["correlation:0ad1a200-cce1-11ea-86ea-f018982a62eb"]
    assert (ev.service, ev.labels["mule_flow"]) == ("jsonmessage", "jsonListenerFlow")
    assert "logger" not in ev.labels


def test_mdc_logging_context_layout_gives_correlation_processor_and_variables(parse_data):
    """The ``[%MDC]`` layout of the Mule 4.4 logging-context docs (mulesoft/docs-mule-runtime
    PR 1915, logging-mdc.adoc) printed the whole MDC; the thread swallowed it and the
    correlation ID was lost. Second line: the default layout (PR 1860, correlation-id.adoc)."""
    events, dead = parse_data("mule", "mule/mdc-logging-context.log")
    assert dead == []
    mdc, default = events
    assert mdc.ids == ["correlation:c85e16c0-98a4-11eb-bc34-cac765a2219b"]
    assert mdc.labels["thread"] == "[MuleRuntime].uber.15: [test-project-app].exmapleFlow.CPU_LITE @18f679"
    assert (mdc.labels["processor"], mdc.labels["mule_flow"]) == (
        "exmapleFlow/processors/2", "exmapleFlow")
    assert mdc.labels["testvar"] == "testValue" and mdc.message == "Example"
    assert mdc.labels["logger"].endswith("LoggerMessageProcessor")
    assert default.ids == ["correlation:bad0e5b0-9191-11eb-a0b3-36548d51aeee"]
    assert default.labels["processor"] == "example/processors/3"


def test_mule3_thread_names_give_the_application_as_service(parse_data):
    """Mule 3 names an app only in its threads' ``[app].`` prefix: the service Mule 4's
    ``[app].flow.CPU_LITE`` gives, from listener, SEDA-stage and transport threads alike."""
    events, dead = parse_data("mule", "mule/mule3-app.log")
    assert dead == []
    assert [e.service for e in events] == ["orders-app"] * 4
    assert [e.labels["thread"] for e in events[:3]] == [
        "[orders-app].HTTP_Listener_Configuration.worker.01", "[orders-app].ordersFlow.stage1.02",
        "[orders-app].connector.http.mule.default.receiver.01"]
    assert events[0].message == "Received order 4711 from partner ACME"
    err = events[3]
    assert err.level == "error" and err.outcome == "failure"
    assert err.error_message == "Error sending HTTP request. Message payload is of type: String"
    assert err.labels["mule_element"].startswith("/ordersFlow/processors/2 @ orders-app")


@pytest.mark.parametrize("native_on", [True, False])
def test_mule3_flow_from_its_stage_thread_and_error_element(parse_text, native_on):
    """Mule 3 runs a flow on ``[app].<flow>.stage1.02`` threads, and its error block names the
    element ``/<flow>/processors/n``: both give the flow (neither did). The native reader,
    built before, leaves these records to the Python parser: a file long enough for it to
    take batches reads the same with it as without."""
    text = (DATA / "mule" / "mule3-app.log").read_text() * 50
    before = native.use(native_on)
    try:
        events, dead = parse_text("mule", text)
    finally:
        native.use(before)
    assert dead == []
    assert [e.labels.get("mule_flow") for e in events] == [None, "ordersFlow", None,
                                                          "ordersFlow"] * 50


def test_mule4_pool_thread_without_an_app_names_no_service():
    line = ("INFO  2024-03-01 10:15:32,123 [[MuleRuntime].uber.03] "
            "org.mule.runtime.core.internal.processor.LoggerMessageProcessor: hello")
    (ev,) = mule.parse(Record(line), ParseContext())
    assert ev.labels["thread"] == "[MuleRuntime].uber.03"
    assert ev.service is None


@pytest.mark.parametrize(("thread", "app"), [
    # A message source's thread, as a public deployment log prints it after the DEPLOYED table.
    ("[MuleRuntime].uber.01: [american-flights-system-app-1.0.0-SNAPSHOT-mule-application].uber@"
     "org.mule.runtime.module.extension.internal.runtime.source.ExtensionMessageSource."
     "lambda$reallyDoStart$17:462 @65487513", "american-flights-system-app-1.0.0-SNAPSHOT-mule-application"),
    ("[MuleRuntime].uber.03: [order-api].main", "order-api"),
    ("[MuleRuntime].cpuLight.15: [order-api].http.requester.HTTP_Request_configuration @3a4b",
     "order-api"),
])
def test_mule4_pool_thread_without_a_pool_suffix_names_its_app(thread, app):
    """The pool's name then ``[app].`` and no ``.CPU_LITE``-like suffix: the app is still the
    service (the last note's gap: these lines joined no service's panels)."""
    line = (f"INFO  2023-12-22 15:02:53,297 [{thread}] [processor: ; event: ] "
            "org.mule.runtime.module.extension.internal.runtime.source.ExtensionMessageSource: "
            "Message source 'listener' on flow 'orders' successfully started")
    (ev,) = mule.parse(Record(line), ParseContext())
    assert ev.service == app
    assert "mule_flow" not in ev.labels


def test_cloudhub_appender_layout_reads_like_the_default_one(parse_data):
    """``[%d{MM-dd HH:mm:ss}] %-5p %c{1} [%t]: %m%n``: the app and flow from the thread, the
    error block, and a year: the latest that does not put the line in the future."""
    events, dead = parse_data("mule", "mule/cloudhub-appender.log")  # read on 2024-03-08
    assert dead == []
    assert len(events) == 4
    first, warn, err, last = events
    assert first.timestamp_ms == iso_to_ms("2024-03-01T10:15:32Z")
    assert not first.timestamp_estimated
    assert first.service == "orders-app" and first.labels["mule_flow"] == "ordersFlow"
    assert first.labels["logger"] == "LoggerMessageProcessor"
    assert first.message == "Received order 4711 from partner ACME"
    assert warn.level == "warn"
    assert err.level == "error" and err.error_type == "HTTP:CONNECTIVITY"
    assert err.error_class == "connectivity"
    assert last.message == "Status asked for order 4711"
    # read on 28 February, "03-01" is last year's
    (before,) = mule.parse(Record("[03-01 10:15:32] INFO  C [main]: x"),
                           ParseContext(now_ms=iso_to_ms("2024-02-28T00:00:00Z")))
    assert before.timestamp_ms == iso_to_ms("2023-03-01T10:15:32Z")


def test_cloudhub_appender_line_just_after_new_year_is_next_years():
    """Read at 23:59:50 on Dec 31, ``[01-01 00:00:20]`` is a clock a few seconds ahead (the
    coming year), not January of the year ending; the year is the reader's in the zone."""
    eve = ParseContext(now_ms=iso_to_ms("2026-12-31T23:59:50Z"))
    (ev,) = mule.parse(Record("[01-01 00:00:20] INFO  C [main]: x"), eve)
    assert ev.timestamp_ms == iso_to_ms("2027-01-01T00:00:20Z")
    berlin = ParseContext(now_ms=iso_to_ms("2026-12-31T23:31:00Z"), tz=ZoneInfo("Europe/Berlin"))
    (ev,) = mule.parse(Record("[01-01 00:30:00] INFO  C [main]: x"), berlin)
    assert ev.timestamp_ms == iso_to_ms("2026-12-31T23:30:00Z")


def test_cloudhub_appender_layout_is_detected():
    assert mule.detect("[03-01 10:15:32] INFO  LoggerMessageProcessor [main]: x")
    assert mule.detect("[03-01 10:15:32] WARNING C [main]: x")
    assert not mule.detect("[2024-03-01 10:15:32,123] INFO Kafka line (kafka.server.KafkaServer)")
    # the stamp and level alone are any logger's: no class, thread and colon, not Mule's
    for line in ("[12-07 10:00:00] INFO  Server started on port 8080",
                 "[12-07 10:00:02] ERROR could not reach db"):
        assert not mule.detect(line), line


def test_generic_bracketed_stamp_lines_are_no_parsers_in_auto_mode():
    """``[MM-dd HH:mm:ss] LEVEL msg`` of some other app: before, Mule claimed it and
    dead-lettered it as "not a Mule log4j line", a misleading error."""
    data = b"[12-07 10:00:00] INFO  Server started on port 8080\n[12-07 10:00:02] ERROR db down\n"
    items = list(parse_stream(io.BytesIO(data), "app.log", "auto", ParseContext()))
    assert [i.reason for i in items] == ["no_parser: no parser recognizes this line"] * 2


def test_a_broken_cloudhub_line_says_which_layout_was_expected():
    with pytest.raises(ParseError, match=r"\[MM-dd HH:mm:ss\] LEVEL Class \[thread\]: message"):
        mule.parse(Record("[03-01 10:15:32] INFO  no thread here"), ParseContext())


def test_pool_thread_fixture_names_each_app(parse_data):
    events, dead = parse_data("mule", "mule/pool-threads.log")
    assert dead == []
    app = "american-flights-system-app-1.0.0-SNAPSHOT-mule-application"
    assert [ev.service for ev in events] == [app, app, app, None]
    assert events[1].labels["mule_flow"] == "american-flights-system-app-main"
    assert events[2].ids == ["correlation:7e1d2c30-a0f1-11ee-8c90-0242ac120002"]
