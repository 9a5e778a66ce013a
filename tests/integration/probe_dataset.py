"""Two hours of probe readings, made by the probes' own ``to_event``, for replaying the
"Queues and certificates" board. ``add`` appends them to a dashboard dataset and records the
numbers the board must show in ``expected["probes"]``, computed from the same readings."""

from __future__ import annotations

from collections import defaultdict

from collector.probes.reading import ProbeIdentity, Reading, to_event

MINUTE = 60_000
KAFKA = ProbeIdentity("orders-kafka", "kafka", "kafka", "broker-1:9092")
RABBIT = ProbeIdentity("broker", "rabbitmq", "rabbitmq", "http://mq1:15672")
CERTS = ProbeIdentity("certs", "tls", "generic", "api.example.com:443,smtp.example.com:587")
API = ProbeIdentity("orders-api", "http", "generic", "https://orders.example.com/health")
STORE = ProbeIdentity("store", "elasticsearch", "midwatch", "http://es:9200")
CERT_ROWS = (  # endpoint, days left, verify, subject, serial
    ("api.example.com:443", 90, "ok", "CN=api.example.com", "a1"),
    ("smtp.example.com:587", 5, "ok", "CN=smtp.example.com", "b2"),
    ("edi.example.com:443", 200, "hostname_mismatch", "CN=other.example.com", "c3"),
)


def _queue(name: str, consumers: int, dlq: bool) -> dict[str, str]:
    return {"rabbitmq.vhost": "/", "rabbitmq.queue": name, "rabbitmq.consumers": str(consumers),
            "rabbitmq.dlq": "true" if dlq else "false"}


def runs(start_ms: int) -> list[tuple[ProbeIdentity, Reading, int]]:
    """(probe, reading, time) of 24 probe runs, one every 5 minutes."""
    out = []
    for n in range(24):
        at = start_ms + n * 5 * MINUTE
        orders = {"kafka.group": "orders-consumer", "kafka.topic": "orders", "kafka.dlq": "false"}
        audit = {"kafka.group": "audit", "kafka.topic": "orders", "kafka.dlq": "false"}
        out += [(KAFKA, Reading("kafka.group_lag", 200 + 60 * n, orders), at),
                (KAFKA, Reading("kafka.group_lag", 10, audit), at),
                (KAFKA, Reading("kafka.topic_growth", 50,
                                {"kafka.topic": "orders", "kafka.dlq": "false"}), at),
                (KAFKA, Reading("kafka.under_replicated", 1 if n == 7 else 0,
                                {"kafka.topic": "payments", "kafka.dlq": "false"}), at)]
        if n in (10, 11):
            out.append((KAFKA, Reading("kafka.topic_growth", 3,
                                       {"kafka.topic": "orders.DLQ", "kafka.dlq": "true"}), at))
        for name, consumers, dlq, depth, pub, dlv in (
                ("shipments", 0, False, 5 * n, 60, 0), ("invoices", 2, False, 3, 120, 120),
                ("invoices.dlq", 0, True, 4, 0, 0)):
            labels = _queue(name, consumers, dlq)
            out += [(RABBIT, Reading("rabbitmq.queue_messages", depth, labels), at),
                    (RABBIT, Reading("rabbitmq.queue_publish_per_min", pub, labels), at),
                    (RABBIT, Reading("rabbitmq.queue_deliver_per_min", dlv, labels), at)]
        down = n in (20, 21, 22)
        out += [(API, Reading("endpoint.up", 0 if down else 1,
                              {"endpoint": API.target, "http.status": "503" if down else "200"},
                              ok=not down, error="HTTP 503, expected 200" if down else None), at),
                (API, Reading("http.latency_ms", 40 + n, {"endpoint": API.target}), at),
                (STORE, Reading("es.cluster_status", 1, {"es.status": "yellow"}), at),
                (STORE, Reading("es.index_bytes", 1_000_000 + 10_000 * n,
                                {"es.index": "midwatch-events-2024.03.04"}), at)]
        if n % 12 == 0:  # certificates hourly; a day less left on the second check
            for endpoint, days, verify, subject, serial in CERT_ROWS:
                out.append((CERTS, Reading("tls.certificate", days - n // 12, {
                    "endpoint": endpoint, "tls.subject": subject, "tls.issuer": "CN=Example CA",
                    "tls.serial": serial, "tls.not_after": f"in {days} days", "tls.verify": verify},
                    ok=verify == "ok"), at))
    return out


def add(ds, start_ms: int) -> None:
    readings = runs(start_ms)
    ds.events += [to_event(probe, r, at) for probe, r, at in readings]
    peak: dict[tuple[str, str], int] = defaultdict(int)
    growth: dict[str, int] = defaultdict(int)
    latest_days: dict[str, int] = {}
    for _, r, _ in readings:
        for key in ("kafka.group", "rabbitmq.queue", "endpoint"):
            if key in r.labels:
                peak[(r.metric, r.labels[key])] = max(peak[(r.metric, r.labels[key])], r.value)
        if r.metric == "kafka.topic_growth" and r.labels["kafka.dlq"] == "true":
            growth[r.labels["kafka.topic"]] += r.value
        if r.metric == "tls.certificate":
            latest_days[r.labels["endpoint"]] = r.value
    ds.expected["probes"] = {
        "lag_peak": {g: v for (m, g), v in peak.items() if m == "kafka.group_lag"},
        "dlq_growth": dict(growth),
        "unconsumed_peak": {"shipments": peak[("rabbitmq.queue_messages", "shipments")]},
        "dlq_depth": {"invoices.dlq": peak[("rabbitmq.queue_messages", "invoices.dlq")]},
        "cert_days": latest_days,
        "expiring_30d": sum(d < 30 for d in latest_days.values()),
        "not_trusted": sum(v != "ok" for _, _, v, _, _ in CERT_ROWS),
        "endpoint_failures": sum(1 for _, r, _ in readings if r.metric == "endpoint.up" and not r.ok),
    }
