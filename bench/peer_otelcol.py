"""midwatch next to its peer, the OpenTelemetry Collector, on the same files into the same store.

Run: ``.venv/bin/python bench/peer_otelcol.py [--lines 200000] [--reps 3] [--concurrency 8]``
with Elasticsearch at MIDWATCH_ES_URL (default http://127.0.0.1:9200) and Go on PATH.

Users choosing between an OTel Collector pipeline and midwatch compare exactly this (issue 25),
so the bench runs, interleaved and ``--reps`` times, in a rotating order, on the three files of
``e2e_bench.generate`` (Mule runtime, JSON lines, NGINX access log):

- ``otelcol``: the Collector built with the Collector Builder from the Go module proxy
  (builder, ``filelog`` receiver, ``batch`` and ``transform`` processors and ``elasticsearch``
  exporter at v0.148.0; later exporter releases are refused by the proxy here) into
  ``$MIDWATCH_CACHE/otelcol-bench`` (outside the repo; built once). Its config (written by
  ``otelcol_config``) routes each file to its operators: a regex for Mule (time, level, app,
  flow, processor, correlation ID from ``event:``, logger, message), ``json_parser`` for the
  JSON lines (``@timestamp``, level, message, service, correlation ID renamed to
  ``correlation_id``, order ID), a regex for NGINX (client, time, method, path, status, bytes,
  user agent, request and upstream times, request ID, correlation ID; severity from the status
  class). Exporter defaults (gzip level 1, a queue of 10 consumers, 1-5 MB bulk requests; the
  queue's flush timeout 1 s like midwatch's flush interval, not 10 s) in
  its ``raw`` mapping (see ``otelcol_config``) into an index of its own, created before its
  clock starts with Elasticsearch's dynamic mapping (text + keyword per string: more work for
  the store than midwatch's keyword mappings); timed from process start until its own
  telemetry counts every record sent (``otelcol_exporter_sent_log_records``), then checked
  against the index's count.
- ``midwatch events``/``midwatch correlated``: ``e2e_bench.end_to_end`` (the collector service
  as ``midwatch run`` builds it: file input with auto-detection, parse worker, writer, the
  Elasticsearch store; with or without the correlator) in a fresh interpreter, timed from
  service start until the store acknowledged every event.
- ``midwatch run``: the real CLI (``run_cli``), correlated, with its API, rule scheduler and
  logging, timed from process start (interpreter start and setup included, as for the
  Collector) until its file input's checkpoint (read from disk: watching costs it nothing)
  covers every byte of the files, then checked against its own
  ``midwatch_events_indexed_total``. Its start-up (CPU until its parse worker started:
  interpreter, imports, config, store setup, rule scheduler) is printed apart: a fixed cost
  per process that the in-process figure does not carry. Every checkout the bench runs is
  compiled to bytecode first (``compile_bytecode``), as an installed midwatch is.
- ``capacity``: what the store itself takes (issue 25 item 2): midwatch's own documents (the
  events, and for the correlated figure each trace document the correlated run left, once),
  serialized to NDJSON bulk bodies and gzip-compressed before the clock starts, sent as
  ``--concurrency`` bulk requests in flight. ``helpers.bulk`` once (one request at a time,
  uncompressed; the old reference of e2e_bench) is printed beside it as context, first
  repetition only.

What the Collector does not extract, so it does less work per line than midwatch: no
deterministic event IDs (Elasticsearch assigns them: a replay duplicates), no outcome or error
class (only a severity), no typed IDs from message text (order numbers inside Mule messages),
no redaction, no dead letters for lines its operators fail on (they are shipped with the raw
line only), no service or host inference for lines that do not name one, and no correlation:
no trace documents, no hops, no message-level lookups. Its documents keep the raw line as
``body`` next to the parsed attributes; midwatch stores the parsed message only.

``--contenders`` picks some of them (``--no-capacity`` skips the capacity runs), and
``--base CHECKOUT`` runs each midwatch contender a second time, interleaved, from another
checkout (its directory first on PYTHONPATH; the same venv and native extension): a change
against its parent in one run, which on a shared machine is the only comparison that holds.

Printed per repetition and as medians: events/s, collector CPU us/event (the process and its
children: /proc for the Collector, parse workers included for midwatch), Elasticsearch's CPU
us/event (its pid, from services.sh's pid file), peak RSS, and each figure's ratio to the
Collector's in the same repetition. The Collector's CPU includes its start-up (tens of ms);
midwatch's excludes interpreter start and index setup.
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
import urllib3
from ceiling import cleanup, es_cpu_s, proc_cpu_s, proc_stat, raw_bulk
from e2e_bench import WARM_UP, end_to_end, generate
from elasticsearch import Elasticsearch

from collector.event import Event, to_doc
from collector.inputs.checkpoint import CheckpointFile
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store import es_mappings
from collector.store.elasticsearch import ElasticsearchStore

OTELCOL_VERSION = "0.148.0"
CACHE = Path(os.environ.get("MIDWATCH_CACHE", Path.home() / ".cache" / "midwatch")) / "otelcol-bench"
BINARY = CACHE / "dist" / "otelcol-bench"
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
BUILDER_YAML = f"""\
dist:
  name: otelcol-bench
  description: OTel Collector for midwatch's ingest bench (bench/peer_otelcol.py)
  output_path: ./dist
