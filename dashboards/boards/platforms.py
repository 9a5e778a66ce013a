"""Platforms: volume and errors per middleware platform, and what the brokers log."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from collector.datasets import BROKER_LOGS
from dashboards import common as c
from dashboards.datasources import EVENTS_UID
from dashboards.settings import BoardSettings

UID = "midwatch-platforms"
EVENT_VARS = ("platform", "environment", "flow")
FAILED = "event.outcome:failure"
_BROKER_DATASETS = " OR ".join(f'"{name}"' for name in BROKER_LOGS)
BROKER_TROUBLE = f"event.dataset:({_BROKER_DATASETS}) AND log.level:(warn OR error OR fatal)"


def build(settings: BoardSettings) -> Dashboard:
    def events(query: str) -> str:
        return c.scoped(EVENTS_UID, EVENT_VARS, query)

    volume = c.PanelRow("Volume and errors", [
        c.timeseries_panel(c.PanelSpec(
            "Volume by platform",
            "Events per platform: MuleSoft, Boomi, BizTalk, App Connect, IBM MQ, Kafka, "
            "RabbitMQ, API gateways, EDI, OpenTelemetry, and generic text logs.",
            [c.es_target(EVENTS_UID, "A", events(""),
                         buckets=[c.terms("midwatch.platform"), c.histogram()],
                         metrics=[c.count()])],
            unit="short", min_interval="5m"), stacked=True),
        c.timeseries_panel(c.PanelSpec(
            "Errors by class",
            "Failed events by midwatch's error taxonomy: connectivity, timeout, auth, "
            "certificate, mapping, validation, throttling, duplicate, resource, unknown.",
            [c.es_target(EVENTS_UID, "A", events(FAILED),
                         buckets=[c.terms("midwatch.error_class"), c.histogram()],
                         metrics=[c.count()])],
            unit="short", min_interval="5m"), stacked=True),
        c.bar_panel(c.PanelSpec(
            "Errors by platform and class",
            "Failed events in the time range per platform and error class: which platform "
            "has which kind of trouble.",
            [c.es_target(EVENTS_UID, "A", events(FAILED),
                         buckets=[c.terms("midwatch.platform"),
                                  c.terms("midwatch.error_class", agg_id="4"), c.histogram()],
                         metrics=[c.count()])],
            unit="short", width=24, height=9)),
    ])
    brokers = c.PanelRow("Broker logs", [
        c.timeseries_panel(c.PanelSpec(
            "Broker log warnings and errors",
            "Warnings and errors in Kafka, RabbitMQ and IBM MQ broker logs per level: "
            "under-replicated partitions, ISR shrinks, memory and disk alarms, lost "
            "connections, channels that end abnormally.",
            [c.es_target(EVENTS_UID, "A", events(BROKER_TROUBLE),
                         buckets=[c.terms("log.level"), c.histogram()], metrics=[c.count()])],
            unit="short", width=8, min_interval="5m", series_colors=c.LEVEL_COLORS), stacked=True),
        c.logs_panel(c.PanelSpec(
            "Broker log lines",
            "The latest broker warnings and errors as logged.",
            [c.es_target(EVENTS_UID, "A", events(BROKER_TROUBLE), metrics=[c.log_lines(100)])],
            width=16, height=9)),
    ])
    return c.board(UID, "Volume and errors per middleware platform; broker trouble.",
                   ["platforms"], [c.filter_variable(name) for name in EVENT_VARS],
                   [volume, brokers])
