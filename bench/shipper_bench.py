"""Shipper envelopes and the shippers' inputs, against the same lines read from files.

Run: ``.venv/bin/python bench/shipper_bench.py [--copies 400] [--repeats 3] [--runs 1]
[--modes worker,encoded,in-process] [--senders 1] [--cpu-only] [--against DIR]``. No services needed: the inputs hand their chunks to a
writer stand-in that acknowledges at once, so the figures are midwatch's own cost, not a
store's. On a shared machine the figures move with its load (printed): compare the ratios of
one run, and take the median of ``--runs``.

1. CPU per event (``time.process_time``, best of ``--repeats``): the Mule, NGINX and X12
   samples (tests/data) repeated ``--copies`` times, (a) parsed as files (``parse_stream``,
   auto-detection), (b) the same lines one per message in Filebeat envelopes, parsed as the
   Kafka input does (``parse_delivery``, 500 records a poll, one ``Delivery`` kept). Target:
   (b) <= (a) + 15 %. Also a line (the envelope's work is a line's: an X12 segment is a
   message of its own); (c) the same lines as syslog frames, parsed as the syslog input's
   parse worker parses its reads (its own work: target <= (a), for the input's rate).
   ``--against DIR``: the same comparison with the ``collector`` of
   another checkout (``git worktree add DIR <commit>``, ``make venv`` there) too, the two
   trees taking turns in each run, each in a process of its own (the checkout's own
   ``.venv`` where it has one: its native build); the figures of one run compare. The
   rates of 2. too: each input of each tree in a process of its own, the two in turn
   (the older first in odd runs), with this tree's rate and receiver CPU over the other's.
2. Input rates on loopback, events/s from the first byte until the last event was handed
   over: the file input, the syslog input over TCP (RFC 5424 with the file path, octet
   counting, as rsyslog sends it) and the http input (``/_bulk`` of Filebeat documents, 1000
   a request, each sender waiting for each answer on its connection), each with its parse worker (``worker``: ``parse_worker: true``,
   the default), with its worker shipping events as document bytes (``encoded``: a service
   without a correlator, ``collector.encoded``) and without a worker (``in-process``),
   alternating in each run. Target: syslog and http >= the file input, like for like.
   Beside each rate, the receiver's CPU per event meanwhile: of the input's process (the
   writer stand-in's thread not counted) and of its parse worker (from /proc, its start-up
   not counted); under load the rate follows it. The client sends from a process of its own
   (``bench/shipper_client.py``, started before the clock), so neither its CPU nor its hold
   on the interpreter lock counts against the receiver; its CPU is printed apart.
   ``--senders N``: the files shared out among N senders sending at once, each a connection
   carrying its files whole and in order (a host's rsyslog, a Filebeat: several shippers
   sending to one collector, each with requests in flight while the others wait for their
   answers); 1, the default, is one connection carrying all three, request after request.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from collector.config import CollectorSettings
from collector.encoded import EncodedEvent
from collector.event import Event, Record
from collector.inputs import syslog_frames
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.file import Config as FileConfig
from collector.inputs.http import Config as HttpConfig
from collector.inputs.parse_worker import ParseWorker
from collector.inputs.syslog import Config as SyslogConfig
from collector.metrics import Registry
from collector.parse import ParseStats, parse_stream
from collector.parsers._base import ParseContext
from collector.shipping import Delivery, parse_delivery

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLIENT = Path(__file__).resolve().parent / "shipper_client.py"
# Frames a syslog read hands the parse worker (a 64 KiB read of the sample's frames).
SYSLOG_READ = 256
SAMPLES = {"/opt/mule/logs/app.log": "mule/app-runtime.log",
           "/var/log/nginx/access.log": "apigw/nginx-access.log",
           "/data/edi/in/po.edi": "x12/purchase-orders.edi"}


def sample_lines(copies: int) -> dict[str, list[str]]:
    return {path: (DATA / rel).read_text().splitlines() * copies for path, rel in SAMPLES.items()}


def shared_out(lines: dict[str, list[str]], senders: int) -> list[dict[str, list[str]]]:
    """The files among ``senders`` senders, each file whole to one (its lines stay in order,
    as one shipper sends a file), the largest first to the least loaded."""
    parts: list[dict[str, list[str]]] = [{} for _ in range(min(senders, len(lines)))]
    for path, rows in sorted(lines.items(), key=lambda item: -len(item[1])):
        min(parts, key=lambda part: sum(map(len, part.values())))[path] = rows
    return parts


def filebeat(path: str, line: str, offset: int) -> str:
    return json.dumps({"@timestamp": "2024-03-01T10:15:33.004Z", "agent": {"type": "filebeat"},
                       "host": {"name": "mule-01"}, "input": {"type": "filestream"},
                       "log": {"offset": offset, "file": {"path": path}}, "message": line})


def enveloped(lines: dict[str, list[str]]) -> list[str]:
    out = []
    for path, rows in lines.items():
        offset = 0
        for row in rows:
            out.append(filebeat(path, row, offset))
            offset += len(row.encode()) + 1
    return out


def cpu_per_event(lines: dict[str, list[str]], repeats: int
                  ) -> tuple[float, float, float, int]:
    """(files', envelopes', syslog frames' CPU seconds an event, best of ``repeats``;
    events). The syslog frames are parsed as the syslog input's parse worker parses a
    connection's reads (``syslog_frames.parse``, ``SYSLOG_READ`` frames a read): the
    worker's own work, without the sockets, the pickling or the other process."""
    files = {path: ("\n".join(rows) + "\n").encode() for path, rows in lines.items()}
    messages = enveloped(lines)
    records = [Record(text=m, source="shipped", position=f"0:{i}") for i, m in
               enumerate(messages)]
    frames = syslog_frames_of(lines)
    best_file = best_env = best_syslog = float("inf")
    events = 0
    for _ in range(repeats):
        ctx = ParseContext(now_ms=1_709_900_000_000)
        t0 = time.process_time()
        n_file = sum(isinstance(i, Event) for path, body in files.items()
                     for i in parse_stream(io.BytesIO(body), path, "auto", ctx))
        best_file = min(best_file, (time.process_time() - t0) / n_file)
        t0 = time.process_time()
        stats = ParseStats()
        delivery = Delivery(ctx, stats)  # the Kafka input keeps one across its polls
        n_env = 0
        for start in range(0, len(records), 500):
            n_env += sum(isinstance(i, Event) for i in
                         parse_delivery(records[start:start + 500], ctx, stats,
                                        replayable=True, delivery=delivery))
        best_env = min(best_env, (time.process_time() - t0) / n_env)
        assert n_env == n_file, f"enveloped {n_env} events, files {n_file}"
        t0 = time.process_time()
        delivery = Delivery(ctx, ParseStats())
        n_syslog = 0
        for start in range(0, len(frames), SYSLOG_READ):
            delivery.tick()
            n_syslog += sum(isinstance(i, Event) for i in syslog_frames.parse(
                delivery, frames[start:start + SYSLOG_READ], "syslog:127.0.0.1", ctx.now_ms))
        n_syslog += sum(isinstance(i, Event) for i in delivery.finish())
        best_syslog = min(best_syslog, (time.process_time() - t0) / n_syslog)
        assert n_syslog == n_file, f"syslog {n_syslog} events, files {n_file}"
        events = n_file
    return best_file, best_env, best_syslog, events