receivers:
  - gomod: {CONTRIB}/receiver/filelogreceiver v{OTELCOL_VERSION}
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor v{OTELCOL_VERSION}
  - gomod: {CONTRIB}/processor/transformprocessor v{OTELCOL_VERSION}
exporters:
  - gomod: {CONTRIB}/exporter/elasticsearchexporter v{OTELCOL_VERSION}
"""
SENT = "otelcol_exporter_sent_log_records"
# How often the contenders' own counters are read: a /metrics scrape costs ``midwatch run``
# 0.75-1.4 ms of CPU, so reading it 20 times a second added ~12 us to each of 60k events.
# ``midwatch run`` is watched through its checkpoint file instead: at 4 scrapes a second, a
# run slowed to 300 events/s by a busy store paid ~20 us an event for being watched.
POLL_S = 0.25
# Its checkpoint file costs it nothing to be read, so it is read as often as e2e_bench polls
# the in-process service (every 50 ms): at POLL_S the end was seen 0.125 s late on average,
# 2-3% of a 60k-line run's time charged to the CLI's rate alone.
CHECKPOINT_POLL_S = 0.05
CONTENDERS = ("otelcol", "midwatch events", "midwatch correlated", "midwatch run")
# One bulk body per this many documents in the capacity run: ~1-2 MB uncompressed, inside the
# Collector's own 1-5 MB request bounds.
CAPACITY_CHUNK = 2_000


def build_otelcol() -> Path:
    """The Collector binary, built once per component list (a Go build takes minutes on a
    shared machine)."""
    spec = CACHE / "builder.yaml"
    if BINARY.exists() and spec.exists() and spec.read_text() == BUILDER_YAML:
        return BINARY
    if shutil.which("go") is None:
        sys.exit("peer_otelcol: building the OpenTelemetry Collector needs Go on PATH "
                 "(https://go.dev/dl/; the module proxy serves the rest)")
    CACHE.mkdir(parents=True, exist_ok=True)
    spec.write_text(BUILDER_YAML)
    log = CACHE / "build.log"
    print(f"building the OTel Collector {OTELCOL_VERSION} into {CACHE} (log: {log}) ...",
          flush=True)
    env = {**os.environ, "GOBIN": str(CACHE / "bin")}
    with log.open("a") as out:
        for cmd in (["go", "install", f"go.opentelemetry.io/collector/cmd/builder@v{OTELCOL_VERSION}"],
                    [str(CACHE / "bin" / "builder"), "--config", "builder.yaml"]):
            if subprocess.run(cmd, cwd=CACHE, env=env, stdout=out, stderr=out).returncode:
                sys.exit(f"peer_otelcol: {' '.join(cmd)} failed; see {log}")
    return BINARY


MULE_RE = (r"^(?P<level>[A-Z]+)\s+(?P<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) "
           r"\[\[(?P<runtime>[^\]]+)\]\.(?P<thread>[^:]+): \[(?P<app>[^\]]+)\]\.(?P<flow>[^.\]]+)"
           r"\.(?P<processing>\S+) @(?P<context>\w+)\] \[processor: (?P<processor>[^;]+); "
           r"event: (?P<correlation_id>[^\]]+)\] (?P<logger>\S+): (?P<message>.*)$")
NGINX_RE = (r'^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) '
            r'(?P<path>\S+) (?P<protocol>[^"]+)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
            r'"(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)" (?P<request_time>\S+) '
            r'(?P<upstream_time>\S+) "(?P<request_id>[^"]*)" "(?P<correlation_id>[^"]*)"$')


def otelcol_config(logs: Path, url: str, index: str, metrics_port: int) -> str:
    """The Collector's config: one filelog receiver over the three files, routed by file name
    to the operators for its format (as midwatch's one file input auto-detects the format)."""
    doc = {
        "receivers": {"filelog": {
            "include": [str(logs / "*")],
            "start_at": "beginning",
            "operators": [
                {"type": "router", "routes": [
                    {"output": "mule", "expr": 'attributes["log.file.name"] == "mule.log"'},
                    {"output": "json", "expr": 'attributes["log.file.name"] == "gateway.jsonl"'},
                    {"output": "nginx", "expr": 'attributes["log.file.name"] == "nginx.log"'},
                ]},
                {"id": "mule", "type": "regex_parser", "regex": MULE_RE, "output": "end",
                 "timestamp": {"parse_from": "attributes.time", "layout_type": "gotime",
                               "layout": "2006-01-02 15:04:05,000"},
                 "severity": {"parse_from": "attributes.level"}},
                {"id": "json", "type": "json_parser", "output": "json_corr",
                 "timestamp": {"parse_from": 'attributes["@timestamp"]', "layout_type": "gotime",
                               "layout": "2006-01-02T15:04:05.000Z07:00"},
                 "severity": {"parse_from": "attributes.level"}},
                {"id": "json_corr", "type": "move", "output": "end",
                 "from": "attributes.correlationId", "to": "attributes.correlation_id"},
                {"id": "nginx", "type": "regex_parser", "regex": NGINX_RE, "output": "end",
                 "timestamp": {"parse_from": "attributes.time", "layout_type": "gotime",
                               "layout": "02/Jan/2006:15:04:05 -0700"},
                 "severity": {"parse_from": "attributes.status",
                              "mapping": {"error": "5xx", "warn": "4xx", "info": ["2xx", "3xx"]}}},
                {"id": "end", "type": "noop"},
            ],
        }},
        # The exporter's default "otel" mapping writes to data streams only (require_data_stream),
        # which the trimmed Elasticsearch of services.sh lacks; "raw" is the OTLP record as is
        # (body, severity, time, attributes at the top level) into an ordinary index. The mode
        # is chosen by a scope attribute now (the config key is ignored since v0.145.0): one
        # transform statement per scope, not per record.
        "processors": {"batch": {}, "transform": {"log_statements": [{
            "context": "scope",
            "statements": ['set(attributes["elastic.mapping.mode"], "raw")']}]}},
        # Defaults but the queue's flush timeout: 1 s, midwatch's own flush interval, instead
        # of 10 s, which would otherwise hold the run's last partial request that long.
        "exporters": {"elasticsearch": {"endpoint": url, "logs_index": index,
                                        "sending_queue": {"batch": {"flush_timeout": "1s"}}}},
        "service": {
            "telemetry": {
                "logs": {"level": "warn"},
                "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
                    "host": "127.0.0.1", "port": metrics_port}}}}]},
            },
            "pipelines": {"logs": {"receivers": ["filelog"], "processors": ["transform", "batch"],
                                   "exporters": ["elasticsearch"]}},
        },
    }
    return json.dumps(doc, indent=1)  # YAML is a superset of JSON


