"""Queues and certificates: what the probes measure (``event.dataset: midwatch.probe``).

Every panel reads probe readings from the events index: ``labels.probe.metric`` says what was
measured, ``midwatch.probe.value`` holds the number. A reading is a sample per probe run, so
panels take the maximum per time bucket (a bucket may hold several runs), never the sum;
the growth readings are the exception, where the sum is the records added in the range.
Thresholds are where ``rules/packs/probes.yaml`` pages (a test holds them together).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import elasticsearch as es
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import dashboard as dm

from collector.probes.reading import DATASET
from dashboards import common as c
from dashboards.datasources import EVENTS_UID
from dashboards.settings import BoardSettings

UID = "midwatch-queues"
EVENT_VARS = ("platform", "environment")
VALUE = "midwatch.probe.value"
# Where the probes pack pages (kafka-consumer-lag, certificate-expiring-30d/7d, endpoint-down).
LAG_PAGES_ABOVE = 1000
CERT_WARN_DAYS = 30
CERT_CRIT_DAYS = 7
ENDPOINT_DOWN_FAILURES = 2
CERT_COLUMNS = (("labels.endpoint", "Endpoint"), (VALUE, "Days left"),
                ("labels.tls.not_after", "Expires"), ("labels.tls.verify", "Verification"),
                ("labels.tls.subject", "Subject"), ("labels.tls.issuer", "Issuer"),
                ("labels.tls.serial", "Serial"))
ES_STATUS = {"0": ("green", "green"), "1": ("yellow", "orange"), "2": ("red", "red")}


def readings(metric: str | tuple[str, ...], extra: str = "") -> str:
    """Probe readings of one metric (or any of several), narrowed by the board's variables."""
    names = (metric,) if isinstance(metric, str) else metric
    which = " OR ".join(f'"{m}"' for m in names)
    query = f'event.dataset:"{DATASET}" AND labels.probe.metric:({which})'
    return c.scoped(EVENTS_UID, EVENT_VARS, f"{query} AND {extra}" if extra else query)


def peak() -> es.Max:
    return es.Max().id("1").field(VALUE)


def total() -> es.Sum:
    return es.Sum().id("1").field(VALUE)


def _series(title: str, description: str, metric: str, by: str, *, unit: str = "short",
            extra: str = "", thresholds=None, width: int = 12):
    return c.timeseries_panel(c.PanelSpec(
        title, description,
        [c.es_target(EVENTS_UID, "A", readings(metric, extra),
                     buckets=[c.terms(by), c.histogram()], metrics=[peak()])],
        unit=unit, width=width, min_interval="1m", thresholds=thresholds),
        threshold_lines=thresholds is not None)


def _bars(title: str, description: str, metric: str, by: str, *, extra: str = "",
          metrics=None, thresholds=None, calc: str = "max", unit: str = "short", width: int = 12):
    return c.bar_panel(c.PanelSpec(
        title, description,
        [c.es_target(EVENTS_UID, "A", readings(metric, extra),
                     buckets=[c.terms(by), c.histogram()], metrics=[metrics or peak()])],
        unit=unit, width=width, thresholds=thresholds), all_values=False, calc=calc)


def _stat(title: str, description: str, metric: str, extra: str, thresholds, *,
          unique: str | None = None, width: int = 6):
    metric_agg = es.UniqueCount().id("1").field(unique) if unique else peak()
    return c.stat_panel(c.PanelSpec(
        title, description,
        [c.es_target(EVENTS_UID, "A", readings(metric, extra), buckets=[c.histogram()],
                     metrics=[metric_agg])],
        unit="short", width=width, thresholds=thresholds), calc="max")


