"""One UUID written in several platforms' forms is one message's ID and joins one trace.

Shapes: Mule 4's default log4j2 pattern (``[processor: ...; event: <correlation ID>]``, a Java
UUID: lower case, hyphenated; docs.mulesoft.com tuning-logging) sends its correlation ID on as
``X-Correlation-ID``; a .NET service behind it logs it as ``Guid.ToString("N")`` (plain hex)
or upper case, braced as BizTalk writes GUIDs. Before, each form was another ID: the .NET hops
made a second trace (or none joined the Mule one). Correlated into the real SQLite store.
"""

from __future__ import annotations

import http.client
import io
import urllib.parse

import orjson
import pytest
from correlate_support import correlated

from collector.api import Api
from collector.config import Api as ApiConfig
from collector.correlation.catalog import load_catalog
from collector.correlation.id_forms import canonical_uuid, with_canonical_forms
from collector.event import Event
from collector.explorer import queries
from collector.metrics import Registry
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from midwatch.cli import main

MULE = ("INFO  2026-12-07 07:00:0{n},123 [[MuleRuntime].uber.03: [orders-api].orders-flow"
        ".CPU_LITE @1a2b3c] [processor: orders-flow/processors/0; event: {corr}] "
        "org.mule.runtime.core.internal.processor.LoggerMessageProcessor: order received\n")
DOTNET = ('{{"timestamp":"2026-12-07T07:00:1{n}.000Z","level":"Information",'
          '"message":"{msg}","correlationId":"{corr}","orderId":"{order}"}}\n')
A = "6f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
B = "0b7e4c1a-1111-4222-9333-444455556666"


def _parsed(text: str, name: str) -> list[Event]:
    ctx = ParseContext(now_ms=1_796_000_000_000)
    return [e for e in parse_stream(io.BytesIO(text.encode()), name, "auto", ctx)
            if isinstance(e, Event)]


def test_a_uuid_in_dotnet_forms_joins_the_mule_trace_and_two_messages_stay_apart(tmp_path):
    mule = _parsed(MULE.format(n=0, corr=A) + MULE.format(n=1, corr=B), "mule.log")
    assert [e.ids for e in mule] == [[f"correlation:{A}"], [f"correlation:{B}"]]
    dotnet = _parsed(
        DOTNET.format(n=0, msg="mapped", corr=A.replace("-", ""), order="PO-1")
        + DOTNET.format(n=1, msg="posted", corr="{" + A.upper() + "}", order="PO-1")
        + DOTNET.format(n=2, msg="mapped", corr=B.upper(), order="PO-2"), "orders-svc.log")
    with correlated(tmp_path, mule + dotnet) as store:
        (one,) = store.find_traces(f"correlation:{A}")
        assert one.hop_count == 3
        assert {f"correlation:{A}", f"correlation:{A.replace('-', '')}", "order:PO-1"} \
            <= set(one.ids)
        # looked up by the form the .NET log shows, the same trace
        assert [t.trace_key for t in store.find_traces(f"correlation:{A.replace('-', '')}")] \
            == [one.trace_key]
        (two,) = store.find_traces(f"correlation:{B}")
        assert two.hop_count == 2 and two.trace_key != one.trace_key
        assert "order:PO-2" in two.ids and "order:PO-1" not in two.ids