@dataclass
class Run:
    """One contender's figures in one repetition."""

    rate: float  # events/s
    cpu_us: float  # collector CPU per event
    es_us: float | None  # Elasticsearch CPU per event
    rss_mb: float | None  # peak resident memory of the collector (main process + workers)
    worker_rss_mb: float | None = None  # of that, the largest parse worker's
    startup_s: float | None = None  # ``midwatch run``: CPU before its parse worker started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _counted(port: int, metric: str) -> int:
    """A counter's total (all label sets) from a Prometheus endpoint on this machine: what
    the contender itself counts as acknowledged by the store; 0 until it answers."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return 0
    total = 0
    for line in text.decode().splitlines():
        if line.startswith(metric):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live descendants."""
    fields = proc_stat(str(pid))
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return proc_cpu_s(str(pid), fields) + reaped + sum(_tree_cpu_s(c) for c in _children(pid))


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no VmHWM for pid {pid}")


def run_otelcol(binary: Path, logs: Path, url: str, expected: int, work: Path,
                timeout_s: float) -> Run:
    index = f"mwpeer-{uuid.uuid4().hex[:6]}"
    port = _free_port()
    conf = work / "otelcol.yaml"
    conf.write_text(otelcol_config(logs, url, index, port))
    es = Elasticsearch(url, request_timeout=120)
    es.indices.create(index=index)  # before the clock, as midwatch's store.setup()
    out = (work / "otelcol.log").open("wb")
    es_before, started = es_cpu_s(), time.perf_counter()
    proc = subprocess.Popen([str(binary), f"--config={conf}"], stdout=out, stderr=out)
    try:
        deadline = started + timeout_s
        while (sent := _counted(port, SENT)) < expected:
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"peer_otelcol: the Collector sent {sent} of {expected} "
                                 f"records (exit {proc.returncode}); see {work / 'otelcol.log'}")
            time.sleep(POLL_S)
        elapsed = time.perf_counter() - started
        cpu_s, es_after, rss = _tree_cpu_s(proc.pid), es_cpu_s(), _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        out.close()
    try:
        es.indices.refresh(index=index)
        stored = es.count(index=index)["count"]
        # An operator that fails sends the line on unparsed (on_error: send) and only logs it:
        # every document must carry what the operators extract, with the line's own time.
        parsed = es.count(index=index, query={"bool": {"filter": [
            {"exists": {"field": "correlation_id"}}, {"exists": {"field": "SeverityText"}},
            {"range": {"@timestamp": {"lt": "2025-01-01"}}}]}})["count"]
        if stored != expected or parsed != expected:
            raise SystemExit(f"peer_otelcol: {stored} documents in {index} ({parsed} parsed), "
                             f"{expected} expected; see {work / 'otelcol.log'}")
    finally:
        es.indices.delete(index=index)
        es.close()
    return Run(expected / elapsed, cpu_s / expected * 1e6, _per_event(es_before, es_after,
                                                                      expected), rss)


