"""A small, realistic day in the life of three integrations, for replaying the boards.

- ``order-to-cash``: API gateway -> Mule -> Kafka -> Boomi, partner-less; every 8th order fails
  at Boomi (connection refused to the ERP), hop durations from the platforms.
- ``customer-sync``: BizTalk -> App Connect; every 25th message times out.
- ``invoice-edi``: X12 810 invoices to two partners with 997s back; GLOBEX rejects 3 of its 10,
  two ACME interchanges never get their 997 (stuck traces).
- Kafka, RabbitMQ and IBM MQ broker log warnings/errors, and alert history of two rules.
- Probe readings (``probe_dataset``): consumer lag, queues, certificates, endpoints.
- Dead letters: Mule lines too long, an X12 file that would not parse, an event the store
  refused.

``expected`` holds the numbers the boards must show, computed from the same lists that are
written, so the assertions never restate magic numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import probe_dataset

from collector.event import DeadLetter, Event, event_id, ms_to_iso
from collector.trace import Hop, Trace

MINUTE = 60_000
OTC_HOPS = (("apigw", "order-api", "api.received", "received"),
            ("mulesoft", "order-mule", "mule.transformed", "transformed"),
            ("kafka", "orders-topic", "kafka.published", "published"),
            ("boomi", "erp-bridge", "erp.delivered", "delivered"))
SYNC_HOPS = (("biztalk", "crm-orch", "biztalk.received", "received"),
             ("ace", "crm-flow", "ace.delivered", "delivered"))
CONNREFUSED = "Connection refused to <host>:<port>"
TIMEOUT = "Read timed out after <n> ms"


@dataclass
class Dataset:
    start_ms: int
    end_ms: int
    events: list[Event] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    expected: dict = field(default_factory=dict)


def _event(ds: Dataset, ts: int, platform: str, service: str, stage: str | None, action: str,
           *, flow: str | None, ok: bool = True, ids: tuple[str, ...] = (), partner: str | None = None,
           duration_ms: int | None = None, error: tuple[str, str] | None = None,
           dataset: str | None = None, level: str | None = None, message: str = "",
           labels: dict[str, str] | None = None) -> Event:
    ev = Event(timestamp_ms=ts, dataset=dataset or f"{platform}.demo", platform=platform,
               message=message or f"{service} {action}", action=action,
               outcome="success" if ok else "failure", level=level or ("info" if ok else "error"),
               id=event_id("dashboards-demo", str(len(ds.events))), service=service, flow=flow,
               stage=stage, partner=partner, labels={"environment": "prod", **(labels or {})})
    for typed in ids:
        ev.add_id(*typed.split(":", 1))
    ev.message_id = ids[0] if ids else None
    if duration_ms is not None:
        ev.duration_ns = duration_ms * 1_000_000
    if error:
        ev.error_class, template = error
        ev.error_message = template.replace("<host>", "erp.corp").replace("<port>", "443")
        ev.signature = f"sig-{ev.error_class}"
        ev.labels["signature_template"] = template
    ds.events.append(ev)
    return ev


def _trace(ds: Dataset, key: str, flow: str, hops: list[Event], status: str, sla_ms: int,
           partner: str | None = None) -> None:
    start, last = hops[0].timestamp_ms, hops[-1].timestamp_ms
    ended = last if status not in ("in_flight", "stuck") else None
    failed = [h for h in hops if h.outcome == "failure"]
    ds.traces.append(Trace(
        trace_key=key, ids=sorted({i for h in hops for i in h.ids}), started_ms=start,
        last_seen_ms=last, flow=flow, partner=partner, status=status, ended_ms=ended,
        hop_count=len(hops), error_count=len(failed), stages=tuple(h.stage for h in hops if h.stage),
        hops=[Hop(h.stage, h.service, h.platform, h.timestamp_ms, h.outcome, h.id, h.action)
              for h in hops],
        last_error=({"class": failed[-1].error_class, "message": failed[-1].error_message,
                     "stage": failed[-1].stage} if failed else None),
        sla_ms=sla_ms, sla_breached=(last - start) > sla_ms or status == "stuck"))


def build(end_ms: int) -> Dataset:
    end_ms -= end_ms % MINUTE
    ds = Dataset(start_ms=end_ms - 120 * MINUTE, end_ms=end_ms)
    t0 = ds.start_ms + 5 * MINUTE
    for n in range(80):  # order-to-cash, one order every 80 s
        ts, key = t0 + n * 80_000, f"order:{1000 + n}"
        fails = n % 8 == 7
        hops = []
        for i, (platform, service, stage, action) in enumerate(OTC_HOPS):
            last = i == len(OTC_HOPS) - 1
            hops.append(_event(
                ds, ts + i * 1_500 + (9_000 if n % 10 == 0 and last else 0), platform, service, stage,
                "failed" if last and fails else action, flow="order-to-cash",
                ok=not (last and fails), ids=(key, f"correlation:c{n}"),
                duration_ms=120 + 40 * i + (3_000 if n % 10 == 0 else 0),
                error=("connectivity", CONNREFUSED) if last and fails else None))
        _trace(ds, key, "order-to-cash", hops, "failed" if fails else "completed", 10_000)
    for n in range(50):  # customer-sync
        ts, key = t0 + n * 130_000, f"customer:{5000 + n}"
        fails = n % 25 == 24
        hops = [_event(ds, ts + i * 800, p, s, st, "failed" if i and fails else a,
                       flow="customer-sync", ok=not (i and fails), ids=(key,),
                       duration_ms=300 + 50 * i,
                       error=("timeout", TIMEOUT) if i and fails else None)
                for i, (p, s, st, a) in enumerate(SYNC_HOPS)]
        _trace(ds, key, "customer-sync", hops, "failed" if fails else "completed", 60_000)
    acks = Counter()
    accepted = Counter()
    for partner, count, rejected, stuck in (("ACME", 12, 0, 2), ("GLOBEX", 10, 3, 0)):
        for n in range(count):
            ts = t0 + n * 400_000 + (0 if partner == "ACME" else 37_000)
            isa = f"x12.isa:MIDWATCH>{partner}:{n + 1:09d}"
            st = f"x12.st:MIDWATCH>{partner}:{n + 1}:0001"
            sent = _event(ds, ts, "edi", "as2-gateway", "edi.sent", "sent", flow="invoice-edi",
                          ids=(st, isa), partner=partner, dataset="edi.x12",
                          labels={"x12_transaction_set": "810", "x12_st02": "0001",
                                  "x12_gs06": str(n + 1)})
            if n < stuck:
                _trace(ds, st, "invoice-edi", [sent], "stuck", 3_600_000, partner)
                continue
            ok = n >= rejected
            ack = _event(ds, ts + 4 * MINUTE, "edi", "as2-gateway", "edi.acknowledged",
                         "acknowledged" if ok else "rejected", flow="invoice-edi", ok=ok,
                         ids=(st,), partner=partner, dataset="edi.x12",
                         error=None if ok else ("validation", "AK5 R: one or more segments in error"),
                         labels={"x12_ack_type": "997", "x12_transaction_set": "810",
                                 "x12_st02": "0001", "x12_gs06": str(n + 1)})
            acks[partner] += 1
            accepted[partner] += ok
            _trace(ds, st, "invoice-edi", [sent, ack], "acknowledged" if ok else "rejected",
                   3_600_000, partner)
    for n in range(6):  # broker trouble, no flow
        _event(ds, t0 + n * 15 * MINUTE, "kafka", "kafka-broker-1", None, "logged", flow=None,
               dataset="kafka.broker", level="warn" if n % 2 else "error", ok=n % 2 == 1,
               message=f"[Partition orders-{n}] Shrinking ISR from 1,2,3 to 1")
    _event(ds, t0 + 50 * MINUTE, "rabbitmq", "rabbit@mq1", None, "logged", flow=None,
           dataset="rabbitmq.log", level="error", ok=False,
           message="memory resource limit alarm set on node rabbit@mq1")
    _event(ds, t0 + 55 * MINUTE, "ibmmq", "QM1", None, "logged", flow=None,
           dataset="ibmmq.error_log", level="error", ok=False,
           message="AMQ9999E: Channel 'TO.ACME' to host '10.1.2.3' ended abnormally.")
    for i, (state, offset) in enumerate((("pending", 30), ("firing", 32), ("resolved", 70))):
        ds.alerts.append({
            "@timestamp": ms_to_iso(t0 + offset * MINUTE), "rule": "order-to-cash-failure-ratio",
            "state": state, "severity": "critical", "labels": {"flow": "order-to-cash"},
            "value": 0.125, "summary": "failure ratio 12.5% over 10%", "notifier": "pagerduty",
            "dedup_key": "order-to-cash-failure-ratio/order-to-cash", "seq": i})
    ds.alerts.append({
        "@timestamp": ms_to_iso(t0 + 90 * MINUTE), "rule": "edi-ack-overdue", "state": "firing",
        "severity": "warning", "labels": {"flow": "invoice-edi", "partner": "ACME"},
        "value": 2, "summary": "2 interchanges without 997", "notifier": "slack",
        "dedup_key": "edi-ack-overdue/ACME"})
    for n in range(3):
        ds.deadletters.append(DeadLetter(
            reason="line_too_long: 1048577 bytes, over max_line_bytes 1048576",
            source="/var/log/mule/orders.log", line=1200 + n, raw="INFO 2024-" + "x" * 200,
            ingested_ms=t0 + (20 + n) * MINUTE, truncated=True, input="mule-files"))
    ds.deadletters.append(DeadLetter(
        reason="parse_error: x12: ISA segment is 104 characters, not 106",
        source="/edi/in/globex-0912.x12", line=1, raw="ISA*00*...~", field="ISA",
        ingested_ms=t0 + 40 * MINUTE, input="edi-drop"))
    ds.deadletters.append(DeadLetter(
        reason="store_rejected: mapper_parsing_exception: failed to parse [event.duration]",
        source="event:abc123", line=0, raw="{}", stage="store", ingested_ms=t0 + 41 * MINUTE))

    flows = Counter(e.flow for e in ds.events if e.flow)
    failures = Counter(e.flow for e in ds.events if e.flow and e.outcome == "failure")
    with_sla = Counter(t.flow for t in ds.traces)
    in_sla = Counter(t.flow for t in ds.traces if not t.sla_breached)
    ds.expected = {
        "events_by_flow": dict(flows),
        "failures_by_flow": dict(failures),
        "failure_ratio": {f: failures[f] / flows[f] for f in flows},
        "sla_compliance": {f: in_sla[f] / with_sla[f] for f in with_sla},
        "ack_acceptance": {p: accepted[p] / acks[p] for p in acks},
        "stuck": sum(t.status == "stuck" for t in ds.traces),
        "rejected": sum(e.action == "rejected" for e in ds.events),
        "alerts_fired": sum(a["state"] == "firing" for a in ds.alerts),
        "deadletters_by_kind": dict(Counter(d.reason.partition(":")[0] for d in ds.deadletters)),
    }
    probe_dataset.add(ds, t0)  # probe readings for the Queues and certificates board
    return ds


def write(store, ds: Dataset) -> None:
    """Through the real store, as the collector and the rule engine write them."""
    store.setup()
    result = store.write_events(ds.events)
    assert not result.rejected, result.rejected
    store.upsert_traces(ds.traces)
    store.append_alert_history(ds.alerts)
    store.write_deadletters(ds.deadletters)
    store.refresh()
