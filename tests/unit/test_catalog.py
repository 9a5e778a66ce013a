"""The flow catalog: classification of realistic events, the ID policy, and validation errors
that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.correlation.catalog import UNKNOWN_FLOW, build_catalog, empty_catalog, load_catalog
from collector.event import Event
from collector.yamlconf import ConfigError, load, loads

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "flows.example.yaml"


@pytest.fixture(scope="module")
def catalog():
    return build_catalog(load(EXAMPLE))


def ev(platform: str, **kw) -> Event:
    return Event(timestamp_ms=1_700_000_000_000, dataset=f"{platform}.test", platform=platform,
                 **kw)


@pytest.mark.parametrize(("event", "expected"), [
    (ev("apigw", labels={"url_path": "/api/orders/4711"}), ("order-to-cash", "api.received")),
    (ev("apigw", labels={"url_path": "/api/customers/1"}), (UNKNOWN_FLOW, None)),
    (ev("mulesoft", service="order-sync-v2", level="info"), ("order-to-cash", "mule.transformed")),
    (ev("mulesoft", service="order-sync-v2", level="error"), ("order-to-cash", "mule.failed")),
    (ev("kafka", labels={"kafka_topic": "orders.v1"}), ("order-to-cash", "kafka.published")),
    (ev("kafka", labels={"kafka_topic": "invoices"}), (UNKNOWN_FLOW, None)),
    (ev("boomi", service="Orders to ERP (prod)", outcome="failure", error_class="mapping"),
     ("order-to-cash", "boomi.mapping_failed")),
    (ev("boomi", service="Orders to ERP (prod)", outcome="failure", error_class="connectivity"),
     ("order-to-cash", "boomi.processed")),
    (ev("generic", service="sap-bridge", action="delivered"), ("order-to-cash", "erp.posted")),
    (ev("edi", action="sent", labels={"x12_transaction_set": "850"}),
     ("edi-850-outbound", "edi.850.sent")),
    # a 997 carries the acknowledged set's ST01 too: the ack rule must win
    (ev("edi", action="acknowledged",
        labels={"x12_transaction_set": "850", "x12_ack_type": "997"}),
     ("edi-850-outbound", "edi.997.received")),
    (ev("generic", service="sap-bridge", message="Sales order 90001 created"),
     ("edi-850-inbound", "erp.order_created")),
])
def test_classify_example_catalog(catalog, event, expected):
    assert catalog.classify(event) == expected


def test_classify_keeps_a_flow_a_parser_mapping_gave(catalog):
    assert catalog.classify(ev("generic", flow="billing")) == ("billing", None)


def test_classify_is_pure(catalog):
    e = ev("apigw", labels={"url_path": "/api/orders/1"})
    catalog.classify(e)
    assert e.flow is None and e.stage is None


def test_flow_level_match_without_stage_match():
    cat = load_catalog({"flows": [{"name": "acme", "match": {"partner": "ACME"},
                                   "stages": [{"name": "done", "terminal": "success",
                                               "match": {"action": "delivered"}}]}]})
    assert cat.classify(ev("edi", partner="ACME", action="received")) == ("acme", None)
    assert cat.classify(ev("edi", partner="ACME", action="delivered")) == ("acme", "done")
    assert cat.classify(ev("edi", partner="OTHER", action="delivered")) == (UNKNOWN_FLOW, None)


def test_rules_looked_up_by_platform_keep_file_order():
    """Stage rules are tried by the event's platform; the first matching rule in file order
    still wins, whichever rules name a platform, name one by glob, or name none."""
    cat = load_catalog({"flows": [
        {"name": "a", "stages": [
            {"name": "any-failure", "terminal": "failure", "match": {"outcome": "failure"}},
            {"name": "mule", "terminal": "success", "match": {"platform": ["mulesoft", "ace"]}},
        ]},
        {"name": "b", "match": {"platform": "boomi"}, "stages": [
            {"name": "both", "terminal": "success",
             "match": {"platform": ["boomi", "mulesoft"], "action": "sent"}},
        ]},
        {"name": "c", "stages": [
            {"name": "globbed", "terminal": "success", "match": {"platform": "rabbit*"}},
        ]},
    ]})
    assert cat.classify(ev("mulesoft", outcome="failure")) == ("a", "any-failure")
    assert cat.classify(ev("ace")) == ("a", "mule")
    assert cat.classify(ev("boomi", action="sent")) == ("b", "both")
    assert cat.classify(ev("boomi")) == ("b", None)  # the flow's own match
    assert cat.classify(ev("mulesoft", action="sent")) == ("a", "mule")  # b needs boomi
    assert cat.classify(ev("rabbitmq")) == ("c", "globbed")
    assert cat.classify(ev("kafka", outcome="failure")) == ("a", "any-failure")
    assert cat.classify(ev("kafka")) == (UNKNOWN_FLOW, None)


def test_message_regex_and_id_conditions():
    cat = load_catalog({"flows": [{"name": "f", "stages": [
        {"name": "s", "terminal": "success",
         "match": {"message": r"IDoc \d+ posted", "id": ["boomi.exec", "order"]}}]}]})
    hit = ev("boomi", message="IDoc 123 posted", ids=["boomi.exec:e-1"])
    assert cat.classify(hit) == ("f", "s")
    assert cat.classify(ev("boomi", message="IDoc 123 posted")) == (UNKNOWN_FLOW, None)
    assert cat.classify(ev("boomi", message="IDoc x posted", ids=["order:1"])) == (UNKNOWN_FLOW, None)


def test_id_policy(catalog):
    assert catalog.is_link("correlation:6f1c")
    assert catalog.is_link("x12.st:ACME:ME:17:0001")
    assert not catalog.is_link("x12.gs:ACME:ME:17")
    assert not catalog.is_link("batch:2024-01-01")
    only = load_catalog({"ids": {"link": ["order"]}})
    assert only.is_link("order:1") and not only.is_link("correlation:1")
    assert load_catalog(None).is_link("correlation:1")
    assert not load_catalog(None).is_link("x12.isa:A:B:000000001")


def test_flow_sla_and_terminals(catalog):
    flow = catalog.flow("order-to-cash")
    assert flow.sla_ms == 15 * 60_000
    assert flow.terminal("erp.posted") == "success"
    assert flow.terminal("boomi.mapping_failed") == "failure"
    assert flow.terminal("kafka.published") is None
    assert catalog.flow("nope").sla_ms == 3_600_000
    assert catalog.flow(None).name == UNKNOWN_FLOW


def test_catalog_from_a_file_path(tmp_path):
    f = tmp_path / "flows.yaml"
    f.write_text(EXAMPLE.read_text())
    assert set(load_catalog(str(f)).flows) == {"order-to-cash", "edi-850-outbound",
                                               "edi-850-inbound"}


BAD = [
    ("flows:\n  - name: a\n    slaa: 5m\n", 3, "flows.0.slaa", "did you mean 'sla'"),
    ("flows:\n  - name: a\n    sla: soon\n", 3, "flows.0.sla", "expected a duration"),
    ("flows:\n  - name: a\n    stages:\n      - name: s\n        terminal: sucess\n"
     "        match: {platform: x}\n", 5, "flows.0.stages.0.terminal", "did you mean 'success'"),
    ("flows:\n  - name: a\n    stages:\n      - name: s\n        terminal: success\n"
     "        match: {platfrom: x}\n", 6, "flows.0.stages.0.match.platfrom",
     "did you mean 'platform'"),
    ("flows:\n  - name: a\n    stages:\n      - name: s\n        terminal: success\n"
     "        match: {message: '(unclosed'}\n", 6, "flows.0.stages.0.match.message",
     "invalid regular expression"),
    ("flows:\n  - name: a\n    stages:\n      - name: s\n        match: {platform: x}\n", 3,
     "flows.0.stages", "no terminal success stage"),
    ("flows:\n  - name: a\n  - name: a\n", 3, "flows.1.name", "defined twice"),
    ("ids:\n  labels: [x12.gs:1]\n", 2, "ids.labels", "typed ID, not a type"),
    ("ids:\n  link: [order]\n  labels: [order]\n", 3, "ids.labels", "both a link and a label"),
    ("ids:\n  max_trace_ids: 1\n", 2, "ids.max_trace_ids", ">= 2"),
    ("ids:\n  join_window: soon\n", 2, "ids.join_window", "expected a duration"),
    ("ids:\n  join_window: {http.request: 0s}\n", 2, "ids.join_window.http.request",
     "longer than zero"),
    ("ids:\n  join_window: {x12.st:1: 1h}\n", 2, "ids.join_window.x12.st:1", "not an ID type"),
    ("flows:\n  - name: a\n    stages:\n      - name: s\n        terminal: success\n"
     "        match: {}\n", 6, "flows.0.stages.0.match", "every event"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BAD)
def test_validation_errors_name_file_line_and_key(text, line, key, words):
    with pytest.raises(ConfigError) as err:
        build_catalog(loads(text, "flows.yaml"))
    e = err.value
    assert (e.file, e.line, e.key) == ("flows.yaml", line, key)
    assert words in str(e)


def test_inline_section_errors_keep_the_config_positions():
    doc = loads("store: {}\nflows:\n  default_sla: 2h\n  flows:\n    - name: a\n"
                "      sla: never\n", "midwatch.yaml")
    with pytest.raises(ConfigError) as err:
        load_catalog(doc.data["flows"], doc, ("flows",))
    assert str(err.value).startswith("midwatch.yaml:6:")
    assert err.value.key == "flows.flows.0.sla"
    listed = loads("flows:\n  - name: a\n    sla: 2h\n  - nam: b\n", "midwatch.yaml")
    with pytest.raises(ConfigError) as err:
        load_catalog(listed.data["flows"], listed, ("flows",))
    assert (err.value.line, err.value.key) == (4, "flows.1.nam")


def test_join_windows_default_per_id_kind_and_can_be_set():
    """Request IDs repeat within minutes, EDI set controls with the next interchange, an
    acknowledgement answers days later; a configured kind overrides only itself."""
    from collector.correlation.catalog import DEFAULT_JOIN_WINDOWS_MS
    built = build_catalog(loads("flows: []\n", "flows.yaml"))
    assert built.join_windows_ms == DEFAULT_JOIN_WINDOWS_MS
    assert built.join_window_ms("http.request:r-1", ack=False) == 15 * 60_000
    assert built.join_window_ms("order:4711", ack=False) == 86_400_000
    assert built.join_window_ms("x12.st:A:B:1:0001", ack=True) == 7 * 86_400_000
    custom = build_catalog(loads("ids:\n  join_window: {default: 3d, order: 30d, ack: 2d}\n",
                                 "flows.yaml"))
    assert custom.join_window_ms("correlation:c", ack=False) == 3 * 86_400_000
    assert custom.join_window_ms("order:1", ack=True) == 30 * 86_400_000  # the longer
    assert custom.join_window_ms("x12.st:A:B:1:1", ack=True) == 2 * 86_400_000
    assert custom.join_window_ms("http.request:r", ack=False) == 15 * 60_000
    one = build_catalog(loads("ids:\n  join_window: 12h\n", "flows.yaml"))
    assert one.join_window_ms("correlation:c", ack=False) == 12 * 3_600_000
    assert one.join_window_ms("http.request:r", ack=False) == 12 * 3_600_000
    assert one.join_window_ms("x12.st:A:B:1:1", ack=True) == 7 * 86_400_000


def test_edi_documents_under_one_control_number_are_apart_by_their_business_keys():
    """A reused ST02/UNH 0062 with other business keys is another document; the same keys (a
    re-sent document) or no shared control ID (two orders joined by other IDs) are not."""
    catalog = empty_catalog()
    st = "x12.st:US>P:1:0001"
    assert catalog.apart([st, "order:PO-2"], [st, "order:PO-1", "x12.gs:US>P:1"])
    assert catalog.apart(["edifact.unh:US>P:7:1", "invoice:I-2"],
                         ["edifact.unh:US>P:7:1", "invoice:I-1", "order:PO-1"])
    assert not catalog.apart([st, "order:PO-1"], [st, "order:PO-1"])
    assert not catalog.apart([st, "order:PO-1"], [st])  # its 997 holds no business key
    assert not catalog.apart([st, "shipment:S-1"], [st, "order:PO-1"])  # no kind in common
    assert not catalog.apart(["x12.st:US>P:1:0002", "order:PO-2"], [st, "order:PO-1"])


def test_a_trace_list_that_grows_an_edi_control_id_is_looked_at_again():
    """``apart`` remembers whether a long ID list (a trace's) holds an EDI control ID, which
    made trace-vs-trace calls ~5x cheaper; the answer must follow the list as it grows (an
    850 joining a trace of other IDs later) and not outlive it. Passes on the old code too:
    it guards the memo, whose behaviour must be the old one's."""
    catalog = empty_catalog()
    st = "x12.st:US>P:1:0001"
    a = [f"jms.message:ID:{n}" for n in range(20)] + ["order:PO-2"]
    b = [f"mq.msgid:{n}" for n in range(20)] + ["order:PO-1"]
    assert not catalog.apart(a, b)  # remembered: no EDI control ID in the shorter
    a.append(st)
    b.append(st)
    assert catalog.apart(a, b), "same lists, longer: asked again"
    a2 = list(a)
    assert catalog.apart(a2, b) and not catalog.apart(a2[:-1], b)
