"""The syslog input over real sockets: RFC 6587 framing (octet counting and newline), UDP,
size limits, per-source framing of stack traces sent a line a frame, and backpressure."""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import orjson
import pytest

from collector.config import CollectorSettings
from collector.event import DeadLetter, Event
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.syslog import Config as SyslogConfig
from collector.inputs.syslog import Framer
from collector.inputs.syslog import SyslogInput as Receiver
from collector.metrics import Registry
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

DATA = Path(__file__).resolve().parents[1] / "data"
CTX = ParseContext(now_ms=1_709_900_000_000)
MULE = (DATA / "mule/app-runtime.log").read_text().splitlines()


class Writer:
    """Stands in for the pipeline: takes chunks and acknowledges them (when not held)."""

    def __init__(self, queue: ChunkQueue):
        self.queue = queue
        self.items: list[Event | DeadLetter] = []
        self.hold = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.hold.is_set():
                time.sleep(0.01)
                continue
            chunk = self.queue.get(0.05)
            if chunk is not None:
                self.items.extend(chunk.items)
                chunk.ack()

    def wait_for(self, count: int, deadline_s: float = 10) -> list[Event | DeadLetter]:
        end = time.monotonic() + deadline_s
        while len(self.items) < count and time.monotonic() < end:
            time.sleep(0.02)
        return self.items

    def close(self) -> None:
        self._stop.set()
        self.thread.join()


def start(protocol: str, queue_chunks: int = 8, **cfg):
    receiver = Receiver(SyslogConfig(name="syslog", listen=("127.0.0.1", 0), protocol=protocol,
                                    **cfg), parse_context(CollectorSettings(), frozenset(), None))
    queue = ChunkQueue(queue_chunks)
    threading.Thread(target=receiver.run, args=(queue,), daemon=True).start()
    return receiver, Writer(queue)


@pytest.fixture
def receivers():
    """``make(protocol, **cfg)`` starts a receiver and its writer; all are stopped after."""
    made: list[tuple[Receiver, Writer]] = []

    def make(protocol: str, **cfg) -> tuple[Receiver, Writer]:
        made.append(start(protocol, **cfg))
        return made[-1]

    yield make
    for receiver, writer in made:
        receiver.stop()
        writer.close()
        receiver.close()


@pytest.fixture(params=[True, False], ids=["parse-worker", "in-process"])
def tcp(receivers, request):
    return receivers("tcp", max_message_bytes=4096, parse_worker=request.param)


def key(e: Event):
    return (e.timestamp_ms, e.dataset, e.level, e.message, e.error_message,
            e.error_stack_trace, e.ids)


def frame(line: str, host: str = "mule-01") -> str:
    return (f'<134>1 2024-03-01T10:15:33.004Z {host} mule - - '
            f'[file@32473 path="/opt/mule/logs/order-api.log"] {line}')


def test_framer_reads_counted_and_newline_frames_in_pieces():
    framer = Framer(64)
    counted = b"11 <13>1 hello"
    got: list[bytes] = []
    for i in range(len(counted)):
        got += framer.feed(counted[i:i + 1])[0]
    got += framer.feed(b"<13>plain line\r\n<13>next")[0]
    got += framer.feed(b"\n")[0]
    assert got == [b"<13>1 hello", b"<13>plain line", b"<13>next"]
    frames, oversized = framer.feed(b"200 " + b"x" * 200 + b"<13>after\n")
    assert frames == [b"<13>after"] and oversized == [b"x" * 200]


def test_framer_drops_blank_frames_and_line_ends_only():
    framer = Framer(64)
    frames, _ = framer.feed(b"\n \r\n<13>a\r\r\n  <13>indented\n7 <13>b\r\n2 \r\n<13>c")
    assert frames == [b"<13>a", b"  <13>indented", b"<13>b"]
    assert framer.end() == (b"<13>c", None)


def test_mule_log_over_tcp_one_line_a_frame_becomes_the_file_input_events(tcp):
    receiver, writer = tcp
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        for line in MULE:
            data = frame(line).encode()
            conn.sendall(f"{len(data)} ".encode() + data)  # octet counting
    bare = [e for e in parse_stream(io.BytesIO((DATA / "mule/app-runtime.log").read_bytes()),
                                    "f", "auto", CTX) if isinstance(e, Event)]
    items = writer.wait_for(len(bare))
    events = [i for i in items if isinstance(i, Event)]
    assert [i for i in items if isinstance(i, DeadLetter)] == []
    assert [key(e) for e in events] == [key(e) for e in bare], \
        "multi-line records sent a line a frame are one record again, as in the file"
    assert events[0].ids == ["correlation:6f1c2e40-d7a1-11ee-9a3c-0242ac120002"]
    assert {e.host for e in events} == {"mule-01"}
    assert events[0].labels["log_file_path"] == "/opt/mule/logs/order-api.log"