def run_midwatch(logs: Path, url: str, expected: int, correlate: bool, work: Path,
                 env: dict[str, str]) -> tuple[Run, Path]:
    """e2e_bench's service run in a fresh interpreter (so its peak RSS is its own); the
    trace documents it left are written to a file for the capacity run."""
    traces = work / f"traces-{uuid.uuid4().hex[:6]}.jsonl"
    cmd = [sys.executable, __file__, "--child", str(logs), "--expected", str(expected),
           "--traces-out", str(traces)] + ([] if correlate else ["--events-only"])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**env, "MIDWATCH_ES_URL": url}).stdout
    fig = json.loads(out.strip().splitlines()[-1])
    return Run(fig["rate"], fig["cpu_us"], fig["es_us"], fig["rss_mb"],
               fig["worker_rss_mb"]), traces


def run_cli(logs: Path, url: str, expected: int, work: Path, timeout_s: float,
            env: dict[str, str]) -> Run:
    """``midwatch run -c`` as a user starts it (API, rule scheduler, logging; correlated),
    timed from process start until its own ``midwatch_events_indexed_total`` counts every
    event (issue 25 item 4: the CLI against the in-process service)."""
    prefix = f"mwbench-cli-{uuid.uuid4().hex[:6]}"
    port = _free_port()
    conf = work / f"{prefix}.yaml"
    conf.write_text(f"""
store:
  kind: elasticsearch
  elasticsearch: {{url: "{url}", index_prefix: {prefix}}}
collector:
  checkpoint_dir: {work / prefix / "checkpoints"}
  state_dir: {work / prefix}
  spool: {{dir: {work / prefix / "spool"}}}
api: {{listen: "127.0.0.1:{port}"}}
inputs:
  - {{type: file, name: bench, paths: ["{logs}/*"]}}
""")
    out = (work / f"{prefix}.log").open("wb")
    es_before, started = es_cpu_s(), time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("midwatch")), "run", "-c",
                             str(conf), "--log-level", "warning"], stdout=out, stderr=out,
                            env=env)
    try:
        deadline = started + timeout_s
        startup_s = _startup_cpu_s(proc, deadline)
        checkpoints, size = work / prefix / "checkpoints", sum(
            p.stat().st_size for p in logs.iterdir())
        while (done := _acked_bytes(checkpoints)) < size:
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"peer_otelcol: midwatch run acknowledged {done} of {size} "
                                 f"bytes (exit {proc.returncode}); see {out.name}")
            time.sleep(CHECKPOINT_POLL_S)
        elapsed = time.perf_counter() - started
        cpu_s, es_after = _tree_cpu_s(proc.pid), es_cpu_s()
        # 0 while a scrape goes unanswered (a busy machine): asked again until the deadline.
        while (indexed := _counted(port, "midwatch_events_indexed_total")) != expected:
            if indexed > expected or time.perf_counter() > deadline:
                raise SystemExit(f"peer_otelcol: midwatch run acknowledged every byte but "
                                 f"counts {indexed} of {expected} events indexed; see {out.name}")
            time.sleep(POLL_S)
        main = _peak_rss_mb(proc.pid)
        worker = max((_peak_rss_mb(pid) for pid in _children(proc.pid)), default=0.0)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        out.close()
        es = Elasticsearch(url, request_timeout=120)
        cleanup(es, prefix)
        es.close()
    return Run(expected / elapsed, cpu_s / expected * 1e6,
               _per_event(es_before, es_after, expected), main + worker, worker, startup_s)


