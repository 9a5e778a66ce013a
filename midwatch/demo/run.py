"""Run the demo: write the scenario's files, a flow catalog and a config to a workdir, collect
them in time order (parse -> correlate -> store, as the pipeline does per batch), sweeping for
stuck traces and evaluating the rule packs every few minutes of the scenario's timeline, and
report per flow, with one failed and one stuck trace and the alerts at now."""

from __future__ import annotations

import bisect
import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from collector.config import load_config
from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import DeadLetter, Event
from collector.inputs.base import parse_context
from collector.inputs.checkpoint import CheckpointFile, FilePosition
from collector.inputs.file import Config as FileInputConfig
from collector.inputs.file import matching_files
from collector.knowledge import KnowledgeBase
from collector.parse import parse_stream
from collector.probes.reading import DATASET as PROBE_DATASET
from collector.redaction_key import load_key
from collector.store.base import Store, StoreError, TraceQuery
from collector.trace import Trace
from collector.tracequery import duration_text, table
from collector.yamlconf import load
from midwatch.demo.alerts import Timeline, ticks
from midwatch.demo.probes import readings as probe_readings
from midwatch.demo.scenario import OWN_EDI_ID, build, window

BATCH = 500
SPANS = 5  # web shop spans sent over OTLP/HTTP
PACKS = ("generic", "apigw", "mulesoft", "kafka", "boomi", "edi", "rabbitmq", "probes")

CATALOG = """\
# midwatch demo flow catalog (deploy/flows.example.yaml, adapted to the demo's files:
# the Kafka records come from a file named after the topic, the SAP bridge says "posted" in its message).
ids:
  labels: [x12.isa, x12.gs, edifact.unb, biztalk.interchange, batch, file, kafka.key]
  max_trace_ids: 200
default_sla: 1h
flows:
  - name: order-to-cash
    sla: 15m
    stages:
      - name: api.received
        match: {platform: apigw, labels: {url_path: "/api/orders*"}}
      - name: mule.failed
        terminal: failure
        match: {platform: mulesoft, service: "order-sync*", level: [error, fatal]}
      - name: mule.transformed
        match: {platform: mulesoft, service: "order-sync*"}
      - name: kafka.published
        match: {platform: kafka, topic: [orders, "*orders.jsonl"]}
      - name: boomi.mapping_failed
        terminal: failure
        match: {platform: boomi, process: "Orders to ERP*", outcome: failure,
                error_class: [mapping, validation]}
      - name: boomi.processed
        match: {platform: boomi, process: "Orders to ERP*"}
      - name: erp.rejected
        terminal: failure
        match: {service: sap-bridge, outcome: failure}
      - name: erp.posted
        terminal: success
        match: {service: sap-bridge, message: "(?i)posted"}
  - name: edi-850-outbound
    sla: 4h
    stages:
      - name: edi.997.received
        terminal: ack
        match: {platform: edi, labels: {x12_ack_type: ["997", "999"]}}
      - name: edi.850.sent
        match: {platform: edi, transaction_set: "850", action: sent}
"""


KNOWLEDGE = """\
# midwatch demo known issues (collector/knowledge.py describes the format)
known_issues:
  - id: KI-1
    title: SAP gateway refuses connections from Boomi
    match: {platform: boomi, template: "(?i)connection refused.*sap-gw"}
    symptoms: Boomi "Orders to ERP" fails with Connection refused (sap-gw).
    impact: Orders wait in Boomi and miss their 15 minute SLA; none are lost.
    workaround: Check sap-gw on the SAP host; restart it if it does not answer on its port.
    fix: {description: Health check and automatic restart of sap-gw, status: in_progress,
          ticket: SAP-1234}
    runbook_url: https://wiki.example.com/runbooks/sap-gw
    owner: integration-team
  - id: KI-2
    title: Order sync mapping breaks on orders without a customer reference
    match: {platform: mulesoft, template: "MULE:EXPRESSION"}
    workaround: Ask the web shop team to resend the order with its customer reference.
    fix: {description: Default the reference in the DataWeave mapping, status: open}
    runbook_url: https://wiki.example.com/runbooks/order-sync
    owner: integration-team
  - id: KI-3
    title: GLOBEX rejects purchase orders with an N1 or PO1 segment error
    match: {partner: GLOBEX, error_class: validation}
    workaround: Correct the ship-to (N1) or line (PO1) data and resend the 850.
    fix: {description: Validate N1/PO1 against GLOBEX's guide before sending, status: open}
    owner: edi-team
"""