class Sink:
    """The writer stand-in: acknowledges every chunk, counts its events."""

    def __init__(self):
        self.queue = ChunkQueue(64)
        self.events = 0
        self.last = 0.0
        self.cpu = 0.0  # this thread's CPU seconds, not the receiver's
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        start = time.thread_time()
        while not self._stop.is_set():
            self.cpu = time.thread_time() - start
            chunk = self.queue.get(0.05)
            if chunk is not None:
                self.events += sum(isinstance(i, Event | EncodedEvent) for i in chunk.items)
                self.last = time.monotonic()
                if chunk.ack:
                    chunk.ack()

    def wait(self, count: int, deadline_s: float = 120) -> None:
        end = time.monotonic() + deadline_s
        while self.events < count and time.monotonic() < end:
            time.sleep(0.01)
        if self.events < count:
            raise SystemExit(f"only {self.events} of {count} events arrived")

    def close(self) -> None:
        self._stop.set()


def ctx() -> ParseContext:
    return parse_context(CollectorSettings(), frozenset(), None)


def proc_cpu(pid: int | None) -> float:
    """CPU seconds of a running process (its parse worker), from /proc: read before and
    after, so its start-up does not count."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """The receiver's CPU between ``start`` and ``stop``: this process's less the writer
    stand-in's thread, and its parse worker's."""

    def __init__(self, sink: Sink, worker: ParseWorker | None):
        self.sink, self.pid = sink, worker._proc.pid if worker is not None else None

    def start(self) -> None:
        self.t0, self.cpu0 = time.monotonic(), time.process_time() - self.sink.cpu
        self.worker0 = proc_cpu(self.pid)

    def stop(self, count: int) -> tuple[float, float, float]:
        """(events/s until the last event was handed over, receiver and worker CPU seconds
        an event)."""
        self.sink.wait(count)
        cpu = time.process_time() - self.sink.cpu - self.cpu0
        return (count / (self.sink.last - self.t0), cpu / count,
                (proc_cpu(self.pid) - self.worker0) / count)


def rate_file(lines: dict[str, list[str]], count: int, worker: bool, encode: bool = False,
              senders: int = 1) -> tuple[float, float, float, float]:
    """``senders``: not the file input's (it reads the three files itself, as always)."""
    from collector.inputs.file import FileInput as FileTail

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, rows in enumerate(lines.values()):
            path = Path(tmp) / f"f{i}.log"
            path.write_text("\n".join(rows) + "\n")
            paths.append(str(path))
        sink = Sink()
        tail = FileTail(FileConfig(name="bench", paths=tuple(paths), parse_worker=worker,
                                  multiline_timeout_ms=50), ctx(), f"{tmp}/cp", Registry())
        if worker:  # started before the clock, as the listening inputs start theirs
            tail._worker = ParseWorker(tail.ctx, tail.name, encode=encode)
        meter = Meter(sink, tail._worker)
        meter.start()
        threading.Thread(target=tail.run, args=(sink.queue,), daemon=True).start()
        measured = meter.stop(count)
        tail.stop()
        tail.close()
        sink.close()
    return (*measured, 0.0)