def _startup_cpu_s(proc: subprocess.Popen, deadline: float) -> float | None:
    """``midwatch run``'s CPU from process start until its file input started the parse
    worker (interpreter, imports, config, store setup, the service built and started): a
    fixed cost, paid once per process whatever the number of events, which the in-process
    figure does not include. Polled every 5 ms from the threads' own child lists (no scan
    of /proc), so it overstates by at most 5 ms of start-up; None if no worker came."""
    tasks = Path(f"/proc/{proc.pid}/task")
    while proc.poll() is None and time.perf_counter() < deadline:
        try:
            fields = proc_stat(str(proc.pid))
            if any((task / "children").read_text().strip() for task in tasks.iterdir()):
                return proc_cpu_s(str(proc.pid), fields)
        except OSError:
            pass
        time.sleep(0.005)
    return None


def _acked_bytes(checkpoints: Path) -> int:
    """Bytes of the bench's files the store acknowledged the events of: the file input's
    checkpoint (written after each acknowledged batch, atomically), read by this process."""
    return sum(p.offset for p in CheckpointFile(checkpoints, "bench").load().values())


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if proc_stat(stat.parent.name)[1] == str(pid):
                found.append(int(stat.parent.name))
        except OSError:
            continue
    return found


def compile_bytecode(checkout: Path) -> int:
    """Compile the checkout's packages to bytecode (``__pycache__``, git-ignored), as an
    installed midwatch has it (pip compiles at install; an image ships it). Without it, where
    PYTHONDONTWRITEBYTECODE is set (this machine's environment) every ``midwatch run`` and
    parse worker compiled its modules from source at each start: 0.15 s of the CLI's 0.54 s
    start-up CPU, measured. Done before any clock; returns the packages compiled."""
    packages = [d for d in sorted(checkout.iterdir()) if (d / "__init__.py").is_file()]
    for package in packages:
        if not compileall.compile_dir(package, quiet=1):
            sys.exit(f"peer_otelcol: {package} does not compile")
    return len(packages)