@dataclass
class Result:
    workdir: Path
    config: Path
    events: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    summary: list[str] = field(default_factory=list)
    failed: Trace | None = None
    stuck: Trace | None = None
    alerts: list[str] = field(default_factory=list)
    alerts_error: str | None = None
    history: Timeline | None = None  # the rule packs' evaluations along the timeline
    broker_lines: int = 0
    probe_readings: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    spans: int = 0
    spans_error: str | None = None
    reports: list[Path] = field(default_factory=list)  # the health report, HTML and PDF
    report_error: str | None = None
    replaced: int = 0  # indices of a previous demo under the same prefix, deleted first


def write_files(workdir: Path, seed: int, messages: int, now_ms: int, *, es: str | None,
                index_prefix: str, result: Result) -> tuple[dict[str, str], list]:
    """The scenario's files, the catalog and midwatch.yaml; returns (file -> format, spans)."""
    sc = build(seed, messages, now_ms)
    result.rejected = sc.rejected
    spans = [(order, *sc.starts[order]) for order, fate in sc.orders.items() if fate == "ok"]
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    formats: dict[str, str] = {}
    for name, (fmt, text) in sc.files.items():
        (logs / name).write_text(text, encoding="utf-8")
        formats[str(logs / name)] = fmt
    (workdir / "flows.yaml").write_text(CATALOG, encoding="utf-8")
    (workdir / "knowledge.yaml").write_text(KNOWLEDGE, encoding="utf-8")
    if es:
        kind, result.replaced = prepare_engine(es, index_prefix)
        store = {"kind": kind, kind: {"url": es, "index_prefix": index_prefix}}
    else:
        store = {"kind": "sqlite", "sqlite": {"path": str(workdir / "midwatch.sqlite")}}
    cfg = {
        "store": store,
        "collector": {"checkpoint_dir": str(workdir / "var" / "checkpoints"),
                      "state_dir": str(workdir / "var")},
        "inputs": [{"type": "file", "name": input_name(p), "paths": [p],
                    "format": fmt, "start_at": "beginning"} for p, fmt in formats.items()],
        "flows": str(workdir / "flows.yaml"),
        "edi": {"own_ids": [OWN_EDI_ID]},
        "rules": {"paths": [f"pack:{p}" for p in PACKS]},
        "knowledge": {"paths": [str(workdir / "knowledge.yaml")]},
        "slos": [{"name": "order-to-cash-sla", "flow": "order-to-cash", "objective": 99.5},
                 {"name": "edi-850-acknowledged", "flow": "edi-850-outbound", "objective": 95}],
    }
    # JSON is YAML: no dumper needed, and the file stays readable
    result.config.write_text("# written by `midwatch demo`\n" + json.dumps(cfg, indent=2) + "\n",
                             encoding="utf-8")
    return formats, spans[:SPANS]


def prepare_engine(url: str, index_prefix: str) -> tuple[str, int]:
    """(the store kind of the node at ``url``, how many indices of a previous demo went).

    ``--es`` takes Elasticsearch or OpenSearch, and the person has no config of their own to
    name it in. A previous demo's indices and templates under ``index_prefix`` are deleted:
    the same seed makes the same order numbers, so a second run would join its messages to
    the first run's traces and page twice for each certificate. A node that does not answer
    is taken as Elasticsearch, so the store's own error says why."""
    import elastic_transport

    from collector.store.engines import client, delete_prefix, engine_of_client

    es = client(url, request_timeout=10, max_retries=0)
    try:
        kind = engine_of_client(es).product
    except (elastic_transport.TransportError, StoreError):
        es.close()
        return "elasticsearch", 0
    try:
        return kind, len(delete_prefix(es, f"{index_prefix}-"))
    except elastic_transport.TransportError:
        return kind, 0  # the store's own error will say why
    finally:
        es.close()