def timed(receiver, worker: ParseWorker | None, client: str, sent: bytes, count: int
          ) -> tuple[float, float, float, float]:
    """(events/s, receiver and worker CPU seconds an event, the client's) of a listening
    input, from the clock's start until the last of ``count`` events was handed over: the
    client (``bench/shipper_client.py``, started before) sends ``sent`` (its JSON payload:
    an entry a sender) from its own process."""
    sink = Sink()
    threading.Thread(target=receiver.run, args=(sink.queue,), daemon=True).start()
    meter = Meter(sink, worker)
    with tempfile.NamedTemporaryFile() as payload:
        payload.write(sent)
        payload.flush()
        proc = subprocess.Popen([sys.executable, str(CLIENT), client, str(receiver.port),
                                 payload.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready": it has read its payload
        meter.start()
        out, _ = proc.communicate("go\n", timeout=300)
    if proc.returncode:
        raise SystemExit(f"the {client} client failed ({proc.returncode})")
    measured = meter.stop(count)
    receiver.stop()
    sink.close()
    receiver.close()
    return (*measured, float(out.split()[-1]) / count)


def syslog_frames_of(lines: dict[str, list[str]]) -> list[bytes]:
    """The lines as rsyslog sends them (docs/shipping.md's template), a frame each."""
    return [(f'<134>1 2024-03-01T10:15:33.004Z mule-01 app - - [file@32473 '
             f'path="{path}"] {row}').encode() for path, rows in lines.items() for row in rows]


def syslog_payload(lines: dict[str, list[str]]) -> bytes:
    """``syslog_frames_of`` with octet counting, as the syslog input reads them."""
    return b"".join(f"{len(frame)} ".encode() + frame for frame in syslog_frames_of(lines))


def bulk_bodies(lines: dict[str, list[str]]) -> list[bytes]:
    """The lines as Filebeat's Elasticsearch output sends them, 1000 documents a request."""
    docs = enveloped(lines)
    return ["".join(f'{{"create":{{}}}}\n{d}\n' for d in docs[i:i + 1000]).encode()
            for i in range(0, len(docs), 1000)]


def rate_syslog(lines: dict[str, list[str]], count: int, worker: bool, encode: bool = False,
                payload: list[bytes] | None = None, senders: int = 1
                ) -> tuple[float, float, float, float]:
    """``payload``: each sender's (``syslog_payload`` of its part of ``lines``)."""
    from collector.inputs.syslog import SyslogInput as Receiver

    receiver = Receiver(SyslogConfig(name="bench", listen=("127.0.0.1", 0),
                                     parse_worker=worker), ctx())
    receiver.encode_events = encode
    payload = payload or [syslog_payload(part) for part in shared_out(lines, senders)]
    return timed(receiver, receiver.workers.worker if receiver.workers else None, "syslog",
                 json.dumps([p.decode("latin-1") for p in payload]).encode(), count)


def rate_http(lines: dict[str, list[str]], count: int, worker: bool, encode: bool = False,
              bodies: list[list[bytes]] | None = None, senders: int = 1
              ) -> tuple[float, float, float, float]:
    """``bodies``: each sender's (``bulk_bodies`` of its part of ``lines``)."""
    from collector.inputs.http import HttpInput as Receiver

    receiver = Receiver(HttpConfig(name="bench", listen=("127.0.0.1", 0), parse_worker=worker),
                        ctx())
    receiver.encode_events = encode
    bodies = bodies or [bulk_bodies(part) for part in shared_out(lines, senders)]
    sent = json.dumps([[b.decode() for b in part] for part in bodies]).encode()
    return timed(receiver, receiver.workers.worker if receiver.workers else None, "http",
                 sent, count)


MODES = {"worker": "parse worker, events back as Events", "encoded": "parse worker, events "
         "back as document bytes: a service without correlator", "in-process": "no worker"}
INPUTS = (("file", rate_file, "files"), ("syslog (tcp)", rate_syslog, "payload"),
          ("http (_bulk)", rate_http, "bodies"))


def rate_in(tree: str, name: str, copies: int, count: int, worker: bool, encode: bool,
            senders: int = 1) -> tuple[float, float, float, float]:
    """``INPUTS``' rate ``name`` of the checkout ``tree`` in a process of its own (its own
    ``.venv`` where it has one, as ``cpu_line``): with ``--against``, each tree's rates are
    taken this way, the two taking turns, so neither runs in a process the other warmed."""
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import shipper_bench as b; "
            "rate = dict((n, f) for n, f, _ in b.INPUTS)[sys.argv[3]]; "
            "print(*rate(b.sample_lines(int(sys.argv[4])), int(sys.argv[5]), "
            "worker=sys.argv[6] == '1', encode=sys.argv[7] == '1', "
            "**({'senders': int(sys.argv[8])} if sys.argv[8] != '1' else {})))")
    python = Path(tree, ".venv", "bin", "python")
    out = subprocess.run([str(python) if python.exists() else sys.executable, "-c", code, tree,
                          str(CLIENT.parent), name, str(copies), str(count), str(int(worker)),
                          str(int(encode)), str(senders)], check=True, capture_output=True,
                         text=True, cwd=tree).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), float(out[3])