def _child(args: argparse.Namespace) -> None:
    logs = Path(args.child)
    url = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
    with tempfile.TemporaryDirectory(prefix="mw-peer-child-") as tmp:
        rate, cpu_us, es_us, traces = end_to_end(url, logs, Path(tmp), args.expected,
                                                 False, not args.events_only, True)
    with open(args.traces_out, "wb") as fh:
        for doc in traces:
            fh.write(orjson.dumps(doc) + b"\n")
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # reaped at stop
    print(json.dumps({"rate": rate, "cpu_us": cpu_us, "es_us": es_us, "rss_mb": me + worker,
                      "worker_rss_mb": worker}))


def bulk_bodies(events: list[Event], traces: list[dict], prefix: str) -> list[bytes]:
    """midwatch's documents as gzip-compressed NDJSON bulk bodies, built before any clock."""
    names = es_mappings.index_names(prefix)
    ops = [b"%s\n%s\n" % (orjson.dumps({"index": {"_index": es_mappings.daily(
        names.events, e.timestamp_ms), "_id": e.id}}), orjson.dumps(to_doc(e))) for e in events]
    ops += [b"%s\n%s\n" % (orjson.dumps({"index": {"_index": names.traces,
                                                   "_id": t["trace_key"]}}), orjson.dumps(t))
            for t in traces]
    return [gzip.compress(b"".join(ops[i:i + CAPACITY_CHUNK]), compresslevel=1)
            for i in range(0, len(ops), CAPACITY_CHUNK)]


def capacity(es: Elasticsearch, url: str, events: list[Event], traces: list[dict],
             concurrency: int) -> tuple[float, float | None]:
    """The store's capacity for these documents: events/s and Elasticsearch CPU us/event,
    with ``concurrency`` compressed bulk requests in flight."""
    prefix = f"mwbench-cap-{uuid.uuid4().hex[:6]}"
    ElasticsearchStore(client=es, index_prefix=prefix).setup()
    bodies = bulk_bodies(events, traces, prefix)
    http = urllib3.PoolManager(maxsize=concurrency)
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}

    def send(body: bytes) -> None:
        resp = http.request("POST", f"{url}/_bulk?filter_path=errors", body=body,
                            headers=headers, timeout=120)
        if resp.status != 200 or orjson.loads(resp.data)["errors"]:
            raise RuntimeError(f"bulk refused: {resp.status} {resp.data[:300]!r}")

    try:
        before, started = es_cpu_s(), time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(send, bodies))
        elapsed = time.perf_counter() - started
        return len(events) / elapsed, _per_event(before, es_cpu_s(), len(events))
    finally:
        http.clear()
        cleanup(es, prefix)