def test_newline_framing_rfc3164_and_an_oversized_frame(tcp):
    receiver, writer = tcp
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        conn.sendall(f"<134>Mar  1 10:15:33 mule-01 mule: {MULE[0]}\n".encode())
        conn.sendall(b"<134>Mar  1 10:15:33 mule-01 mule: " + b"y" * 5000 + b"\n")
        conn.sendall(f"<134>Mar  1 10:15:33 mule-01 mule: {MULE[1]}\n".encode())
    items = writer.wait_for(3)
    events = [i for i in items if isinstance(i, Event)]
    (dead,) = [i for i in items if isinstance(i, DeadLetter)]
    assert len(events) == 2 and all(e.dataset == "mulesoft.runtime" for e in events)
    assert dead.reason.startswith("line_too_long") and "max_message_bytes" in dead.reason


def test_udp_datagrams(receivers):
    receiver, writer = receivers("udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(frame(MULE[0]).encode(), ("127.0.0.1", receiver.port))
    (ev,) = writer.wait_for(1)
    assert ev.dataset == "mulesoft.runtime" and ev.host == "mule-01"


def test_a_full_writer_slows_the_connection_and_loses_nothing(receivers):
    receiver, writer = receivers("tcp", queue_chunks=1)
    writer.hold.set()
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        for i in range(200):
            conn.sendall((frame(MULE[0].replace("4711", str(i)), host=f"h{i}") + "\n")
                         .encode())
        assert writer.items == []  # held: the receiver waits, reading no further
        writer.hold.clear()
    items = writer.wait_for(200)
    assert len([i for i in items if isinstance(i, Event)]) == 200


def test_tls_octet_counted_frames(tmp_path, receivers):
    """RFC 5425: syslog over TLS, octet counting (the certificate helper of the API's TLS
    tests)."""
    import ssl

    from test_security_http import _cert

    cert, key = _cert(tmp_path)
    receiver, writer = receivers("tls", tls_cert=cert, tls_key=key)
    context = ssl.create_default_context(cafile=cert)
    with socket.create_connection(("127.0.0.1", receiver.port)) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        data = frame(MULE[0]).encode()
        conn.sendall(f"{len(data)} ".encode() + data)
    (ev,) = writer.wait_for(1)
    assert ev.dataset == "mulesoft.runtime" and ev.host == "mule-01"


def mule_events(lines: list[str]) -> list[str]:
    """The heads of the events the file input makes of ``lines``."""
    return [e.message[:30] for e in parse_stream(io.BytesIO("\n".join(lines).encode() + b"\n"),
                                                 "f", "auto", CTX) if isinstance(e, Event)]


def kill(receiver: Receiver):
    dead = receiver.workers.worker
    dead._proc.kill()
    dead._proc.wait()
    return dead


def test_a_dead_parse_worker_is_replaced_and_the_frames_in_hand_are_parsed_again(receivers):
    """The worker parsing a connection's frames died: the frames read meanwhile are parsed by
    a new worker, the connection reads on, and the restart is counted."""
    receiver, writer = receivers("tcp")
    receiver.workers.restarts = Registry().counter("restarts", "", ("input",))
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        conn.sendall(frame(MULE[0]).encode() + b"\n")
        assert len(writer.wait_for(1)) == 1
        dead = kill(receiver)
        conn.sendall(frame(MULE[1]).encode() + b"\n")
        assert len(writer.wait_for(2)) == 2, "the frame in hand was parsed by the new worker"
        conn.sendall(frame(MULE[2]).encode() + b"\n")
    events = [i for i in writer.wait_for(3) if isinstance(i, Event)]
    assert receiver.workers.worker is not dead
    assert receiver.workers.restarts.value("syslog") == 1
    assert [e.message[:30] for e in events] == mule_events(MULE[:3])


def test_udp_datagrams_in_hand_when_the_worker_dies_are_parsed_by_the_next(receivers):
    receiver, writer = receivers("udp")
    kill(receiver)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for line in MULE[:3]:
            sock.sendto(frame(line).encode(), ("127.0.0.1", receiver.port))
    events = [i for i in writer.wait_for(3) if isinstance(i, Event)]
    assert [e.message[:30] for e in events] == mule_events(MULE[:3])


def test_a_connection_closed_mid_frame_keeps_its_last_line_and_dead_letters_a_cut_count(
        receivers):
    """RFC 6587 lets a sender close instead of ending its last line with LF: that line is a
    frame. An octet-counted frame the connection ends inside is dead-lettered, not dropped."""
    receiver, writer = receivers("tcp")
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        conn.sendall(frame(MULE[0]).encode())  # no LF
    (ev,) = writer.wait_for(1)
    assert ev.dataset == "mulesoft.runtime"
    cut = frame(MULE[1]).encode()
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        conn.sendall(f"{len(cut)} ".encode() + cut[:40])
    dead = writer.wait_for(2)[1]
    assert isinstance(dead, DeadLetter) and dead.reason.startswith("truncated_frame:")
    assert dead.raw == f"{len(cut)} ".encode().decode() + cut[:40].decode()


def test_frames_that_kill_the_new_worker_too_are_dead_lettered_not_parsed_a_third_time(
        receivers):
    """A frame read when its worker died is parsed by the next; if that one dies as well
    (here killed as soon as it started), the frame is set aside as ``crashed_process`` and a
    third worker parses what comes next."""
    receiver, writer = receivers("tcp")
    renew, renewed = receiver._renew, []

    def renew_then_kill_the_first_new_worker(link, exc):
        renew(link, exc)
        if not renewed:
            renewed.append(kill(receiver))

    receiver._renew = renew_then_kill_the_first_new_worker
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        conn.sendall(frame(MULE[0]).encode() + b"\n")
        assert len(writer.wait_for(1)) == 1
        kill(receiver)
        conn.sendall(frame(MULE[1]).encode() + b"\n")
        dead = writer.wait_for(2)[1]
        assert isinstance(dead, DeadLetter) and dead.reason.startswith("crashed_process:")
        # The frame kept for diagnosis, masked as events are.
        assert dead.raw.startswith(frame(MULE[1])[:80]) and "4111 1111" not in dead.raw
        conn.sendall(frame(MULE[2]).encode() + b"\n")
        assert isinstance(writer.wait_for(3)[2], Event)
    assert renewed


def test_with_encode_events_the_worker_ships_the_documents_the_store_would_write(receivers):
    """Nothing in the collector's process reads events (``ship_encoded``): the worker
    ships each event as its document bytes, as the file input's does, byte for byte the
    document of the event parsed in-process; and so does a worker that replaces it."""
    from collector.encoded import EncodedEvent, document_bytes

    plain, plain_writer = receivers("tcp", parse_worker=False)
    receiver, writer = receivers("tcp")
    receiver.encode_events = True
    assert receiver.encode_events and not plain.encode_events
    for target in (plain, receiver):
        with socket.create_connection(("127.0.0.1", target.port)) as conn:
            conn.sendall(b"".join(frame(line).encode() + b"\n" for line in MULE[:3]))
    count = len(mule_events(MULE[:3]))
    assert len(writer.wait_for(count)) == count
    kill(receiver)
    with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        conn.sendall(frame(MULE[0]).encode() + b"\n")
    def doc(e) -> dict:  # the document but its ingest time (when each receiver read it)
        d = orjson.loads(document_bytes(e))
        del d["event"]["ingested"]
        return d

    expected = [doc(e) for e in plain_writer.wait_for(count)]
    shipped = writer.wait_for(count + 1)
    assert all(isinstance(e, EncodedEvent) for e in shipped), shipped
    assert [doc(e) for e in shipped] == [*expected, expected[0]]


def test_a_closed_input_s_reading_thread_asks_its_closed_worker_for_nothing():
    """``close`` closes the worker's pipe; the UDP loop may still ask it to close idle
    records before it sees the stop: that is nothing to close, not an error in its thread
    (it was one: "write to closed file", seen as an unhandled thread exception)."""
    receiver, writer = start("udp")
    link = receiver.link("udp")
    receiver.stop()
    writer.close()
    receiver.close()
    assert receiver._remote(link, "finish_idle", 1.0) == []


def test_a_closed_input_s_reading_thread_parses_nothing_with_its_closed_worker():
    """The UDP loop's next step after ``finish_idle``: the datagrams it read as the input
    stopped, handed to ``_parse``, whose worker ``close`` closed: nothing (the input is
    going, no new worker), not "write to closed file" raised in the reading thread."""
    receiver, writer = start("udp")
    link = receiver.link("udp")
    frames = [frame(line).encode() for line in MULE[:3]]
    assert receiver._parse(link, frames, "udp")  # open, the worker parses
    receiver.stop()
    writer.close()
    receiver.close()
    assert receiver._parse(link, frames, "udp") == []
