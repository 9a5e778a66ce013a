"""The parse worker: the same events as parsing in the process, and a dead worker is a clear
error, never a silent gap."""

from __future__ import annotations

import os
import pickle
import signal
import time
from dataclasses import fields

import pytest

from collector.config import CollectorSettings
from collector.event import DeadLetter, Event
from collector.inputs.base import parse_context
from collector.inputs.lines import LineReader
from collector.inputs.parse_worker import ParseWorker, WorkerFailed

MULE = ("INFO  2024-03-01 10:15:3{n},123 [[MuleRuntime].uber.03: [order-api].main] "
        "[processor: main/processors/0; event: corr-{n}] org.mule.Logger: step {n}\n")
MULE_ERROR = ("ERROR 2024-03-01 10:15:39,000 [[MuleRuntime].uber.03: [order-api].main] "
              "[processor: main/processors/1; event: corr-9] org.mule.Handler: failed\n")
STACK = "java.lang.IllegalStateException: boom\n\tat com.acme.A.b(A.java:1)\n"


def _content() -> bytes:
    """Mule lines, a record with a stack trace, a line over the cap, and a last line without
    its newline: every piece of framing state a reader carries between chunks."""
    text = "".join(MULE.format(n=n) for n in range(5)) + MULE_ERROR + STACK
    text += "x" * 3000 + "\n" + MULE.format(n=7) + MULE.format(n=8).rstrip("\n")
    return text.encode()


def _summary(items) -> list[tuple]:
    out = []
    for item in items:
        if isinstance(item, Event):
            out.append(("event", item.id, item.message, item.timestamp_ms, item.error_stack_trace))
        else:
            assert isinstance(item, DeadLetter)
            out.append(("dead", item.reason, item.line, item.raw))
    return out


@pytest.fixture
def worker():
    w = ParseWorker(parse_context(CollectorSettings(), frozenset(), None), "orders")
    yield w
    w.close()


@pytest.mark.parametrize("chunk", [7, 100, 4096])
def test_worker_reads_exactly_what_the_process_reads(worker, chunk):
    """Chunk boundaries anywhere (inside a line, a record, the over-long line): the same
    items, offsets and resume positions from both readers after every chunk."""
    spec = ("mule", "/logs/mule.log", "42:0", 0, 0, 1024)
    local = LineReader.open(parse_context(CollectorSettings(), frozenset(), None), *spec)
    remote = worker.reader(*spec)
    data = _content()
    got_local, got_remote = [], []
    for at in range(0, len(data), chunk):
        piece = data[at:at + chunk]
        items_l, records_l = local.feed(piece, 1_700_000_000_000)
        items_r, records_r = remote.feed(piece, 1_700_000_000_000)
        assert records_l == records_r
        assert (local.read_offset, local.resume_at()) == (remote.read_offset, remote.resume_at())
        got_local += items_l
        got_remote += items_r
    got_local += local.flush(1_700_000_001_000)
    got_remote += remote.flush(1_700_000_001_000)
    assert remote.read_offset == local.read_offset == len(data)
    assert _summary(got_remote) == _summary(got_local)
    kinds = [s[0] for s in _summary(got_remote)]
    assert kinds.count("event") == 8 and kinds.count("dead") == 1, kinds
    remote.close()


def test_a_killed_worker_fails_the_input_by_name(worker):
    reader = worker.reader("json", "/logs/a.log", "1:0", 0, 0, 1024)
    os.kill(worker._proc.pid, signal.SIGKILL)
    worker._proc.wait(5)
    with pytest.raises(WorkerFailed, match=r"parse worker of input 'orders' stopped answering "
                                           r"\(exit status -9\)"):
        reader.feed(b'{"message": "x"}\n', 0)


def test_an_error_in_the_worker_comes_back_with_its_traceback(worker):
    with pytest.raises(WorkerFailed, match=r"(?s)input 'orders' failed: Traceback.*KeyError: 99"):
        worker.call("feed", 99, b"", 0)
    # The worker itself goes on answering.
    reader = worker.reader("json", "/logs/a.log", "1:0", 0, 0, 1024)
    items, records = reader.feed(b'{"message": "still here"}\n', 0)
    assert records == 1 and [i.message for i in items] == ["still here"]


def test_a_worker_ignores_terminal_signals_and_ends_with_its_pipe(worker):
    """Ctrl-C or a TERM to the whole process group must not cut a reply in half: the parent
    decides when the worker stops, by closing its stdin (also at exit after a kill -9)."""
    os.kill(worker._proc.pid, signal.SIGTERM)
    os.kill(worker._proc.pid, signal.SIGINT)
    reader = worker.reader("json", "/logs/a.log", "1:0", 0, 0, 1024)
    assert reader.feed(b'{"message": "x"}\n', 0)[1] == 1
    worker.close()
    assert worker._proc.returncode == 0


def test_a_worker_dropped_without_close_exits():
    w = ParseWorker(parse_context(CollectorSettings(), frozenset(), None), "dropped")
    proc = w._proc
    del w
    deadline = time.monotonic() + 5
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.returncode == 0


def test_events_cross_the_pipe_whole():
    """Events pickle as their field values in order: every field, set or default, survives."""
    full = Event(1_700_000_000_123, "mule.app", "mulesoft", "msg", "sent", "failure", "error",
                 "id1", 5, 7, "svc", "host", "t" * 32, "s" * 16, "E", "500", "boom", "stack",
                 "orders", "map", "ACME", "m-1", ["order:1", "correlation:c"], "mapping", "sig",
                 99, {"k": "v"}, 12, True, 1_700_000_000_456, "the source line")
    for event in (full, Event(0, "d", "generic")):
        back = pickle.loads(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
        assert back == event
    assert all(getattr(full, f.name) not in (None, "", 0, [], {}, False, "unknown", "info")
               for f in fields(Event)), "every field set, so a reordered field would show"


@pytest.mark.parametrize("shipper", [True, False])
def test_a_shipper_inputs_worker_imports_its_decoders_as_it_starts(monkeypatch, capfd, shipper):
    """A syslog, http or OTLP input's worker (``WorkerSlot``) imports the envelope decoders
    before it answers its start, not when a connection's first frames wait for it (0.02 s
    of CPU, counted against the first delivery); a file input's worker never does."""
    from collector.inputs.worker_slot import WorkerSlot

    monkeypatch.setenv("PYTHONVERBOSE", "1")  # the child's imports, on its stderr
    ctx = parse_context(CollectorSettings(), frozenset(), None)
    started = WorkerSlot(ctx, "syslog") if shipper else ParseWorker(ctx, "orders")
    try:
        imported = "collector.inputs.remote_delivery" in capfd.readouterr().err
    finally:
        started.close()
    assert imported is shipper
