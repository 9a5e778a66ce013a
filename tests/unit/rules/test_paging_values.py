"""What a page says: the measured quantity with its unit (probe rules: lag, days left,
growth), and a new-error page with the signature's template text and an example message,
where errors differing only by an alphanumeric identifier share one signature. Real SQLite
store, real engine; the notifications are captured before any notifier."""

from __future__ import annotations

import pytest

from collector.event import Event, event_id
from collector.normalize import message_template, normalize
from collector.parsers._base import ParseContext
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine

T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z
MIN = 60_000
HOOK = "notifiers: {hook: {type: webhook, url: 'http://127.0.0.1:9/never'}}\n"


class _Pages:
    def __init__(self) -> None:
        self.sent = []

    def submit(self, names, n) -> None:
        self.sent.append(n)

    def flush(self) -> bool:
        """Captured as submitted."""
        return True


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "s.sqlite")
    s.setup()
    yield s
    s.close()


def _engine(store, tmp_path, rules_yaml: str, paths: str = "") -> tuple[Engine, _Pages]:
    (tmp_path / "r.yaml").write_text(rules_yaml)
    cfg = load_rules_config(loads(
        f"rules: {{paths: [{paths or tmp_path / 'r.yaml'}], notify: [hook]}}\n{HOOK}"))
    assert not cfg.errors, cfg.errors
    pages = _Pages()
    return Engine(cfg, store, dispatcher=pages), pages


def test_alphanumeric_identifiers_are_masked_and_older_masks_kept():
    assert message_template("Invoice INV-20001 rejected for C-123 on orders-7 by host-2") == \
        "Invoice <id> rejected for <id> on <id> by <id>"
    assert message_template("ORD12345 not found") == "<id> not found"
    assert message_template("timeout after 3000 ms calling https://api.example.com/x at "
                            "10:00:01") == "timeout after <n> ms calling https://<host>/x at <ts>"
    assert message_template("utf8 decode failed on S3") == "utf8 decode failed on S3"


def test_probe_values_are_the_measured_quantity_with_unit(store, tmp_path):
    def reading(i: int, metric: str, value: int, **labels: str) -> Event:
        return Event(T0 - MIN + i, "midwatch.probe", "generic", "probe", id=event_id("pv", str(i)),
                     probe_value=value, labels={"probe.metric": metric, **labels})

    store.write_events([
        reading(1, "kafka.group_lag", 1500, **{"kafka.group": "g", "kafka.topic": "t"}),
        reading(2, "kafka.group_lag", 2500, **{"kafka.group": "g", "kafka.topic": "t"}),
        reading(3, "rabbitmq.queue_growth", 40, **{"rabbitmq.vhost": "/", "rabbitmq.queue": "q.dlq",
                                                   "rabbitmq.dlq": "true"}),
        reading(4, "rabbitmq.queue_growth", 60, **{"rabbitmq.vhost": "/", "rabbitmq.queue": "q.dlq",
                                                   "rabbitmq.dlq": "true"}),
    ])
    engine, _ = _engine(store, tmp_path, "", paths="pack:probes")
    alerts = {a.rule: a for a in engine.evaluate(T0).alerts}
    lag = alerts["kafka-consumer-lag"]
    assert (lag.state, lag.value, lag.annotations["unit"]) == ("pending", 2500, "records")
    growth = alerts["rabbitmq-dead-letter-queue-growing"]
    # 100 messages over the 5 minute window: 20 per minute, not "2 readings".
    assert (growth.value, growth.annotations["unit"]) == (20.0, "messages/min")


def test_certificate_value_is_days_left(store, tmp_path):
    store.write_events([Event(T0 - MIN + i, "midwatch.probe", "generic", "cert",
                              id=event_id("cert", str(i)), probe_value=days,
                              labels={"probe.metric": "tls.certificate", "endpoint": "api:443"})
                        for i, days in enumerate((12, 11))])
    engine, pages = _engine(store, tmp_path, """\
rules:
  - {name: cert, type: threshold, filter: {labels.probe.metric: tls.certificate},
     group_by: [labels.endpoint], above: 0, window: 2h,
     measure: {field: midwatch.probe.value, agg: min, unit: days},
     annotations: {summary: "{{ labels.endpoint }}: {{ value }} days left"}}
""")
    engine.evaluate(T0)
    (n,) = pages.sent
    assert (n.value, n.annotations["unit"], n.annotations["summary"]) == \
        (11.0, "days", "api:443: 11 days left")


def test_new_error_page_quotes_template_and_example_once_per_kind(store, tmp_path):
    ctx = ParseContext(now_ms=T0)
    events = []
    for i, host in enumerate(["host-0", "host-1", "host-2"]):
        ev = Event(T0 - MIN + i * 1000, "app.log", "generic",
                   f"Invoice INV-2000{i} refused by {host}", level="error",
                   id=event_id("ne", str(i)), flow="billing", message_id=f"bill-{i}")
        events.append(normalize(ev, ctx))
    assert len({e.signature for e in events}) == 1  # one kind of error, three hosts
    store.write_events(events)
    engine, pages = _engine(store, tmp_path, "", paths="pack:generic")
    engine.evaluate(T0)
    (n,) = [n for n in pages.sent if n.rule == "new-error-signature"]
    assert n.annotations["summary"] == "New error in billing (3 times): Invoice <id> refused by <id>"
    assert n.annotations["description"].startswith("For example: Invoice INV-2000")
    assert n.message_ids[:1] == ("bill-2",)
