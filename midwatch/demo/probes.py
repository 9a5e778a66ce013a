"""What midwatch's probes would have read along the demo's timeline, as ``midwatch.probe`` events.

Pure and deterministic, like the scenario: the readings tell the same incidents the log lines
do. The Boomi consumer group falls behind on ``orders`` while the ISR of a partition shrinks and
the group rebalances, and a few records go to ``orders.dlq``; RabbitMQ's ``notify.orders`` queue
loses its consumers during the memory alarm and fills up, some messages dead-lettered; one SAP
gateway node presents an expired certificate (the Boomi execution that failed the TLS
handshake hit it) and the public API's certificate expires in three weeks; the ERP gateway's
health endpoint refuses connections for a few minutes; midwatch's own Elasticsearch goes
yellow for a while after a node restart.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from collector.event import Event
from collector.probes import elasticsearch, http, kafka, rabbitmq, tls
from collector.probes.reading import ProbeIdentity, Reading, to_event
from midwatch.demo.scenario import KAFKA_INCIDENT_MIN, MIN, RABBIT_INCIDENT_MIN

EVERY_MS = 2 * MIN  # the queue probes' interval
TLS_EVERY_MS = 10 * MIN
DAY = 24 * 60 * MIN
KAFKA = ProbeIdentity("kafka-prod", "kafka", kafka.PLATFORM, "kafka-1.acme.internal:9092")
RABBIT = ProbeIdentity("rabbitmq-notify", "rabbitmq", rabbitmq.PLATFORM, "mq-01.acme.internal:15672")
CERTS = ProbeIdentity("certificates", "tls", tls.PLATFORM, "3 endpoints")
ERP_HEALTH = "https://erp-gw.acme.internal/health"
HEALTH = ProbeIdentity("erp-gateway-health", "http", http.PLATFORM, ERP_HEALTH)
STORE = ProbeIdentity("midwatch-store", "elasticsearch", elasticsearch.PLATFORM,
                      "https://es-1.acme.internal:9200")
HEALTH_DOWN_MIN = (60, 66)  # the health endpoint refuses connections
STORE_YELLOW_MIN = (30, 52)  # replicas unassigned after a node restart
# bytes each index of the store grows per minute
INDEX_GROWTH = {"midwatch-events": 310_000, "midwatch-traces": 95_000, "midwatch-alerts": 900}
# endpoint -> (days left at the first order, verification verdict, subject, issuer, serial)
CERTIFICATES = {
    "sap-gw-1.acme.internal:3300": (341, "ok", "CN=sap-gw.acme.internal", "CN=ACME Issuing CA 2",
                                    "4f1a"),
    "sap-gw-2.acme.internal:3300": (-3, "certificate has expired", "CN=sap-gw.acme.internal",
                                    "CN=ACME Issuing CA 1", "2c07"),
    "api.acme.com:443": (21, "ok", "CN=api.acme.com", "CN=R11,O=Let's Encrypt", "0391"),
}


def readings(seed: int, start_ms: int, end_ms: int) -> list[Event]:
    """Every probe run from ``start_ms`` (the order-to-cash flow's first hour) up to ``end_ms``."""
    rng = random.Random(seed + 2)
    out: list[Event] = []
    queue_depth = dlq_depth = 0
    for at in range(start_ms, end_ms, EVERY_MS):
        minute = (at - start_ms) // MIN
        out += [to_event(KAFKA, r, at) for r in _kafka(rng, minute - KAFKA_INCIDENT_MIN)]
        rabbit, queue_depth, dlq_depth = _rabbit(rng, minute - RABBIT_INCIDENT_MIN, queue_depth,
                                                 dlq_depth)
        out += [to_event(RABBIT, r, at) for r in rabbit]
        out += [to_event(HEALTH, r, at) for r in _health(rng, minute)]
        if (at - start_ms) % TLS_EVERY_MS == 0:
            out += [to_event(CERTS, r, at) for r in _certificates(start_ms, at)]
            out += [to_event(STORE, r, at) for r in _store(minute)]
    return out


def _health(rng: random.Random, minute: int) -> list[Reading]:
    where = {"endpoint": ERP_HEALTH}
    if HEALTH_DOWN_MIN[0] <= minute < HEALTH_DOWN_MIN[1]:
        return [Reading("endpoint.up", 0, where, ok=False,
                        error="connection refused: erp-gw.acme.internal:443")]
    labels = {**where, "http.status": "200"}
    return [Reading("endpoint.up", 1, labels), Reading("http.latency_ms", rng.randint(40, 160), labels)]


def _store(minute: int) -> list[Reading]:
    cluster = {"es.cluster": "midwatch-prod"}
    yellow = STORE_YELLOW_MIN[0] <= minute < STORE_YELLOW_MIN[1]
    out = [Reading("es.cluster_status", 1 if yellow else 0,
                   {**cluster, "es.status": "yellow" if yellow else "green"}),
           Reading("es.unassigned_shards", 4 if yellow else 0, cluster)]
    for index, per_min in INDEX_GROWTH.items():
        out.append(Reading("es.index_bytes", 40 * per_min * 60 + per_min * minute,
                           {**cluster, "es.index": index}))
    return out


def _kafka(rng: random.Random, since_incident: int) -> list[Reading]:
    """Lag of boomi-orders on orders: tens of records, thousands for 25 min after the ISR shrink
    and rebalance; one under-replicated partition for 6 min; orders.dlq grows once."""
    hit = 0 <= since_incident < 25
    lag = (1400 + 120 * since_incident if hit else rng.randint(0, 40))
    group = {"kafka.group": "boomi-orders", "kafka.topic": "orders", "kafka.dlq": "false"}
    topic = {"kafka.topic": "orders", "kafka.dlq": "false"}
    dlq = {"kafka.topic": "orders.dlq", "kafka.dlq": "true"}
    return [Reading("kafka.group_lag", lag, group),
            Reading("kafka.under_replicated", 1 if 0 <= since_incident < 6 else 0, topic),
            Reading("kafka.topic_growth", 3 if since_incident in (2, 3) else 0, dlq)]


def _rabbit(rng: random.Random, since_alarm: int, depth: int, dlq: int
            ) -> tuple[list[Reading], int, int]:
    """notify.orders without consumers for the 4 min alarm and 6 min after (clients failing to
    log back in): it fills, then drains; messages past their TTL go to notify.orders.dlq."""
    stalled = 0 <= since_alarm < 10
    consumers = 0 if stalled else 2
    new_depth = depth + rng.randint(60, 90) if stalled else max(0, depth // 3 - rng.randint(0, 5))
    new_dlq = dlq + (rng.randint(2, 6) if 6 <= since_alarm < 12 else 0)
    # what the consumers took in the 2 min since the last run (0 while they are gone)
    delivered = 0 if stalled else rng.randint(60, 80) + depth - new_depth
    out = []
    for name, now, before, dead in (("notify.orders", new_depth, depth, "false"),
                                    ("notify.orders.dlq", new_dlq, dlq, "true")):
        labels = {"rabbitmq.vhost": "/", "rabbitmq.queue": name, "rabbitmq.dlq": dead,
                  "rabbitmq.consumers": str(consumers if dead == "false" else 0)}
        published = now - before + delivered if dead == "false" else now - before
        out += [Reading("rabbitmq.queue_messages", now, labels),
                Reading("rabbitmq.queue_consumers", int(labels["rabbitmq.consumers"]), labels),
                Reading("rabbitmq.queue_growth", now - before, labels),
                Reading("rabbitmq.queue_publish_per_min", max(published, 0) // 2, labels),
                Reading("rabbitmq.queue_deliver_per_min",
                        delivered // 2 if dead == "false" else 0, labels)]
    return out, new_depth, new_dlq


def _certificates(start_ms: int, at: int) -> list[Reading]:
    out = []
    for endpoint, (days, verdict, subject, issuer, serial) in CERTIFICATES.items():
        not_after = start_ms + days * DAY
        where = {"endpoint": endpoint}
        labels = {**where, "tls.subject": subject, "tls.issuer": issuer, "tls.serial": serial,
                  "tls.not_after": datetime.fromtimestamp(not_after / 1000, UTC).isoformat(),
                  "tls.verify": verdict}
        out += [Reading("endpoint.up", 1, where),
                Reading("tls.certificate", (not_after - at) // DAY, labels, ok=verdict == "ok",
                        error=None if verdict == "ok" else f"certificate {verdict}")]
    return out