def _per_event(before: float | None, after: float | None, events: int) -> float | None:
    return None if before is None or after is None else (after - before) / events * 1e6


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(name: str, run: Run, peer: Run | None) -> str:
    ratio = (f"  x{run.rate / peer.rate:.2f} rate, x{run.cpu_us / peer.cpu_us:.2f} CPU"
             + (f", x{run.es_us / peer.es_us:.2f} ES CPU" if run.es_us and peer.es_us else "")
             if peer is not None and run is not peer else "")
    return (f"  {name:<20} {run.rate:>9,.0f} ev/s  {run.cpu_us:>6.1f} us  "
            f"ES {_fmt(run.es_us, '>5.1f')} us  RSS {_fmt(run.rss_mb, '>4.0f')} MB"
            + (f" (worker {run.worker_rss_mb:.0f})" if run.worker_rss_mb else "")
            + (f"  start-up {run.startup_s:.2f} s" if run.startup_s is not None else "") + ratio)


def _cli_gap(runs: dict[str, Run], events: int) -> str:
    if "midwatch run" not in runs or "midwatch correlated" not in runs:
        return ""
    cli, bench = runs["midwatch run"], runs["midwatch correlated"]
    fixed = (f"; start-up {cli.startup_s:.2f} s CPU ({cli.startup_s / events * 1e6:.1f} us "
             f"an event), without it x{(cli.cpu_us - cli.startup_s / events * 1e6) / bench.cpu_us:.2f}"
             if cli.startup_s is not None else "")
    return (f"midwatch run / in-process correlated: CPU x{cli.cpu_us / bench.cpu_us:.2f}, "
            f"rate x{cli.rate / bench.rate:.2f} (target: CPU <= 1.10){fixed}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=8,
                    help="bulk requests in flight in the capacity run")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per contender")
    ap.add_argument("--contenders", default=",".join(CONTENDERS),
                    help=f"comma-separated subset of: {', '.join(CONTENDERS)} (ratios need "
                         "otelcol; the CLI gap needs both correlated ones)")
    ap.add_argument("--no-capacity", action="store_true", help="skip the capacity runs")
    ap.add_argument("--base", metavar="CHECKOUT",
                    help="also run each midwatch contender from this checkout (its directory "
                         "first on PYTHONPATH, e.g. `git worktree add /tmp/base HEAD~1`), "
                         "interleaved, as 'base ...': a change measured against its parent "
                         "in one run on a busy machine")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--traces-out", help=argparse.SUPPRESS)
    ap.add_argument("--events-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    url = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
    chosen = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if unknown := set(chosen) - set(CONTENDERS):
        ap.error(f"--contenders: unknown {', '.join(sorted(unknown))}; choose from "
                 f"{', '.join(CONTENDERS)}")
    base_env = dict(os.environ)
    if args.base:
        if not (Path(args.base) / "collector" / "__init__.py").is_file():
            ap.error(f"--base {args.base}: not a midwatch checkout (no collector/__init__.py)")
        base_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, (str(Path(args.base).resolve()), os.environ.get("PYTHONPATH"))))
        chosen = [x for c in chosen for x in ((c, f"base {c[9:]}") if c.startswith("midwatch ")
                                              else (c,))]
    for checkout in filter(None, (Path(__file__).resolve().parents[1], args.base)):
        compile_bytecode(Path(checkout))
    binary = build_otelcol() if "otelcol" in chosen else BINARY
    runs: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="mw-peer-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        generate(logs, args.lines, hops=3)
        events: list[Event] = []
        for path in sorted(logs.iterdir()):
            with path.open("rb") as fh:
                events.extend(x for x in parse_stream(fh, str(path), "auto", ParseContext())
                              if isinstance(x, Event))
        n = len(events)
        print(f"{args.lines:,} lines in 3 files, {n:,} events; {args.reps} interleaved "
              f"repetitions; Collector {OTELCOL_VERSION}", flush=True)
        es = Elasticsearch(url, request_timeout=120)
        try:
            raw_bulk(es, events[:WARM_UP], 2_000)  # the store's JIT, before anything is timed
            for rep in range(args.reps):
                order = chosen[rep % len(chosen):] + chosen[:rep % len(chosen)]
                this: dict[str, Run] = {}
                traces: list[dict] = []
                for name in order:
                    kind = name.split(" ", 1)[-1]
                    env = base_env if name.startswith("base ") else dict(os.environ)
                    if name == "otelcol":
                        this[name] = run_otelcol(binary, logs, url, n, work, args.timeout)
                    elif kind == "run":
                        this[name] = run_cli(logs, url, n, work, args.timeout, env)
                    else:
                        run, path = run_midwatch(logs, url, n, kind == "correlated", work, env)
                        this[name] = run
                        if name == "midwatch correlated":
                            traces = [orjson.loads(line) for line in path.read_bytes().splitlines()]
                        path.unlink()
                if not args.no_capacity:
                    for what, docs in (("events", []), ("correlated", traces)):
                        rate, es_us = capacity(es, url, events, docs, args.concurrency)
                        this[f"capacity {what}"] = Run(rate, float("nan"), es_us, None)
                    if rep == 0:
                        rate = raw_bulk(es, events, 2_000, traces)
                        print(f"  (context: helpers.bulk once, correlated documents: "
                              f"{rate:,.0f} ev/s)")
                print(f"rep {rep + 1} (order: {', '.join(order)}; load average "
                      f"{os.getloadavg()[0]:.1f}"
                      + ("" if args.no_capacity else f"; capacity with {args.concurrency} gzip "
                         f"bulk requests in flight, {len(traces):,} traces") + ")")
                peer = this.get("otelcol")
                for name, run in this.items():
                    print(_row(name, run, peer) if not name.startswith("capacity")
                          else f"  {name:<20} {run.rate:>9,.0f} ev/s  ES "
                               f"{_fmt(run.es_us, '>5.1f')} us")
                print(_summary(this, n), flush=True)
                for name, run in this.items():
                    runs.setdefault(name, []).append(run)
        finally:
            es.close()
    print(f"medians of {args.reps}:")
    med = {name: Run(*(statistics.median(v) if None not in v else None for v in (
        [r.rate for r in rs], [r.cpu_us for r in rs], [r.es_us for r in rs],
        [r.rss_mb for r in rs], [r.worker_rss_mb for r in rs], [r.startup_s for r in rs])))
        for name, rs in runs.items()}
    for name, run in med.items():
        if not name.startswith("capacity"):
            print(_row(name, run, med.get("otelcol")))
    print(_summary(med, n))


def _summary(runs: dict[str, Run], events: int) -> str:
    """midwatch against the store's capacity, the CLI against the in-process service, and
    each midwatch contender against its ``--base`` twin: whichever of these ran."""
    parts = []
    if "capacity events" in runs:
        mw = [runs[k].rate / runs[f"capacity {k.split()[1]}"].rate if k in runs else None
              for k in ("midwatch events", "midwatch correlated")]
        parts.append(f"midwatch / capacity: events {_fmt(mw[0], '.2f')}, correlated "
                     f"{_fmt(mw[1], '.2f')} (capacity {runs['capacity events'].rate:,.0f} / "
                     f"{runs['capacity correlated'].rate:,.0f} ev/s)")
    if gap := _cli_gap(runs, events):
        parts.append(gap)
    for name, run in runs.items():
        if name.startswith("base ") and (new := runs.get(f"midwatch {name[5:]}")):
            parts.append(f"{name[5:]} new / base: CPU x{new.cpu_us / run.cpu_us:.3f}, rate "
                         f"x{new.rate / run.rate:.3f}")
    return "  " + "\n  ".join(parts)

if __name__ == "__main__":
    main()