def test_a_ws_addressing_urn_joins_the_rest_hop_that_logs_the_bare_uuid(tmp_path):
    # a WCF service logs the SOAP request's WS-Addressing MessageID, a URN (upper case as
    # some stacks write it), and calls the REST service behind it with the bare UUID as
    # X-Correlation-ID: one message, which made two traces (each form another ID)
    soap = _parsed(
        DOTNET.format(n=0, msg="SubmitOrder received", corr=f"urn:uuid:{A}", order="PO-1")
        + DOTNET.format(n=1, msg="SubmitOrder received", corr=f"URN:UUID:{B.upper()}",
                        order="PO-2"), "wcf.log")
    rest = _parsed(DOTNET.format(n=2, msg="posted", corr=A, order="PO-1")
                   + DOTNET.format(n=3, msg="posted", corr=B, order="PO-2"), "erp-bridge.log")
    with correlated(tmp_path, soap + rest) as store:
        (one,) = store.find_traces(f"correlation:urn:uuid:{A}")
        assert one.hop_count == 2 and f"correlation:{A}" in one.ids
        assert [t.trace_key for t in store.find_traces(f"correlation:{A}")] == [one.trace_key]
        (two,) = store.find_traces(f"correlation:{B}")
        assert two.hop_count == 2 and two.trace_key != one.trace_key
        assert "order:PO-1" not in two.ids
    assert canonical_uuid(f"urn:uuid:{A}") == canonical_uuid(f"URN:UUID:{A.upper()}") == A
    assert canonical_uuid("urn:uuid:00000000-0000-0000-0000-000000000000") is None  # nil
    assert canonical_uuid(f"urn:oid:{A}") is None


def test_only_uuids_get_a_second_form_and_w3c_trace_ids_never():
    assert canonical_uuid(A) is None  # already canonical
    assert canonical_uuid(A.upper()) == canonical_uuid(A.replace("-", "")) == A
    assert canonical_uuid("{" + A.upper() + "}") == canonical_uuid("{" + A + "}") == A
    # not UUIDs: a hyphen misplaced, no RFC version/variant (nginx's $request_id), the nil
    # UUID (a placeholder), case-sensitive order numbers
    for value in (A[:13] + A[14:] + "0", "0123456789abcdef0123456789abcdef",
                  "00000000-0000-0000-0000-000000000000", "ABC-1", "PO-4711"):
        assert canonical_uuid(value) is None, value
    ids = ["otel.trace:4bf92f3577b34da6a3ce929d0e0e4736", "order:ABC-1"]
    assert with_canonical_forms(ids) is ids
    assert with_canonical_forms([f"amqp.msg:{A.upper()}"]) == [f"amqp.msg:{A.upper()}",
                                                              f"amqp.msg:{A}"]


# Envoy's default access log format (envoyproxy.io, access logging: "%REQ(X-REQUEST-ID)%" is
# the ninth field): Envoy generates the X-Request-ID and forwards it; the Spring service
# behind it logs it from its MDC (logstash-logback-encoder writes MDC entries as top-level
# fields) as ``requestId``, or under the header's own name when a filter put it there so.
ENVOY = ('[2026-12-07T07:00:00.000Z] "POST /api/orders HTTP/1.1" 201 - 312 48 35 33 '
         '"10.0.0.5" "curl/8.4.0" "{rid}" "orders.internal" "10.0.1.7:8080"\n')
APP = ('{{"timestamp":"2026-12-07T07:00:0{n}.000Z","level":"INFO","message":"{msg}",'
       '"{field}":"{rid}","orderId":"{order}"}}\n')


@pytest.mark.parametrize("field", ["requestId", "X-Request-ID"])
def test_an_apps_request_id_joins_the_gateways_request(tmp_path, field):
    gateway = _parsed(ENVOY.format(rid=A) + ENVOY.format(rid=B), "envoy.log")
    assert [e.ids for e in gateway] == [[f"http.request:{A}"], [f"http.request:{B}"]]
    app = _parsed(APP.format(n=1, msg="order accepted", field=field, rid=A.upper(),
                             order="PO-1")
                  + APP.format(n=2, msg="order accepted", field=field, rid=B, order="PO-2"),
                  "orders.log")
    assert app[0].ids == [f"request:{A.upper()}", "order:PO-1"]
    with correlated(tmp_path, gateway + app) as store:
        (one,) = store.find_traces("order:PO-1")
        (two,) = store.find_traces("order:PO-2")
        assert one.hop_count == two.hop_count == 2 and one.trace_key != two.trace_key
        assert f"http.request:{A}" in one.ids and f"http.request:{B}" in two.ids


