"""The demo's scenario parses as the real formats, and the demo leaves an alert history behind
(SQLite, no services): alerts fired and resolved along the timeline, would_page records, and
alerts still open at the end."""

from __future__ import annotations

import io

from collector.event import DeadLetter
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store.base import Filter, MetricQuery
from midwatch.demo.alerts import QUIET_STEP_MS, STEP_MS, WOULD_PAGE, ticks
from midwatch.demo.run import run_demo
from midwatch.demo.scenario import MIN, OWN_EDI_ID, build

NOW = 1_800_000_000_000


def _parse(sc, name: str):
    fmt, text = sc.files[name]
    ctx = ParseContext(edi_own_ids=frozenset({OWN_EDI_ID}))
    out = list(parse_stream(io.BytesIO(text.encode()), name, fmt, ctx))
    assert not [d for d in out if isinstance(d, DeadLetter)], name
    return out


def test_globex_997s_reject_exactly_the_sets_the_scenario_lists():
    sc = build(7, 50, NOW)
    rejected = [e for e in _parse(sc, "edi-inbound.edi") if e.action == "rejected"]
    found = sorted((int(e.labels["x12_gs06"]), e.labels.get("x12_st02", "")) for e in rejected)
    assert found == sorted(sc.rejected) == [(1002, "0002"), (1004, ""), (1004, "0001"),
                                            (1004, "0002"), (1004, "0003")]
    assert {e.partner for e in rejected} == {"GLOBEX"}


def test_broker_logs_are_read_by_the_broker_parsers_with_their_conditions():
    sc = build(7, 50, NOW)
    kafka = _parse(sc, "kafka-server.log")
    rabbit = _parse(sc, "rabbit@mq-01.log")
    assert {e.labels.get("kafka_condition") for e in kafka} >= {"isr_shrink", "not_leader",
                                                               "rebalance"}
    assert {e.labels.get("rabbitmq_condition") for e in rabbit} >= {
        "resource_alarm", "connection_lost", "auth_failed", "resource_alarm_cleared"}
    trouble = [e for e in kafka + rabbit if e.level in ("warn", "error")]
    assert len(trouble) == 3 + 1 + 5 * 2  # what the demo test expects on the Platforms board


def test_ticks_are_step_boundaries_before_now_sparser_before_the_traffic():
    assert ticks(10 * MIN + 1, 0, 26 * MIN) == [15 * MIN, 20 * MIN, 25 * MIN]
    assert ticks(10 * MIN, 0, 15 * MIN) == []
    assert ticks(1 * MIN, 50 * MIN, 66 * MIN) == [5 * MIN, 20 * MIN, 35 * MIN, 50 * MIN,
                                                  55 * MIN, 60 * MIN, 65 * MIN]
    assert STEP_MS == 5 * MIN and QUIET_STEP_MS == 15 * MIN


def test_demo_leaves_fired_resolved_and_open_alerts_in_the_store(tmp_path):
    from collector.config import load_config

    r = run_demo(tmp_path, messages=120, now_ms=NOW)
    h = r.history
    assert h.evaluations >= 45 and h.fired > h.resolved >= 5 and h.pages.count >= h.fired
    store = load_config(r.config).open_store()
    try:
        rows = store.metric(MetricQuery("alerts", NOW - 7 * 60 * MIN, NOW + 1,
                                        group_by=("state",)))
        by_state = {row.group["state"]: row.count for row in rows}
        open_alerts = {rule: sorted(doc["alerts"]) for rule, doc in
                       store.get_state("alerts").items()}
        pages = store.metric(MetricQuery("alerts", NOW - 7 * 60 * MIN, NOW + 1,
                                         filters=(Filter("state", "eq", WOULD_PAGE),),
                                         group_by=("action",)))
    finally:
        store.close()
    assert by_state["firing"] == h.fired and by_state["resolved"] == h.resolved
    assert by_state[WOULD_PAGE] == h.pages.count
    assert {row.group["action"] for row in pages} == {"firing", "resolved"}
    # still firing at the end, persisted as `midwatch run` would leave it
    assert {"stuck-messages", "edi-997-overdue"} <= set(open_alerts)
    assert len(r.alerts) == sum(len(keys) for keys in open_alerts.values())


def test_probe_readings_tell_the_incidents_of_the_logs():
    from midwatch.demo.probes import readings
    from midwatch.demo.scenario import KAFKA_INCIDENT_MIN, RABBIT_INCIDENT_MIN, window

    start, now = window(NOW)
    events = readings(7, start, now)
    assert events == readings(7, start, now)  # deterministic, IDs included

    def values(metric, **labels):
        return {(e.timestamp_ms - start) // MIN: e.probe_value for e in events
                if e.labels["probe.metric"] == metric
                and all(e.labels.get(k.replace("_", ".")) == v for k, v in labels.items())}

    lag = values("kafka.group_lag", kafka_group="boomi-orders")
    assert max(v for m, v in lag.items() if m < KAFKA_INCIDENT_MIN) <= 40
    assert lag[KAFKA_INCIDENT_MIN + 10] > 1000  # where kafka-consumer-lag pages
    consumers = values("rabbitmq.queue_consumers", rabbitmq_queue="notify.orders")
    assert consumers[RABBIT_INCIDENT_MIN] == 0 and consumers[RABBIT_INCIDENT_MIN - 2] == 2
    down = [e for e in events if e.labels["probe.metric"] == "endpoint.up"
            and e.outcome == "failure"]
    assert len(down) == 3 and {e.labels["endpoint"] for e in down} == {
        "https://erp-gw.acme.internal/health"}
