"""Probes: certificates expiring within 60 days of the period's end, and the worst consumer
lag and queue depth the probes measured in the period."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from collector.probes.reading import DATASET
from collector.store.base import Agg, Filter
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.period import time_label
from midwatch.report.scope import DAY_MS, Scope, counted

EXPIRY_DAYS = 60
_PROBE = Filter("event.dataset", "eq", DATASET)


def _metric(name: str) -> tuple[Filter, Filter]:
    return _PROBE, Filter("labels.probe.metric", "eq", name)


def section(s: Scope) -> ReportSection:
    any_, certs, lag, depth = s.run([
        s.query("events", s.period, filters=[_PROBE], max_groups=1),
        s.query("events", s.period, agg=Agg("min", "midwatch.probe.value"),
                filters=_metric("tls.certificate"),
                group_by=["labels.endpoint", "labels.tls.not_after"], max_groups=500),
        s.query("events", s.period, agg=Agg("max", "midwatch.probe.value"),
                filters=_metric("kafka.group_lag"),
                group_by=["labels.kafka.group", "labels.kafka.topic"], max_groups=500),
        s.query("events", s.period, agg=Agg("max", "midwatch.probe.value"),
                filters=_metric("rabbitmq.queue_messages"),
                group_by=["labels.rabbitmq.vhost", "labels.rabbitmq.queue"], max_groups=500),
    ])
    if not any_ or not any_[0].count:
        return ReportSection(
            "Probes",
            empty="no probe readings in this period (no probes: configured "
                  "in the config, or `midwatch run` was not running them)")
    # days left are counted from the period's end, or from now for a period still running
    ref = min(s.period.end_ms, int(time.time() * 1000))
    horizon = ref + EXPIRY_DAYS * DAY_MS
    latest: dict[str, str] = {}  # endpoint -> its newest certificate's not_after
    for r in certs:
        e, na = r.group["labels.endpoint"], r.group["labels.tls.not_after"]
        latest[e] = max(latest.get(e, na), na)
    expiring = sorted((na, e) for e, na in latest.items() if _ms(na) < horizon)
    worst_lag = sorted(lag, key=lambda r: -(r.value or 0))[:10]
    worst_depth = sorted(depth, key=lambda r: -(r.value or 0))[:10]
    tables = (
        Table(("endpoint", "expires", "days left"), tuple(
            (e, na[:10], _days_left(_ms(na) - ref)) for na, e in expiring),
            title=f"certificates expiring within {EXPIRY_DAYS} days of {time_label(ref)[:10]}"
                  + ("" if expiring else ": none")),
        Table(("consumer group", "topic", "worst lag"), tuple(
            (str(r.group["labels.kafka.group"]), str(r.group["labels.kafka.topic"]),
             f"{r.value or 0:,.0f}") for r in worst_lag),
            title="worst consumer lag" + ("" if worst_lag else ": no Kafka probe readings")),
        Table(("vhost", "queue", "deepest"), tuple(
            (str(r.group["labels.rabbitmq.vhost"]), str(r.group["labels.rabbitmq.queue"]),
             f"{r.value or 0:,.0f}") for r in worst_depth),
            title="queue depth peaks" + ("" if worst_depth else ": no RabbitMQ probe readings")),
    )
    charts = []
    if worst_lag:
        charts.append(Chart("Worst consumer lag", "barh", tuple(
            f"{r.group['labels.kafka.group']} / {r.group['labels.kafka.topic']}"
            for r in worst_lag), (("messages behind", tuple(r.value for r in worst_lag)),),
            ylabel="messages behind"))
    summary = (f"{counted(any_[0].count, 'probe reading')}. Lag and depth are the highest reading of the "
               "period; a certificate is listed by its newest expiry date per endpoint.")
    return ReportSection("Probes", summary, tables, tuple(charts))


def _days_left(ms: int) -> str:
    """Whole days, as the TLS probe counts them (so the report says what the page said:
    20 days and 22 hours are 20 days left, not 21)."""
    if ms >= 0:
        return f"{ms // DAY_MS}"
    ago = -ms // DAY_MS
    return "expired today" if ago == 0 else f"expired {ago} day{'s' if ago > 1 else ''} ago"


def _ms(iso: str) -> int:
    d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp() * 1000)
