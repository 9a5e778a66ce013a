"""Probe readings as events, bounded growth memory, and the scheduler: a slow probe costs
only its own runs, a failing probe says so, results land in a real store."""

from __future__ import annotations

import threading
import time

from collector.event import from_doc, to_doc
from collector.metrics import Registry
from collector.probes.config import ProbeSpec
from collector.probes.reading import Growth, ProbeIdentity, Reading, to_event
from collector.probes.runner import ProbeRunner, Scheduled, measure, run_probe
from collector.store.base import Agg, Filter, MetricQuery
from collector.store.sqlite import SQLiteStore

IDENTITY = ProbeIdentity("lag", "kafka", "kafka", "broker-1:9092")


def test_a_reading_is_an_event_rules_and_boards_can_query():
    r = Reading("kafka.group_lag", 1500, {"kafka.group": "orders", "kafka.topic": "orders"})
    ev = to_event(IDENTITY, r, 1_709_546_400_000)
    doc = to_doc(ev)
    assert doc["event"]["dataset"] == "midwatch.probe"
    assert doc["midwatch"]["probe"] == {"value": 1500}
    assert doc["labels"] == {"probe.kind": "kafka", "probe.name": "lag",
                             "probe.metric": "kafka.group_lag", "kafka.group": "orders",
                             "kafka.topic": "orders"}
    assert doc["service"] == {"name": "lag"} and doc["host"] == {"name": "broker-1:9092"}
    assert doc["message"] == "kafka.group_lag kafka.group=orders, kafka.topic=orders = 1500"
    assert from_doc(doc) == ev
    # Same probe, same thing, same instant: same ID (a retried write overwrites).
    assert to_event(IDENTITY, r, 1_709_546_400_000).id == ev.id
    assert to_event(IDENTITY, r, 1_709_546_430_000).id != ev.id
    other = Reading("kafka.group_lag", 1500, {"kafka.group": "audit", "kafka.topic": "orders"})
    assert to_event(IDENTITY, other, 1_709_546_400_000).id != ev.id


def test_a_bad_reading_is_a_failure_event():
    ev = to_event(IDENTITY, Reading("endpoint.up", 0, {"endpoint": "x:1"}, ok=False,
                                    error="refused"), 1000)
    assert (ev.outcome, ev.level, ev.error_message) == ("failure", "error", "refused")
    assert ev.message.endswith("= 0: refused")


def test_growth_is_the_change_since_last_time_and_forgets_the_oldest():
    g = Growth(max_series=2)
    assert g.delta(("a",), 10) is None
    assert g.delta(("a",), 14) == 4
    assert g.delta(("a",), 11) == -3
    g.delta(("b",), 1)
    g.delta(("c",), 1)  # a is now the least recently seen of three: dropped
    assert g.delta(("a",), 20) is None
    assert g.delta(("c",), 5) == 4


class FakeProbe:
    """Stands in for a target: counts runs, can block until released, can fail."""

    def __init__(self, *, block: threading.Event | None = None, fail: str | None = None):
        self.target = "fake:1"
        self.block, self.fail = block, fail
        self.runs = 0
        self.closed = 0

    def run(self, timeout_s: float) -> list[Reading]:
        self.runs += 1
        if self.block is not None:
            self.block.wait(5)
        if self.fail:
            raise ConnectionError(self.fail)
        return [Reading("fake.value", self.runs, {"n": str(self.runs)})]

    def close(self) -> None:
        self.closed += 1


def _item(name: str, probe: FakeProbe, interval_ms: int = 100) -> Scheduled:
    spec = ProbeSpec(name, "http", interval_ms, interval_ms, settings=None)
    return Scheduled(spec, probe, ProbeIdentity(name, "http", "generic", probe.target))


def test_a_failing_probe_reports_probe_up_zero_and_reconnects():
    probe = FakeProbe(fail="connection refused")
    events = run_probe(_item("api", probe), 5000)
    assert [(e.labels["probe.metric"], e.probe_value, e.outcome) for e in events] == [
        ("probe.up", 0, "failure")]
    assert events[0].error_message == "ConnectionError: connection refused"
    assert probe.closed == 1
    ok = run_probe(_item("api", FakeProbe()), 5000)
    assert [(e.labels["probe.metric"], e.probe_value) for e in ok] == [("probe.up", 1),
                                                                       ("fake.value", 1)]
    assert ok[0].duration_ns is not None and ok[1].duration_ns is None