def build(settings: BoardSettings) -> Dashboard:
    lag_red = c.thresholds((None, "green"), (LAG_PAGES_ABOVE + 1, "red"))
    any_red = c.thresholds((None, "green"), (1, "red"))
    kafka = c.PanelRow("Kafka", [
        _series("Consumer lag by group",
                "Records each consumer group is behind the end of its topics (sum over "
                "partitions, highest sample per interval). kafka-consumer-lag pages when a group "
                f"stays above {LAG_PAGES_ABOVE} for 10 minutes.",
                "kafka.group_lag", "labels.kafka.group", thresholds=lag_red, width=12),
        _bars("Dead-letter topic growth",
              "Records added to dead-letter topics in the time range (sum of the growth "
              "between probe runs); kafka-dead-letter-topic-growing pages from the first.",
              "kafka.topic_growth", "labels.kafka.topic", extra='labels.kafka.dlq:"true"',
              metrics=total(), thresholds=any_red, calc="sum", width=6),
        _stat("Under-replicated partitions",
              "Partitions whose in-sync replicas are fewer than their replicas, at the worst "
              "moment of the time range, over all probed topics.",
              "kafka.under_replicated", "", any_red),
    ])
    rabbit = c.PanelRow("RabbitMQ", [
        _series("Queue depth", "Messages in each queue (ready plus unacknowledged), the "
                "highest sample per interval. A line that only rises is a queue nobody drains.",
                "rabbitmq.queue_messages", "labels.rabbitmq.queue", width=12),
        _series("Publish rate by queue", "Messages published to each queue per minute, as the "
                "management API reports it at each probe run.",
                "rabbitmq.queue_publish_per_min", "labels.rabbitmq.queue", unit="opm", width=6),
        _series("Deliver rate by queue", "Messages delivered to consumers (or fetched) from "
                "each queue per minute: compare with the publish rate.",
                "rabbitmq.queue_deliver_per_min", "labels.rabbitmq.queue", unit="opm", width=6),
        _bars("Queues without consumers",
              "Deepest depth of queues that had no consumer; rabbitmq-queue-growing-without-"
              "consumers pages when such a queue keeps growing.",
              "rabbitmq.queue_messages", "labels.rabbitmq.queue",
              extra='labels.rabbitmq.consumers:"0" AND labels.rabbitmq.dlq:"false"',
              thresholds=any_red),
        _bars("Dead-letter queue depth",
              "Messages waiting in dead-letter queues (names matching the probe's "
              "dead_letter_pattern); rabbitmq-dead-letter-queue-growing pages when one grows.",
              "rabbitmq.queue_messages", "labels.rabbitmq.queue", extra='labels.rabbitmq.dlq:"true"',
              thresholds=any_red),
    ])
    cert_names = [f for f, _ in CERT_COLUMNS]
    certs = c.PanelRow("Certificates and endpoints", [
        c.table_panel(c.PanelSpec(
            "Certificates",
            "The newest check of each TLS endpoint: days until the certificate expires (red "
            f"below {CERT_CRIT_DAYS}, orange below {CERT_WARN_DAYS}, where the certificate "
            "rules page), whether a client would accept it, and its subject, issuer and serial.",
            [c.es_target(EVENTS_UID, "A", readings("tls.certificate"), metrics=[c.raw_data(500)])],
            width=24, height=8,
            thresholds=c.falling(CERT_WARN_DAYS, CERT_CRIT_DAYS),
            transformations=[
                *c.latest_per("labels.endpoint", cert_names[1:]),
                *c.keep_columns(["labels.endpoint", *(f"{f} (first)" for f in cert_names[1:])],
                                {"labels.endpoint": "Endpoint",
                                 **{f"{f} (first)": name for f, name in CERT_COLUMNS[1:]}}),
            ])),
        _stat(f"Certificates expiring within {CERT_WARN_DAYS} days",
              "TLS endpoints whose certificate expires within 30 days (or has expired).",
              "tls.certificate", f"{VALUE}:<{CERT_WARN_DAYS}",
              c.thresholds((None, "green"), (1, "orange")), unique="labels.endpoint"),
        _stat("Certificates not trusted",
              "TLS endpoints whose certificate a client would refuse: hostname mismatch, "
              "untrusted chain or expired.",
              "tls.certificate", 'NOT labels.tls.verify:"ok"', any_red, unique="labels.endpoint"),
        c.timeseries_panel(c.PanelSpec(
            "Failed endpoint checks",
            "Failed checks per endpoint (HTTP status or body wrong, connection refused, probe "
            f"target unreachable); endpoint-down pages at {ENDPOINT_DOWN_FAILURES} within 5 "
            "minutes.",
            [c.es_target(EVENTS_UID, "A",
                         readings(("endpoint.up", "probe.up"), "event.outcome:failure"),
                         buckets=[c.terms("labels.endpoint"), c.histogram("5m")],
                         metrics=[c.count()])],
            unit="short", width=6, min_interval="5m",
            thresholds=c.thresholds((None, "green"), (ENDPOINT_DOWN_FAILURES, "red"))),
            threshold_lines=True),
        _series("Endpoint latency", "Time to the HTTP answer of each checked endpoint.",
                "http.latency_ms", "labels.endpoint", unit="ms", width=6),
    ])
    store = c.PanelRow("Elasticsearch", [
        c.stat_panel(c.PanelSpec(
            "Cluster status",
            "The worst cluster health of the time range: green, yellow (replicas "
            "unassigned) or red (primaries unassigned: writes to them fail).",
            [c.es_target(EVENTS_UID, "A", readings("es.cluster_status"),
                         buckets=[c.histogram()], metrics=[peak()])],
            unit="short", width=6,
            thresholds=c.thresholds((None, "green"), (1, "orange"), (2, "red"))), calc="max")
        .mappings([dm.ValueMap(options={
            value: dm.ValueMappingResult(text=text, color=color, index=i)
            for i, (value, (text, color)) in enumerate(ES_STATUS.items())})]),
        _series("midwatch index size", "Size on disk of each of midwatch's own indices "
                "(events, traces, alerts, dead letters): retention and disk alarms start here.",
                "es.index_bytes", "labels.es.index", unit="bytes", width=18),
    ])
    return c.board(UID, "Are the queues draining, are the consumers keeping up, which "
                   "certificate expires next: what midwatch's probes measure.",
                   ["queues", "certificates", "probes"],
                   [c.filter_variable(name) for name in EVENT_VARS],
                   [kafka, rabbit, certs, store])
