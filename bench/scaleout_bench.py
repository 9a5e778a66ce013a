"""Kafka -> Elasticsearch events/s with 1 and with 2 `midwatch run` processes in one consumer
group, next to the raw ``helpers.bulk`` ceiling in the same run.

Run: ``.venv/bin/python bench/scaleout_bench.py [--messages 20000] [--partitions 4]
[--repeat 1] [--profile DIR] [--keyed]`` with Kafka at MIDWATCH_KAFKA_BOOTSTRAP (default
127.0.0.1:9092) and Elasticsearch at MIDWATCH_ES_URL (default http://127.0.0.1:9200).

Each message is three JSON events on three partitions, joined into one trace by correlation
(so the processes also contend on trace documents, and the repair merges what they split:
each run prints the share of messages split; 17-61% here, since both processes read a
message's events within the trace index's refresh interval);
``--keyed`` keys them by message instead, so a message stays on one partition and one process
(what the group itself costs, without trace races).

For each process count (1 and 2, interleaved ``--repeat`` times): a fresh topic and index
prefix, the processes started and waited for until the group has spread the partitions over
all of them, left idle for ``--idle`` seconds, then the records produced; timed from the first
stored event to the last (the steady rate). Every event and one trace per message must be in
the store at the end, or the run fails.

CPU (each process with its threads and live children, the parse workers, from /proc) is
reported per process in three parts, because a short bench over-weights what a process costs
whatever it reads:

- start-up: process start until the group gave it its partitions (imports, connections,
  joining); paid once per process, not per event.
- idle: CPU per second while it owns partitions and nothing comes (polling, heartbeats, the
  API, the rule and sweep timers); paid per process and second.
- steady: from just before the records are produced to the last complete trace, per event
  (issue 25's figure: two processes within 10% of one process's CPU per event). Shown also
  net of the idle rate over the same seconds, which is what the events themselves cost
  (two processes pay the idle rate twice, and a run that waits for the repair sweep pays it
  longer).

``--base DIR`` runs another checkout's code (``git archive <commit> | tar -x -C DIR``, put
first on PYTHONPATH of the collectors) interleaved with this code in every repetition, and
prints the ratios of the two; ``--this DIR`` runs this code from a snapshot the same way.

Honest reading on this machine: 2 cores shared by Elasticsearch, Kafka and the collectors,
so a second process competes with Elasticsearch for CPU; the number says what the group
protocol and trace concurrency cost, not what two machines would give.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from ceiling import cleanup, proc_cpu_s, proc_stat, raw_bulk
from elasticsearch import Elasticsearch
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

ROOT = Path(__file__).resolve().parents[1]
MIDWATCH = ROOT / ".venv" / "bin" / "midwatch"
BASE_MS = (int(time.time()) // 60) * 60_000 - 600_000


def message_lines(i: int) -> list[bytes]:
    at = BASE_MS + i
    docs = [
        {"service": "gw", "correlationId": f"c-{i}", "message": f"received {i}"},
        {"service": "worker", "correlationId": f"c-{i}", "orderId": str(i), "outcome": "success"},
        {"service": "sink", "orderId": str(i), "message": "delivered", "outcome": "success"},
    ]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at / 1000)) + f".{at % 1000:03d}Z"
    return [orjson.dumps({"timestamp": stamp, **d}) for d in docs]


def config(work: Path, es_url: str, prefix: str, bootstrap: str, topic: str,
           port: int) -> Path:
    path = work / "midwatch.yaml"
    path.write_text(f"""
store:
  kind: elasticsearch
  elasticsearch: {{url: "{es_url}", index_prefix: "{prefix}"}}
collector:
  checkpoint_dir: {work / "checkpoints"}
  spool: {{dir: {work / "spool"}}}
kafka: {{bootstrap: ['{bootstrap}']}}
inputs:
  - {{type: kafka, name: k, format: json, topics: [{topic}], group_id: {topic}-g,
     start_at: earliest}}