def test_a_slow_probe_never_holds_up_the_others(tmp_sqlite_path):
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    release = threading.Event()
    slow, fast = FakeProbe(block=release), FakeProbe()
    runner = ProbeRunner([], store)
    runner.items = [_item("slow", slow), _item("fast", fast)]
    runner.start()
    deadline = time.monotonic() + 10
    while fast.runs < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    release.set()
    runner.stop()
    slow_item = runner.items[0]
    assert fast.runs >= 5
    assert slow.runs == 1 and slow_item.skipped >= 3  # never stacked on itself
    store.refresh()
    [rows] = store.metrics([MetricQuery(
        "events", 0, 2**62, Agg("max", "midwatch.probe.value"),
        filters=(Filter("labels.probe.metric", "eq", "fake.value"),),
        group_by=("service.name",))])
    by_probe = {r.group["service.name"]: (r.value, r.count) for r in rows}
    assert by_probe["fast"][1] == fast.runs and by_probe["fast"][0] == fast.runs
    assert by_probe["slow"] == (1, 1)
    assert slow.closed == 1 and fast.closed == 1
    store.close()


class TimingOutProbe(FakeProbe):
    def run(self, timeout_s: float) -> list[Reading]:
        self.runs += 1
        raise TimeoutError("timed out")


def _metric_lines(text: str, name: str) -> dict[str, str]:
    return {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in text.splitlines()
            if line.startswith(name)}


def test_runs_are_counted_in_the_service_registry_by_result(tmp_sqlite_path):
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    release = threading.Event()
    ok, down, slow, hung = FakeProbe(), FakeProbe(fail="refused"), FakeProbe(block=release), \
        TimingOutProbe()
    runner = ProbeRunner([], store)
    runner.items = [_item("ok", ok), _item("down", down), _item("slow", slow),
                    _item("hung", hung)]
    registry = Registry()
    runner.expose_metrics(registry)
    runner.expose_metrics(registry)  # again: same families, nothing doubled
    before = time.time()
    runner.start()
    deadline = time.monotonic() + 10
    while (ok.runs < 3 or runner.items[2].skipped < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    release.set()
    runner.stop()
    store.close()
    text = registry.expose()

    runs = _metric_lines(text, "midwatch_probe_runs_total{")
    assert runs['midwatch_probe_runs_total{probe="ok",result="ok"}'] == str(ok.runs)
    assert runs['midwatch_probe_runs_total{probe="ok",result="error"}'] == "0"
    assert runs['midwatch_probe_runs_total{probe="down",result="error"}'] == str(down.runs)
    assert runs['midwatch_probe_runs_total{probe="down",result="ok"}'] == "0"
    assert runs['midwatch_probe_runs_total{probe="hung",result="timeout"}'] == str(hung.runs)
    assert runs['midwatch_probe_runs_total{probe="slow",result="skipped_overrun"}'] == \
        str(runner.items[2].skipped)
    assert runs['midwatch_probe_runs_total{probe="slow",result="ok"}'] == "1"
    assert {k.split('"')[1] for k in runs} == {"ok", "down", "slow", "hung"}  # config only
    assert "# TYPE midwatch_probe_duration_seconds histogram" in text
    counts = _metric_lines(text, "midwatch_probe_duration_seconds_count")
    assert counts['midwatch_probe_duration_seconds_count{probe="ok"}'] == str(ok.runs)
    assert counts['midwatch_probe_duration_seconds_count{probe="slow"}'] == "1"
    last = _metric_lines(text, "midwatch_probe_last_success_timestamp_seconds{")
    assert set(last) == {'midwatch_probe_last_success_timestamp_seconds{probe="ok"}',
                         'midwatch_probe_last_success_timestamp_seconds{probe="slow"}'}
    assert all(before <= float(v) <= time.time() for v in last.values())


def test_a_run_is_ok_only_when_every_reading_is_and_a_timeout_says_so():
    assert measure(_item("a", FakeProbe()), 0).result == "ok"
    assert measure(_item("b", FakeProbe(fail="refused")), 0).result == "error"
    assert measure(_item("c", TimingOutProbe()), 0).result == "timeout"

    class EndpointDown(FakeProbe):  # probes such as http report the target down in a reading
        def run(self, timeout_s: float) -> list[Reading]:
            return [Reading("endpoint.up", 0, {"endpoint": "x"}, ok=False, error="refused")]

    down = measure(_item("d", EndpointDown(), interval_ms=60_000), 0)
    assert (down.result, [e.outcome for e in down.events]) == ("error", ["success", "failure"])


def test_a_plugin_probes_label_keys_are_stored_lower_case():
    # Review M: probe events do not pass ``collector.normalize``; a plug-in probe naming its
    # label as IBM MQ does (queueManager) was stored so, and no rule could name it.
    r = Reading("ibmmq.queue_depth", 7, {"ibmmq.queueManager": "QM1"})
    ev = to_event(ProbeIdentity("mq", "ibmmq", "ibmmq", "qm1:1414"), r, 1_709_546_400_000)
    assert ev.labels["ibmmq.queuemanager"] == "QM1" and "ibmmq.queueManager" not in ev.labels