def cpu_line(lines: dict[str, list[str]], repeats: int, against: str | None) -> float:
    """The CPU comparison of this tree, or of the checkout ``against`` in a process of its
    own (its ``collector`` first on the path, this bench's code): printed; the envelopes'
    extra CPU an event, as a fraction."""
    n_lines = sum(map(len, lines.values()))
    if against is None:
        file_cpu, env_cpu, syslog_cpu, events = cpu_per_event(lines, repeats)
        tree = "this tree"
    else:
        copies = n_lines // sum(len((DATA / rel).read_text().splitlines())
                                for rel in SAMPLES.values())
        code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import shipper_bench as b; "
                "print(*b.cpu_per_event(b.sample_lines(int(sys.argv[3])), int(sys.argv[4])))")
        # The checkout's own venv where it has one: its native build is of its own ABI (this
        # tree's build would be refused by its ``collector.native``, leaving it no fast path).
        python = Path(against, ".venv", "bin", "python")
        out = subprocess.run([str(python) if python.exists() else sys.executable, "-c", code,
                              against, str(CLIENT.parent),
                              str(copies), str(repeats)], check=True, capture_output=True,
                             text=True, cwd=against).stdout.split()
        file_cpu, env_cpu, syslog_cpu, events = (float(out[0]), float(out[1]),
                                                 float(out[2]), int(out[3]))
        tree = against
    extra = env_cpu / file_cpu - 1
    print(f"CPU per event: files {file_cpu * 1e6:.1f} us, Filebeat envelopes "
          f"{env_cpu * 1e6:.1f} us ({extra * 100:+.1f} %; target <= +15 %); a line: files "
          f"{file_cpu * events / n_lines * 1e6:.2f} us, envelopes "
          f"{env_cpu * events / n_lines * 1e6:.2f} us; syslog frames (the parse worker's "
          f"work) {syslog_cpu * 1e6:.1f} us ({syslog_cpu / file_cpu:.3f}x files) ({tree})")
    return extra