def _p95(values: list[int]) -> int | None:
    if not values:
        return None
    values = sorted(values)
    return values[max(0, -(-95 * len(values) // 100) - 1)]


def summarize(store: Store) -> tuple[list[str], Trace | None, Trace | None]:
    store.refresh()
    rows, failed, stuck = [], None, None
    by_flow: dict[str, list[Trace]] = {}
    for t in store.search_traces(TraceQuery(limit=100_000)):
        by_flow.setdefault(t.flow or "unknown", []).append(t)
    # order-to-cash first, so the example traces come from the main flow
    for flow in sorted(by_flow, key=lambda f: (f != "order-to-cash", f)):
        ts = sorted(by_flow[flow], key=lambda t: t.trace_key)
        st = [t.status for t in ts]
        done = [t.duration_ms for t in ts if t.status in ("completed", "acknowledged")]
        rows.append([flow, len(ts), st.count("completed") + st.count("acknowledged"),
                     st.count("failed") + st.count("rejected"), st.count("stuck"),
                     sum(t.retry_count for t in ts), duration_text(_p95(done))])
        failed = failed or next((t for t in ts if t.status == "failed"), None)
        stuck = stuck or next((t for t in ts if t.status == "stuck"), None)
    text = table(["flow", "messages", "completed", "failed", "stuck", "retries",
                  "p95 duration"], rows)
    return text.splitlines(), failed, stuck


def collect(config_path: Path, formats: dict[str, str], now_ms: int, result: Result,
            spans: list, probe_events: list[Event]) -> None:
    from rules.config import load_rules_config

    config = load_config(config_path)
    rules_config = load_rules_config(config.doc)
    if rules_config.errors:
        result.alerts_error = str(rules_config.errors[0])
    store = config.open_store()
    store.setup()
    try:
        catalog = build_catalog(load(str(config_path.parent / "flows.yaml")))
        correlator = Correlator(catalog, store)
        knowledge = rules_config.knowledge
        events, dead = parse_files(config, formats, result)
        store.write_deadletters(dead)  # as the pipeline does: none dropped unseen
        events += probe_events
        events.sort(key=lambda e: e.timestamp_ms)  # arrival order across the sources
        result.events = len(events)
        timeline = result.history = (None if result.alerts_error
                                     else Timeline.open(rules_config, store))
        times = [e.timestamp_ms for e in events]
        done = 0
        # up to each evaluation time: store what arrived, sweep, evaluate, as `midwatch run` does
        for at in ticks(times[0], window(now_ms)[0], now_ms) if timeline and events else ():
            upto = bisect.bisect_right(times, at)
            store_events(correlator, store, events[done:upto], knowledge)
            done = upto
            correlator.sweep(at)
            store.refresh()
            timeline.evaluate(at)
        store_events(correlator, store, events[done:], knowledge)
        try:
            result.spans = send_spans(config, correlator, store, spans)
        except Exception as exc:  # the demo stands without the OTLP part
            result.spans_error = f"{type(exc).__name__}: {exc}"
        correlator.sweep(now_ms)
        store.refresh()
        if timeline is not None:
            alerts_at_now(timeline, rules_config, now_ms, result)
        result.summary, result.failed, result.stuck = summarize(store)
        write_checkpoints(config)
    finally:
        store.close()


def write_checkpoints(config) -> None:
    """Each file input's checkpoint at its files' ends, as `midwatch run` leaves it once the
    store acknowledged every line. The demo stored them all, so `midwatch doctor` reports
    no input behind and a first `midwatch run` goes on from there instead of reading every
    file again (which would also duplicate the Kafka-record file's events: the demo gives
    them their topic as source, as the Kafka input does, and a file re-read its path)."""
    for inp in config.inputs:
        if not isinstance(inp, FileInputConfig):
            continue
        positions = {}
        for pattern in inp.paths:
            for path, st in matching_files(pattern):
                with open(path, "rb") as fh:
                    lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
                pos = FilePosition(path, st.st_dev, st.st_ino, st.st_size, lines, size=st.st_size)
                positions[pos.key] = pos
        CheckpointFile(config.collector.checkpoint_dir, inp.name).save(positions)


def input_name(path: str) -> str:
    """The demo config's name for the file input reading ``path``."""
    return Path(path).stem.replace(".", "-")


def parse_files(config, formats: dict[str, str],
                result: Result) -> tuple[list[Event], list[DeadLetter]]:
    """Every file's events and dead letters (named by their input, as the pipeline names
    them); counts the broker log lines."""
    events: list[Event] = []
    dead: list[DeadLetter] = []
    key = load_key(config.collector, config.file)
    for path, fmt in formats.items():
        ctx = parse_context(config.collector, config.edi_own_ids, None, key)
        with open(path, "rb") as f:
            # a Kafka record's source is its topic, as the Kafka input hands it over
            source = f"kafka:{Path(path).stem}" if fmt == "kafka-record" else path
            for out in parse_stream(f, source, fmt, ctx):
                if isinstance(out, DeadLetter):
                    dead.append(replace(out, input=input_name(path)))
                else:
                    events.append(out)
                    result.broker_lines += fmt in ("kafka-broker", "rabbitmq")
    result.dead_letters = len(dead)
    return events, dead


def store_events(correlator: Correlator, store: Store, events: list[Event],
                 knowledge: KnowledgeBase) -> None:
    """Log events as the pipeline stores them (correlated); probe readings as the probe runner
    does, straight to the store: they belong to no message and no flow."""
    for start in range(0, len(events), BATCH):
        chunk = events[start:start + BATCH]
        correlator.process([e for e in chunk if e.dataset != PROBE_DATASET])
        knowledge.annotate(chunk)  # after correlation, as the pipeline does
        store.write_events(chunk)
        correlator.flush()


def send_spans(config, correlator: Correlator, store: Store, spans: list) -> int:
    """Export one web-shop span per order through opentelemetry-sdk's OTLP/HTTP exporter to
    an in-process OTLP receiver (collector.inputs.otlp); its events go through the same
    correlate -> store steps. Returns the events stored."""
    import threading

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from collector.inputs.base import ChunkQueue
    from collector.inputs.otlp import Config as OtlpConfig
    from collector.inputs.otlp import OtlpInput

    receiver = OtlpInput(OtlpConfig(name="demo-otlp", listen=("127.0.0.1", 0)),
                         parse_context(config.collector, config.edi_own_ids, None))
    queue = ChunkQueue(16)
    server = threading.Thread(target=receiver.run, args=(queue,), daemon=True)
    server.start()
    provider = TracerProvider(resource=Resource.create({"service.name": "web-shop"}))
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{receiver.port}/v1/traces",
                                timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("midwatch.demo")
    done = threading.Event()

    def export() -> None:
        try:
            for order, at_ms, corr in spans:
                start_ns = (at_ms // 1000 * 1000 - 40) * 1_000_000  # the gateway logs seconds
                span = tracer.start_span("POST /checkout", start_time=start_ns, attributes={
                    "order.id": order, "http.request.header.x-correlation-id": corr})
                span.end(end_time=start_ns + 35_000_000)
        finally:
            provider.shutdown()
            done.set()

    exporting = threading.Thread(target=export, daemon=True)
    exporting.start()
    stored = 0
    try:
        while not (done.is_set() and queue.depth() == 0):
            chunk = queue.get(0.1)
            if chunk is None:
                continue
            evs = [i for i in chunk.items if isinstance(i, Event)]
            correlator.process(evs)
            store.write_events(evs)
            correlator.flush()
            stored += len(evs)
            if chunk.ack:
                chunk.ack()
    finally:
        receiver.stop()
        server.join(5)
        receiver.close()
    return stored


def alerts_at_now(timeline: Timeline, rules_config, now_ms: int, result: Result) -> None:
    """The last evaluation, at now: what is firing, with example message IDs."""
    from rules.engine import with_examples

    outcome = timeline.evaluate(now_ms)
    by_name = {r.name: r for r in rules_config.rules}
    for alert in with_examples(timeline.engine, outcome, now_ms):
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        sent_to = ", ".join(rules_config.notifiers_of(by_name[alert.rule]))
        result.alerts.append(f"{alert.state:<8} {alert.severity or '-':<8} {alert.rule} "
                             f"{{{labels}}} value={alert.value} "
                             f"-> {sent_to or 'no notifier configured (add notifiers: to the config)'}")
    for name, reason in timeline.failed_rules.items():
        result.alerts.append(f"rule {name} failed: {reason}")


def run_demo(workdir: Path, *, seed: int = 7, messages: int = 300, es: str | None = None,
             index_prefix: str = "midwatch-demo", now_ms: int | None = None) -> Result:
    started = time.monotonic()
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    workdir.mkdir(parents=True, exist_ok=True)
    result = Result(workdir=workdir, config=workdir / "midwatch.yaml")
    formats, spans = write_files(workdir, seed, messages, now_ms, es=es,
                                 index_prefix=index_prefix, result=result)
    probe_events = probe_readings(seed, *window(now_ms))
    result.probe_readings = len(probe_events)
    collect(result.config, formats, now_ms, result, spans, probe_events)
    result.seconds = time.monotonic() - started
    write_report(result, now_ms)
    return result


def write_report(result: Result, now_ms: int) -> None:
    """The health report of the demo's month (``midwatch report --period``), HTML and PDF."""
    from midwatch.report.period import between, month, previous
    from midwatch.report.run import make_report

    today = datetime.fromtimestamp(now_ms / 1000, UTC)
    first = datetime.fromtimestamp(window(now_ms)[0] / 1000 - 3600 * 12, UTC)  # EDI starts early
    period = (month(today.year, today.month) if first.month == today.month
              else between(first.date().isoformat(), today.date().isoformat()))
    try:
        for fmt in ("html", "pdf"):
            out = result.workdir / "report" / f"health-{period.label.replace(' ', '_')}.{fmt}"
            result.reports.append(make_report(str(result.config), period, previous(period), out,
                                              fmt)[0])
    except Exception as exc:  # the demo stands without its report
        result.report_error = f"{type(exc).__name__}: {exc}"