flows:
  flows:
    - name: bench-flow
      stages:
        - {{name: received, match: {{service: gw}}}}
        - {{name: processed, match: {{service: worker}}}}
        - {{name: delivered, terminal: success, match: {{service: sink}}}}
correlation: {{sweep_interval: 2s}}
api: {{listen: 127.0.0.1:{port}}}
""")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(procs: list[subprocess.Popen]) -> list[float]:
    """CPU seconds of each collector so far: the process (every thread) and its live children
    (parse workers), read from /proc."""
    slot = {str(p.pid): k for k, p in enumerate(procs)}
    totals = [0.0] * len(procs)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = proc_stat(stat.parent.name)
            k = slot.get(stat.parent.name, slot.get(fields[1]))
            if k is not None:
                totals[k] += proc_cpu_s(stat.parent.name, fields)
        except OSError:
            continue
    return totals


@dataclass(frozen=True)
class GroupRun:
    """One run of a group: rates and each process's CPU in the bench's three parts."""
    rate: float  # steady events/s, first stored event to the last
    first_s: float  # seconds from the records produced to the first stored event
    steady_s: float  # seconds from the records produced to the last complete trace
    events: int
    startup_s: list[float]  # per process: CPU from its start until it owned partitions
    idle_per_s: list[float]  # per process: CPU seconds per second while idle
    steady_cpu_s: list[float]  # per process: CPU from the records produced to the end
    split: float  # traces the repair merged away, per message (messages two processes split)

    @property
    def steady_us(self) -> float:
        """Collector CPU per event, all processes: what issue 25's target compares."""
        return sum(self.steady_cpu_s) * 1e6 / self.events

    @property
    def net_us(self) -> float:
        """``steady_us`` less what the processes would have spent idle over those seconds."""
        idle = sum(self.idle_per_s) * self.steady_s
        return (sum(self.steady_cpu_s) - idle) * 1e6 / self.events