def against_rates(against: str, copies: int, events: int, worker: bool, encode: bool,
                  mode: str, run: int, turns: dict[str, list[tuple[float, float]]],
                  senders: int = 1) -> None:
    """Each input's rate of this tree and of ``against``, each in a process of its own
    (``rate_in``), the older first in odd runs: printed, and the ratios kept in ``turns``."""
    here = str(Path(__file__).resolve().parents[1])
    for name, _, _ in INPUTS:
        trees = [against, here] if run % 2 else [here, against]
        got = {tree: rate_in(tree, name, copies, events, worker, encode, senders)
               for tree in trees}
        for tree in trees:
            rate, cpu, child, client = got[tree]
            print(f"{name:13} {mode:12} {rate:8.0f} events/s, receiver CPU an event "
                  f"{cpu * 1e6:.1f} us + worker {child * 1e6:.1f} us (client "
                  f"{client * 1e6:.1f} us) ({'this tree' if tree == here else tree})")
        (new, new_cpu, *_), (old, old_cpu, *_) = got[here], got[against]
        turns.setdefault(f"{name}, {mode}", []).append((new / old, new_cpu / old_cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1, help="whole comparisons, one after another")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="of " + ", ".join(f"{k} ({v})" for k, v in MODES.items()))
    parser.add_argument("--senders", type=int, default=1,
                        help="syslog and http senders at once, each with its own files")
    parser.add_argument("--cpu-only", action="store_true", help="the CPU comparison alone")
    parser.add_argument("--against", metavar="DIR",
                        help="an older checkout whose CPU comparison takes turns with this one")
    args = parser.parse_args()
    lines = sample_lines(args.copies)
    n_lines = sum(map(len, lines.values()))
    parts = shared_out(lines, args.senders)
    sent = {"files": {}, "payload": {"payload": [syslog_payload(part) for part in parts]},
            "bodies": {"bodies": [bulk_bodies(part) for part in parts]}}
    extra: list[float] = []
    older: list[float] = []
    ratios: dict[str, list[float]] = {}
    # With --against: per input and mode, (events/s, receiver CPU an event) of this tree
    # over the other's, a pair a run.
    turns: dict[str, list[tuple[float, float]]] = {}
    events = sum(isinstance(i, Event) for path, rows in lines.items() for i in parse_stream(
        io.BytesIO(("\n".join(rows) + "\n").encode()), path, "auto", ParseContext()))
    for run in range(1, args.runs + 1):
        print(f"run {run}: {n_lines} lines, {events} events, {len(parts)} sender(s), load "
              f"average {os.getloadavg()[0]:.1f}")
        if args.against:
            older.append(cpu_line(lines, args.repeats, args.against))
        extra.append(cpu_line(lines, args.repeats, None))
        for mode in ([] if args.cpu_only else args.modes.split(",")):
            worker, encode = mode != "in-process", mode == "encoded"
            if args.against:
                against_rates(args.against, args.copies, events, worker, encode, mode, run,
                              turns, args.senders)
                continue
            rates = {name: rate(lines, events, worker=worker, encode=encode, **sent[what])
                     for name, rate, what in INPUTS}
            for name, (rate, cpu, child, client) in rates.items():
                ratio = rate / rates["file"][0]
                if name != "file":
                    ratios.setdefault(f"{name}, {mode}", []).append(ratio)
                print(f"{name:13} {mode:12} {rate:8.0f} events/s ({ratio:.2f}x the file "
                      f"input), receiver CPU an event {cpu * 1e6:.0f} us + worker "
                      f"{child * 1e6:.0f} us (client {client * 1e6:.0f} us)")
    for name, pairs in turns.items():
        print(f"{name}: this tree / {args.against}, events/s "
              + " ".join(f"x{r:.2f}" for r, _ in pairs)
              + f" (median x{statistics.median(r for r, _ in pairs):.2f}); receiver CPU "
              + " ".join(f"x{c:.2f}" for _, c in pairs)
              + f" (median x{statistics.median(c for _, c in pairs):.2f})")
    if args.runs > 1:
        print(f"median of {args.runs} runs: envelopes {statistics.median(extra) * 100:+.1f} %"
              + (f" ({args.against}: {statistics.median(older) * 100:+.1f} %)" if older else "")
              + "".join(f", {name} {statistics.median(r):.2f}x" for name, r in ratios.items()))


if __name__ == "__main__":
    main()