def test_two_amqp_messages_sharing_a_correlation_id_gain_no_shared_message_id():
    """Review G item 4: aliasing a RabbitMQ event's correlation ID as a message ID gave two
    messages with a hard-coded correlation ID one ``amqp.msg`` ID, so ``one_per_message:
    [amqp.msg]`` merged them. Now the message ID is also a correlation ID, not the reverse."""
    catalog = load_catalog({"ids": {"one_per_message": ["amqp.msg"]}, "flows": []})
    one = with_canonical_forms(["amqp.msg:m-1", "correlation:12345"], "rabbitmq")
    two = with_canonical_forms(["amqp.msg:m-2", "correlation:12345"], "rabbitmq")
    assert one == ["amqp.msg:m-1", "correlation:12345", "correlation:m-1"]
    assert [i for i in two if i.startswith("amqp.msg:")] == ["amqp.msg:m-2"]
    assert catalog.apart(one, two)
    assert with_canonical_forms(["correlation:m-1"], "rabbitmq") == ["correlation:m-1"]


def test_only_generated_looking_request_ids_also_join_as_gateway_request_ids():
    """Review G item 5: an app's own counter (``requestId: 7``) joined any gateway line
    whose request ID was 7."""
    assert with_canonical_forms(["request:7"]) == ["request:7"]
    assert with_canonical_forms(["request:ORD-2026-0001"]) == ["request:ORD-2026-0001"]
    rid = "0123456789abcdef0123456789abcdef"  # nginx's $request_id (no UUID version)
    assert with_canonical_forms([f"request:{rid}"]) == [f"request:{rid}",
                                                        f"http.request:{rid}"]


def test_label_ids_get_no_second_form():
    """Review G item 9: forms took room in every ID limit for labels too; only IDs that
    join messages get them."""
    catalog = load_catalog({"ids": {"labels": ["customer"]}, "flows": []})
    ids = [f"customer:{A.upper()}", f"order:{A.upper()}"]
    assert with_canonical_forms(ids, "", catalog.is_link) == [*ids, f"order:{A}"]


def test_a_uuid_asked_for_in_a_form_no_hop_wrote_finds_its_trace(tmp_path, capsys):
    # the Mule hops logged the correlation ID in lower case; the analyst pastes it as
    # BizTalk's admin console shows it (braced, upper case), as .NET's "N" form or as a URN:
    # "no trace" before, while the message's trace holds the same UUID
    mule = _parsed(MULE.format(n=0, corr=A) + MULE.format(n=1, corr=B), "mule.log")
    with correlated(tmp_path, mule) as store:
        (one,) = store.find_traces(f"correlation:{A}")
        forms = ["{" + A.upper() + "}", f"correlation:{A.replace('-', '')}",
                 f"urn:uuid:{A.upper()}"]
        for form in forms:
            assert [t.trace_key for t in queries.find(store, form)] == [one.trace_key], form
        api = Api(ApiConfig(listen=("127.0.0.1", 0)), store, Registry())
        api.server.serve_in_thread("api-test")
        try:
            for form in forms:
                conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
                conn.request("GET", "/api/traces/" + urllib.parse.quote(form, safe=""))
                resp = conn.getresponse()
                assert resp.status == 200, form
                assert orjson.loads(resp.read())["trace_key"] == one.trace_key
                conn.close()
        finally:
            api.close()
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {tmp_path / 'm.sqlite'}}}\n")
    assert main(["trace", forms[0], "-c", str(cfg)]) == 0
    assert capsys.readouterr().out.startswith(f"trace     {one.trace_key}\n")
    # an ID holding no UUID, or the nil one, is asked as typed only: still not found
    assert main(["trace", "{00000000-0000-0000-0000-000000000000}", "-c", str(cfg)]) == 1