def _count(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    return es.count(index=index, ignore_unavailable=True, allow_no_indices=True)["count"]


def run_group(processes: int, messages: int, partitions: int, es: Elasticsearch, es_url: str,
              bootstrap: str, profile: Path | None = None, keyed: bool = False,
              idle_s: float = 5.0, tree: Path | None = None) -> GroupRun:
    """``tree``: another checkout whose code the collectors run (``--base``), else this one."""
    topic = f"mwbench-scale-{uuid.uuid4().hex[:6]}"
    prefix = f"mwbench-scale-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    total = 3 * messages
    procs: list[subprocess.Popen] = []
    spies: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ports = [_free_port() for _ in range(processes)]
            for k, port in enumerate(ports):
                work = Path(tmp) / f"p{k}"
                work.mkdir()
                procs.append(subprocess.Popen(
                    [str(MIDWATCH), "run", "-c",
                     str(config(work, es_url, prefix, bootstrap, topic, port)),
                     "--log-level", "warning"],
                    cwd=work, stdout=subprocess.DEVNULL, stderr=open(work / "log", "wb"),  # noqa: SIM115
                    env={**os.environ, "PYTHONPATH": str(tree)} if tree else None))
            spies = [subprocess.Popen(
                [os.environ.get("PY_SPY", "py-spy"), "record", "--pid", str(p.pid), "--format",
                 "raw", "--rate", "100", "--nonblocking", "--subprocesses",
                 "-o", str(profile / f"{processes}p-{k}-{uuid.uuid4().hex[:4]}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for k, p in enumerate(procs)] if profile else []
            # Every process in the group before the data comes: otherwise the first one to join
            # reads everything until the second joins, then hands half of it over (a start-up
            # artefact, not what a running group costs).
            _wait_for_group(ports, partitions, procs)
            joined = _cpu_s(procs)
            idle_from = time.monotonic()
            time.sleep(idle_s)  # the measured span itself, not a wait for anything
            cpu_start = _cpu_s(procs)
            idle_per_s = [(b - a) / (time.monotonic() - idle_from)
                          for a, b in zip(joined, cpu_start, strict=True)]
            started = time.monotonic()
            _produce(bootstrap, topic, messages, partitions, keyed)
            events = f"{prefix}-events-*"
            while _count(es, events) == 0:
                time.sleep(0.2)
            first = time.monotonic()
            while (stored := _count(es, events)) < total:
                if any(p.poll() is not None for p in procs):
                    sys.exit("a collector exited early")
                time.sleep(0.2)
            rate = stored / (time.monotonic() - first)
            traces = f"{prefix}-traces"
            deadline = time.monotonic() + 60
            while (_count(es, traces) != messages or _complete(es, traces) != messages):
                if time.monotonic() > deadline:
                    bad = es.search(index=traces, size=2, query={"bool": {"must_not": [
                        {"term": {"hop_count": 3}}]}})["hits"]["hits"]
                    sys.exit(f"traces wrong: {_count(es, traces)} traces, "
                             f"{_complete(es, traces)} complete, expected {messages}; e.g. "
                             f"{[h['_source'] for h in bad]}")
                time.sleep(0.2)
            cpu_end = _cpu_s(procs)
            ended = time.monotonic()
            merged = 0.0
            for k, port in enumerate(ports):
                stats = _stats(port)
                merged += float(stats.get("split_traces_merged", 0))
                print(f"  p{k} start-up {joined[k]:.2f} s CPU, idle {idle_per_s[k] * 1e3:.1f} "
                      f"ms CPU/s, steady {(cpu_end[k] - cpu_start[k]) * 1e6 / total:.1f} us/event; "
                      + "  ".join(f"{name}={value}" for name, value in stats.items()))
            return GroupRun(rate, first - started, ended - started, total, joined, idle_per_s,
                            [b - a for a, b in zip(cpu_start, cpu_end, strict=True)],
                            merged / messages)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(60)
            for spy in spies:  # writes its profile once its process is gone
                spy.wait(60)
            admin.delete_topics([topic])
            admin.close()
            cleanup(es, prefix)


def _assigned(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            lines = resp.read().decode().splitlines()
    except OSError:  # not listening yet
        return 0
    for line in lines:
        if line.startswith("midwatch_input_kafka_assigned_partitions{"):
            return float(line.rpartition(" ")[2])
    return 0


def _wait_for_group(ports: list[int], partitions: int, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 120
    while True:
        owned = [_assigned(port) for port in ports]
        if sum(owned) == partitions and all(owned):
            return
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            sys.exit(f"the group did not spread the partitions: {owned}")
        time.sleep(0.2)


def _produce(bootstrap: str, topic: str, messages: int, partitions: int, keyed: bool) -> None:
    """Each message's three events on three partitions (so over both processes), or with
    ``keyed`` on the partition of its key (a producer that keys records by message)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                             batch_size=256 * 1024)
    n = 0
    for i in range(messages):
        for line in message_lines(i):
            if keyed:
                producer.send(topic, value=line, key=f"m-{i}".encode())
            else:
                producer.send(topic, value=line, partition=n % partitions)
            n += 1
    producer.flush(60)
    producer.close()


WATCHED = ("midwatch_records_read_total", "midwatch_input_kafka_revocations_total", "midwatch_events_indexed_total",
           "midwatch_trace_conflict_rounds_total", 'midwatch_correlator{stat="conflicts"}',
           'midwatch_correlator{stat="store_lookups"}',
           'midwatch_correlator{stat="split_traces_merged"}',
           'midwatch_correlator{stat="split_merge_conflicts"}')


def _stats(port: int) -> dict[str, str]:
    """The collector's own figures: re-reads after rebalances, lost trace races, repairs."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    values = {}
    for line in lines:
        series, _, value = line.rpartition(" ")
        if series.startswith(WATCHED):
            name = series.split("{stat=")[-1].strip('"}') if "{stat=" in series else series
            short = name.removeprefix("midwatch_")
            values[short if "outcome=" in short else short.split("{")[0]] = value
    return values


def _complete(es: Elasticsearch, index: str) -> int:
    return es.count(index=index, query={"bool": {"filter": [
        {"term": {"hop_count": 3}}, {"term": {"status": "completed"}}]}})["count"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="sample each collector with py-spy (PY_SPY: its path) into DIR, as "
                         "collapsed stacks (the CPU figures then include the sampling)")
    ap.add_argument("--keyed", action="store_true",
                    help="key each message's records so they share a partition: what the "
                         "group and its rebalances cost without trace races between processes")
    ap.add_argument("--idle", type=float, default=5.0, metavar="S",
                    help="seconds each group is measured idle (partitions owned, no records) "
                         "before the records are produced")
    ap.add_argument("--base", type=Path, metavar="DIR",
                    help="a checkout of the code to compare with (e.g. `git archive 10133f2 | "
                         "tar -x -C DIR`), run through this venv with PYTHONPATH=DIR, "
                         "interleaved with this tree in every repetition")
    ap.add_argument("--this", type=Path, metavar="DIR",
                    help="run this code from a snapshot (e.g. `git archive HEAD | tar -x -C "
                         "DIR`) instead of the checkout, which may then change meanwhile")
    args = ap.parse_args()
    es_url = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
    bootstrap = os.environ.get("MIDWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    es = Elasticsearch(es_url, request_timeout=60)

    lines = b"\n".join(line for i in range(args.messages) for line in message_lines(i)) + b"\n"
    tmp = Path(tempfile.mkdtemp()) / "events.jsonl"
    tmp.write_bytes(lines)
    with open(tmp, "rb") as fh:
        events = [e for e in parse_stream(fh, str(tmp), "json", ParseContext())
                  if isinstance(e, Event)]
    ceiling = max(raw_bulk(es, events, 500), raw_bulk(es, events, 2000))
    print(f"{3 * args.messages} events, {args.partitions} partitions; ceiling (raw helpers.bulk) "
          f"{ceiling:,.0f} events/s")
    trees = {"base": args.base, "this": args.this} if args.base else {"this": args.this}
    runs: dict[tuple[str, int], list[GroupRun]] = {(t, k): [] for t in trees for k in (1, 2)}
    for rep in range(args.repeat):
        for name, tree in trees.items():
            for processes in (1, 2):  # interleaved: the machine's load drifts
                run = run_group(processes, args.messages, args.partitions, es, es_url, bootstrap,
                                args.profile, args.keyed, args.idle, tree)
                runs[name, processes].append(run)
                print(f"[{rep + 1}] {name}: {processes} process(es): {run.rate:,.0f} events/s "
                      f"({run.rate / ceiling:.2f} of ceiling), first event stored "
                      f"{run.first_s:.1f} s after the produce began, all traces complete after "
                      f"{run.steady_s:.1f} s; steady CPU {run.steady_us:.1f} us/event "
                      f"({run.net_us:.1f} net of idle); {run.split:.0%} of messages split and "
                      f"repaired; start-up {sum(run.startup_s):.2f} s CPU, idle "
                      f"{sum(run.idle_per_s) * 1e3:.1f} ms CPU/s in all; "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    med = {key: {f: statistics.median(getattr(r, f) for r in v)
                 for f in ("rate", "steady_us", "net_us", "split")} for key, v in runs.items()}
    for name in trees:
        one, two = med[name, 1], med[name, 2]
        print(f"{name}: 2 vs 1 (medians of {args.repeat}): throughput "
              f"x{two['rate'] / one['rate']:.2f}, steady CPU per event "
              f"x{two['steady_us'] / one['steady_us']:.2f} (target <= 1.10), net of idle "
              f"x{two['net_us'] / one['net_us']:.2f}; split {two['split']:.0%}")
    if args.base:
        for k in (1, 2):
            print(f"this vs base, {k} process(es): steady CPU per event "
                  f"x{med['this', k]['steady_us'] / med['base', k]['steady_us']:.3f}, net of "
                  f"idle x{med['this', k]['net_us'] / med['base', k]['net_us']:.3f}")

if __name__ == "__main__":
    main()
