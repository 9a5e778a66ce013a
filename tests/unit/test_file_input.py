"""File tailing with real files: checkpoints, rotation, multi-line records, bad input."""

from __future__ import annotations

import gzip
import os
import random
import threading
import time
from pathlib import Path

import orjson
import pytest

from collector.config import CollectorSettings
from collector.event import DeadLetter, Event
from collector.inputs.base import Chunk, ChunkQueue, parse_context
from collector.inputs.checkpoint import CheckpointFile
from collector.inputs.file import Config as FileConfig
from collector.inputs.file import FileInput as FileTail
from collector.metrics import Registry

MULE_START = ("INFO  2024-03-01 10:15:3{n},123 [[MuleRuntime].uber.03: [order-api].main] "
              "[processor: main/processors/0; event: corr-{n}] org.mule.Logger: step {n}\n")
MULE_ERROR = ("ERROR 2024-03-01 10:15:39,000 [[MuleRuntime].uber.03: [order-api].main] "
              "[processor: main/processors/1; event: corr-9] org.mule.Handler: failed\n")
STACK = "java.lang.IllegalStateException: boom\n\tat com.acme.A.b(A.java:1)\n\tat com.acme.C.d(C.java:2)\n"


def json_line(n: int) -> str:
    return orjson.dumps({"timestamp": f"2024-05-01T10:00:{n % 60:02d}Z", "level": "INFO",
                         "message": f"line {n}", "correlationId": f"c-{n}"}).decode() + "\n"


# Every test runs twice: parsing in the parse worker (the default) and in the process.
MODE = {"parse_worker": True}


@pytest.fixture(autouse=True, params=[True, False], ids=["worker", "in-process"])
def parse_mode(request, monkeypatch):
    monkeypatch.setitem(MODE, "parse_worker", request.param)


def make_input(tmp_path: Path, fmt: str = "json", **overrides) -> FileTail:
    overrides.setdefault("parse_worker", MODE["parse_worker"])
    overrides.setdefault("multiline_timeout_ms", 10)
    cfg = FileConfig(name="t", paths=(str(tmp_path / "logs" / "*.log"),), format=fmt,
                    **overrides)
    ctx = parse_context(CollectorSettings(), frozenset(), None)
    return FileTail(cfg, ctx, str(tmp_path / "ckpt"), Registry())


def pump(inp: FileTail, idle: bool = True) -> list[Chunk]:
    """Everything the input produces now (and, with ``idle``, after its multi-line timeout)."""
    inp.scan()
    chunks: list[Chunk] = []
    for _ in range(2 if idle else 1):
        while got := [c for t in list(inp.tails.values()) if (c := inp.read(t)) is not None]:
            chunks.extend(got)
        if idle:
            time.sleep(0.03)
    return chunks


def pump_until(inp: FileTail, done, timeout_s: float = 10.0) -> list[Chunk]:
    """Scan and read until ``done(chunks)`` holds (polled, with a deadline), then once more
    to the end: whatever else the input produces is in the answer too."""
    chunks: list[Chunk] = []
    deadline = time.monotonic() + timeout_s
    while not done(chunks) and time.monotonic() < deadline:
        chunks.extend(pump(inp, idle=False))
        time.sleep(0.01)  # poll interval, not synchronization: the loop checks ``done``
    return chunks + pump(inp, idle=False)


def ack_all(inp: FileTail, chunks: list[Chunk]) -> None:
    for chunk in chunks:
        chunk.ack()
    inp.commit()


def events(chunks: list[Chunk]) -> list[Event]:
    return [i for c in chunks for i in c.items if isinstance(i, Event)]


def dead(chunks: list[Chunk]) -> list[DeadLetter]:
    return [i for c in chunks for i in c.items if isinstance(i, DeadLetter)]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


def test_reads_lines_and_positions_are_inode_offset(tmp_path, logs):
    path = logs / "a.log"
    path.write_text(json_line(1) + json_line(2))
    evs = events(pump(make_input(tmp_path)))
    assert [e.message for e in evs] == ["line 1", "line 2"]
    inode = os.stat(path).st_ino
    from collector.event import event_id
    assert evs[1].id == event_id(str(path), f"{inode}:{len(json_line(1))}", 0)


def test_checkpoint_written_only_after_ack_and_restart_resumes(tmp_path, logs):
    path = logs / "a.log"
    path.write_text(json_line(1) + json_line(2))
    inp = make_input(tmp_path)
    chunks = pump(inp)
    checkpoint = CheckpointFile(tmp_path / "ckpt", "t")
    assert checkpoint.load() == {}, "nothing acked yet, nothing persisted"
    ack_all(inp, chunks)
    saved = list(checkpoint.load().values())
    assert [(p.offset, p.line) for p in saved] == [(path.stat().st_size, 2)]
    inp.close()

    with path.open("a") as fh:
        fh.write(json_line(3))
    again = make_input(tmp_path)
    assert [e.message for e in events(pump(again))] == ["line 3"]


def test_unacked_chunks_are_read_again_with_the_same_ids(tmp_path, logs):
    (logs / "a.log").write_text(json_line(1) + json_line(2))
    first = events(pump(make_input(tmp_path)))  # never acked: a crash
    second = events(pump(make_input(tmp_path)))
    assert [e.id for e in first] == [e.id for e in second]


def test_open_multiline_record_is_checkpointed_at_its_start(tmp_path, logs):
    path = logs / "mule.log"
    head = MULE_START.format(n=1)
    path.write_text(head + MULE_ERROR + STACK)
    # Quiet for a minute before an open record is closed: it stays open however slowly this
    # runs (with 10 ms, a loaded machine closed it between two reads: a flaky test).
    inp = make_input(tmp_path, fmt="mule", multiline_timeout_ms=60_000)
    chunks = pump(inp, idle=False)
    assert len(events(chunks)) == 1, "the error record stays open: its stack may continue"
    ack_all(inp, chunks)
    (pos,) = CheckpointFile(tmp_path / "ckpt", "t").load().values()
    assert (pos.offset, pos.line) == (len(head), 1)

    restarted = make_input(tmp_path, fmt="mule")  # 10 ms: the quiet file closes the record
    evs = events(pump_until(restarted, lambda chunks: len(events(chunks)) >= 1))
    assert len(evs) == 1
    assert "IllegalStateException" in (evs[0].error_stack_trace or evs[0].message)


def test_rename_rotation_finishes_old_file_then_reads_new(tmp_path, logs):
    path = logs / "app.log"
    path.write_text(json_line(1))
    inp = make_input(tmp_path)
    ack_all(inp, pump(inp))
    with path.open("a") as fh:
        fh.write(json_line(2))  # written before rotation, not yet read
    path.rename(logs / "app.log.1")  # no longer matches *.log
    path.write_text(json_line(3))
    chunks = pump(inp)
    assert sorted(e.message for e in events(chunks)) == ["line 2", "line 3"]
    ack_all(inp, chunks)
    saved = CheckpointFile(tmp_path / "ckpt", "t").load()
    assert [p.inode for p in saved.values()] == [path.stat().st_ino], "old inode forgotten"


def test_copytruncate_restarts_at_zero_with_new_positions(tmp_path, logs):
    path = logs / "app.log"
    path.write_text(json_line(1) + json_line(2))
    inp = make_input(tmp_path)
    before = events(pump(inp))
    with path.open("r+") as fh:
        fh.truncate(0)
    path.write_text(json_line(3))  # shorter than what was read
    after = events(pump(inp))
    assert [e.message for e in after] == ["line 3"]
    assert after[0].id not in {e.id for e in before}, "same offset, new content: new ID"


def test_long_line_is_cut_and_dead_lettered_and_reading_goes_on(tmp_path, logs):
    path = logs / "a.log"
    with path.open("w") as fh:
        fh.write(json_line(1))
        fh.write("x" * (10 * 1024 * 1024) + "\n")
        fh.write(json_line(2))
    inp = make_input(tmp_path, read_chunk_bytes=256 * 1024, max_line_bytes=64 * 1024)
    chunks = pump(inp)
    assert [e.message for e in events(chunks)] == ["line 1", "line 2"]
    (dl,) = dead(chunks)
    assert dl.reason.startswith("line_too_long") and dl.line == 2
    assert len(dl.raw) <= DeadLetter.MAX_RAW


def test_line_too_long_names_the_configured_limit_and_says_it_was_cut(tmp_path, logs):
    (logs / "a.log").write_text(json_line(1) + "y" * 5000 + "\n" + json_line(2))
    chunks = pump(make_input(tmp_path, max_line_bytes=4096))
    (dl,) = dead(chunks)
    assert "more than 4096 bytes (max_line_bytes)" in dl.reason
    assert dl.raw == "y" * 4096
    assert dl.to_doc()["raw_truncated"] is True
    assert [e.message for e in events(chunks)] == ["line 1", "line 2"]


def test_invalid_utf8_is_replaced_not_dropped(tmp_path, logs):
    path = logs / "a.log"
    path.write_bytes(json_line(1).replace("line 1", "caf\udce9").encode("utf-8", "surrogateescape"))
    (ev,) = events(pump(make_input(tmp_path)))
    assert ev.message == "caf\ufffd"


def test_last_line_without_newline_waits_for_it_while_the_file_is_live(tmp_path, logs):
    # A writer that pauses mid-line (a buffered appender flushing at a block boundary) had
    # its line read as a line once quiet, and the rest as another: both dead-lettered.
    path = logs / "a.log"
    half = len(json_line(2)) // 2
    path.write_text(json_line(1) + json_line(2)[:half])
    inp = make_input(tmp_path)
    chunks = pump(inp)
    assert [e.message for e in events(chunks)] == ["line 1"] and dead(chunks) == []
    ack_all(inp, chunks)
    with path.open("a") as fh:
        fh.write(json_line(2)[half:] + json_line(3).rstrip("\n"))
    chunks = pump(inp)
    assert [e.message for e in events(chunks)] == ["line 2"] and dead(chunks) == []
    ack_all(inp, chunks)
    # nothing is lost: a restart reads the unfinished line again, and a file that is done
    # (renamed by a rotation, or deleted) has its last line read without the newline
    inp.close()
    again = make_input(tmp_path)
    assert events(pump(again)) == []
    path.rename(logs / "a-1.log")  # still matched: read to its end under its new name
    assert [e.message for e in events(pump(again))] == ["line 3"]


def test_compressed_rotated_file_is_not_read_as_text(tmp_path, logs):
    # logrotate's compress leaves app.log.1.gz beside app.log, and app.log* matches it: read
    # as text it was a dead letter of binary garbage each rotation
    (logs / "app.log").write_text(json_line(1))
    (logs / "app.log.1.gz").write_bytes(gzip.compress(json_line(0).encode()))
    registry = Registry()
    cfg = FileConfig(name="t", paths=(str(logs / "app.log*"),), format="json",
                     parse_worker=MODE["parse_worker"], multiline_timeout_ms=10)
    inp = FileTail(cfg, parse_context(CollectorSettings(), frozenset(), None),
                   str(tmp_path / "ckpt"), registry)
    chunks = pump(inp)
    assert [e.message for e in events(chunks)] == ["line 1"] and dead(chunks) == []
    assert [t.path for t in inp.tails.values()] == [str(logs / "app.log")]
    assert 'midwatch_input_files_skipped_total{input="t",reason="compressed"} 1' in \
        registry.expose()
    ack_all(inp, chunks)
    inp.close()


def test_deleted_file_is_read_to_end_and_forgotten(tmp_path, logs):
    path = logs / "a.log"
    path.write_text(json_line(1))
    inp = make_input(tmp_path)
    ack_all(inp, pump(inp))
    with path.open("a") as fh:
        fh.write(json_line(2))
    path.unlink()
    chunks = pump(inp)
    assert [e.message for e in events(chunks)] == ["line 2"]
    ack_all(inp, chunks)
    assert inp.tails == {} and CheckpointFile(tmp_path / "ckpt", "t").load() == {}


def test_start_at_end_skips_existing_content_but_not_new_files(tmp_path, logs):
    (logs / "old.log").write_text(json_line(1))
    inp = make_input(tmp_path, start_at="end")
    assert events(pump(inp)) == []
    (logs / "new.log").write_text(json_line(2))
    with (logs / "old.log").open("a") as fh:
        fh.write(json_line(3))
    assert sorted(e.message for e in events(pump(inp))) == ["line 2", "line 3"]


def test_corrupt_checkpoint_is_an_error_naming_the_file(tmp_path, logs):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "t.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"t\.json: unreadable checkpoint"):
        make_input(tmp_path)


def test_files_are_read_oldest_events_first(tmp_path, logs):
    """Two systems' logs of the same hour, one far behind the other: once each file has shown
    its time, the one whose events are older is read until it catches up, so the hops of a
    message arrive together instead of a read chunk of each file apart."""
    def lines(hour: int) -> str:
        return "".join(orjson.dumps({"timestamp": f"2024-05-01T{hour:02d}:{n // 60:02d}:{n % 60:02d}Z",
                                     "message": f"line {n} " + "x" * 80,
                                     "correlationId": f"c-{hour}-{n}"}).decode() + "\n"
                       for n in range(600))
    (logs / "a-late.log").write_text(lines(11))
    (logs / "b-early.log").write_text(lines(10))
    inp = make_input(tmp_path, read_chunk_bytes=4096)
    out = ChunkQueue(10_000)
    thread = threading.Thread(target=inp.run, args=(out,), daemon=True)
    thread.start()
    hours: list[int] = []
    read, deadline = 0, time.monotonic() + 60  # all 1200 lines (a quiet second was a race)
    while read < 1200 and time.monotonic() < deadline:
        if (chunk := out.get(0.5)) is None:
            continue
        read += len(events([chunk]))
        stamps = {e.timestamp_ms // 3_600_000 % 24 for e in events([chunk])}
        if stamps:
            (hour,) = stamps
            hours.append(hour)
    inp.stop()
    thread.join(5)
    assert hours.count(10) > 5 and hours.count(11) > 5
    # Each file's first chunk tells its time; after that every early chunk comes first.
    first_late = hours.index(11)
    rest = hours[first_late + 1:]
    assert rest == sorted(rest), hours


X12_997 = ("ISA*00*          *00*          *ZZ*WIDGETSUPPLY   *ZZ*ACMEBUYER      *240301*1005*U"
           "*00401*000000501*0*P*>~GS*FA*WIDGETSUPPLY*ACMEBUYER*20240301*1005*501*X*004010~"
           "ST*997*0001~AK1*PO*1~AK2*850*0001~AK5*A~AK9*A*1*1*1~SE*6*0001~GE*1*501~"
           "IEA*1*000000501~")
CONTRL = ("UNA:+.? 'UNB+UNOC:3+4012345000023:14+5412345000013:14+240301:1015+C1'"
          "UNH+1+CONTRL:D:3:UN'UCI+ONE1+5412345000013:14+4012345000023:14+7'UNT+3+1'UNZ+1+C1'")


@pytest.mark.parametrize(("fmt", "text"), [("x12", X12_997), ("auto", X12_997),
                                           ("edifact", CONTRL), ("auto", CONTRL),
                                           ("x12", X12_997 + "\x00" * 40)],
                         ids=["x12", "x12-auto", "edifact", "edifact-auto", "x12-nul-padded"])
def test_an_edi_file_without_any_newline_is_read_once_quiet(tmp_path, logs, fmt, text):
    """Translators write an interchange as one line without a newline (a 997, a CONTRL) into a
    directory where the file stays: its only line waited for a newline that never comes, so
    the acknowledgement was never read and its document went stuck past its SLA, silently.
    A line that ends with an interchange's trailer (IEA, UNZ) and its terminator is whole;
    one that stops before it still waits."""
    path = logs / "in.log"
    cut = text.rindex("IEA" if "IEA" in text else "UNZ")
    path.write_text(text[:cut])
    inp = make_input(tmp_path, fmt)
    assert events(pump(inp)) == []  # still being written: waits
    with path.open("a") as fh:
        fh.write(text[cut:])
    chunks = pump(inp)
    assert dead(chunks) == []
    assert {e.action for e in events(chunks)} == {"acknowledged"}


@pytest.mark.parametrize("fmt", ["x12", "auto"])
@pytest.mark.parametrize("block", [512, 4096, 8192, 65536])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le"])
def test_an_interchange_padded_to_a_block_is_read_once_quiet(tmp_path, logs, fmt, block,
                                                              encoding):
    """Block transfers pad a file's last block with NULs, up to the block size less one (in
    UTF-16 whole NUL code units). The trailer was looked for in the last 4096 bytes, padding
    included: past 4 KiB of padding the file was never read, no event and no dead letter."""
    raw = _x12_interchanges()[0].encode(encoding)
    (logs / "in.log").write_bytes(raw + b"\0" * (-len(raw) % block or block))
    chunks = pump(make_input(tmp_path, fmt, encoding=encoding))
    assert dead(chunks) == []
    assert [e.message_id.rsplit(":", 1)[1] for e in events(chunks)] == ["0001", "0002"]


@pytest.mark.parametrize("block", [512, 8192, 65536])
def test_a_log_line_after_a_padded_interchange_is_its_own_event(tmp_path, logs, block):
    """The padded interchange ends with a newline and the translator's next log line follows:
    with the trailer out of the tail's sight the log line was glued into the interchange, a
    false validation failure of it, the log event lost."""
    raw = _x12_interchanges()[0].encode()
    (logs / "in.log").write_bytes(
        raw + b"\0" * (-len(raw) % block) + b"\n2024-03-01 10:00:00,123 ERROR [translator] "
        b"partner ACME: mapping failed for PO-4799\n")
    chunks = pump(make_input(tmp_path, "auto"))
    assert dead(chunks) == []
    assert [(e.dataset, e.level) for e in events(chunks)] == [
        ("edi.x12", "info"), ("edi.x12", "info"), ("generic.text", "error")]


def _truncate_out_of_sight(path: Path, inp: FileTail, seen_unread: bool) -> None:
    """copytruncate with the copy nowhere the input looks; with ``seen_unread``, a scan has
    seen lines the input has not read yet when the truncation comes."""
    with path.open("a") as fh:
        fh.write(json_line(2))
    if seen_unread:
        inp.scan()
    with path.open("r+") as fh:
        fh.truncate(0)
    path.write_text(json_line(3))
    for tail in list(inp.tails.values()):  # a read before the next scan sees the truncation
        inp.read(tail)


def truncation_warning(caplog) -> str:
    (msg,) = [r.getMessage() for r in caplog.records if "no rotated copy" in r.getMessage()]
    return msg


@pytest.mark.parametrize(("seen_unread", "said", "not_said"), [
    (False, "may be lost", "are lost"),
    (True, "bytes seen but not read are lost", None),
], ids=["nothing-seen-unread", "bytes-seen-unread"])
def test_copytruncate_warning_says_lost_only_where_certain(tmp_path, logs, caplog,
                                                           seen_unread, said, not_said):
    """Nothing seen and not read (bytes_known 0): whether lines were written after the last
    read cannot be known, so the warning must not say they were lost. Bytes a scan saw and
    no read took before the truncation are lost for certain."""
    path = logs / "app.log"
    path.write_text(json_line(1))
    inp = make_input(tmp_path)
    pump(inp)
    _truncate_out_of_sight(path, inp, seen_unread=seen_unread)
    msg = truncation_warning(caplog)
    assert said in msg and (not_said is None or not_said not in msg)


@pytest.mark.parametrize(("fmt", "text"), [("x12", X12_997), ("auto", X12_997),
                                           ("edifact", CONTRL), ("auto", CONTRL)],
                         ids=["x12", "x12-auto", "edifact", "edifact-auto"])
@pytest.mark.parametrize("sep", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_a_newline_after_an_interchange_read_once_quiet_is_no_record(tmp_path, logs, fmt,
                                                                      text, sep):
    """The interchange without newline is read once quiet; the writer's late newline, then an
    append that starts with one (writers that put the newline first), were each an empty
    record: a parse_error dead letter (not an X12 interchange) with nothing lost but a false
    alarm. Blank lines with no record open are no record."""
    path = logs / "in.log"
    path.write_text(text)
    inp = make_input(tmp_path, fmt)
    first = pump(inp)
    assert len(events(first)) >= 1 and dead(first) == []
    with path.open("a", newline="") as fh:
        fh.write(sep)
    chunks = pump(inp)
    with path.open("a", newline="") as fh:
        fh.write(sep + text)
    chunks += pump(inp)
    assert dead(chunks) == [], [d.reason for d in dead(chunks)]
    assert len(events(chunks)) == len(events(first))
    assert not {e.id for e in events(first)} & {e.id for e in events(chunks)}


@pytest.mark.parametrize("ref", ["C-1", "ICR/0001", "C.1"])
def test_an_edifact_reference_with_punctuation_ends_a_whole_line(tmp_path, logs, ref):
    """UNZ 0020 is an..14 and UNOA/UNOC allow - / . in it: the trailer pattern took only
    letters, digits and _, so such a CONTRL without newline was never read."""
    path = logs / "in.log"
    path.write_text(CONTRL.replace("+C1'", f"+{ref}'"))
    chunks = pump(make_input(tmp_path, "edifact"))
    assert dead(chunks) == [] and [e.action for e in events(chunks)] == ["acknowledged"]


def test_a_5_mb_interchange_on_one_line_is_read_in_parts_not_dead_lettered(tmp_path, logs):
    """VANs and AS2 gateways write a whole interchange with no line break (big 810 batches
    reach several MB): over max_line_bytes it was one ``line_too_long`` dead letter, every
    invoice lost to correlation. Read in pieces of whole segments and parts ending after a
    set's SE, each invoice is an event; a restart resumes at the interchange's start."""
    from tests.unit.test_edi_long_interchange import x12_batch

    path = logs / "batch.log"
    path.write_text(x12_batch(5000))
    inp = make_input(tmp_path, "x12")
    chunks = pump_until(inp, lambda got: len(events(got)) >= 5000, timeout_s=120)
    assert dead(chunks) == []
    evs = events(chunks)
    assert len(evs) == 5000 and len({e.id for e in evs}) == 5000
    assert {i for e in evs for i in e.ids if i.startswith("invoice:")} == {
        f"invoice:INV-{n}" for n in range(1, 5001)}


def test_an_interchange_read_in_parts_is_checkpointed_at_its_start(tmp_path, logs):
    """The parts of a several-MB interchange are handed over as they are read, yet its
    trailer's checks need all of it: a restart resumes at the ISA and reads the parts again
    with the same event IDs (a replay overwrites), never from the middle of the line."""
    from tests.unit.test_edi_long_interchange import x12_batch

    text = x12_batch(5000)
    cut = text.rindex("GE*")
    path = logs / "batch.log"
    path.write_text(text[:cut])  # the gateway is still writing
    inp = make_input(tmp_path, "x12", multiline_timeout_ms=60_000)
    chunks = pump_until(inp, lambda got: len(events(got)) >= 3000, timeout_s=120)
    first = {e.id for e in events(chunks)}
    assert 3000 <= len(first) < 5000 and dead(chunks) == []
    ack_all(inp, chunks)
    (pos,) = CheckpointFile(tmp_path / "ckpt", "t").load().values()
    assert (pos.offset, pos.line) == (0, 0)

    with path.open("a") as fh:
        fh.write(text[cut:])
    restarted = make_input(tmp_path, "x12")
    again = pump_until(restarted, lambda got: len(events(got)) >= 5000, timeout_s=120)
    ids = {e.id for e in events(again)}
    assert dead(again) == [] and len(ids) == 5000 and first <= ids


def _x12_interchanges() -> list[str]:
    po = (Path(__file__).parents[1] / "data" / "x12" / "purchase-orders.edi").read_text()
    return ["ISA*00*" + x.replace("\n", "") for x in po.split("ISA*00*")[1:]]


# Two EDIFACT interchanges, UNOC with a non-ASCII name: the second starts at a byte offset
# other than its character offset.
EDIFACT_ICS = [
    "UNA:+.? 'UNB+UNOC:3+4012345000009:14+5412345000013:14+240301:0930+88001'"
    "UNH+1+INVOIC:D:96A:UN:EAN008'BGM+380+INV-88120+9'NAD+SU+++Müller Straße GmbH'"
    "UNT+4+1'UNZ+1+88001'",
    "UNB+UNOC:3+4012345000009:14+5412345000013:14+240301:0931+88002'"
    "UNH+1+INVOIC:D:96A:UN:EAN008'BGM+380+INV-88121+9'UNT+3+1'UNZ+1+88002'",
]


@pytest.mark.parametrize(("fmt", "ics"), [
    ("x12", _x12_interchanges()), ("auto", _x12_interchanges()),
    ("edifact", EDIFACT_ICS), ("auto", _x12_interchanges() + EDIFACT_ICS),
], ids=["x12", "x12-auto", "edifact", "x12-and-edifact-auto"])
@pytest.mark.parametrize("writes", ["at-each-trailer", "at-random-points"])
def test_interchanges_on_one_line_get_the_same_ids_however_the_reads_fell(tmp_path, logs, fmt,
                                                                          ics, writes):
    """Translators write interchanges back to back on one line without a newline and flush
    after each. Read quiet after one of them, it was a record of its own at its offset; read
    whole (a re-read from an older checkpoint), all were one record at offset 0 with other
    indexes: other event IDs, so a replay wrote the next interchanges' events a second time.
    Each interchange is now a record at its own offset, whatever the reads."""
    data = "".join(ics).encode()
    path = logs / "in.log"
    path.write_bytes(data)
    first = make_input(tmp_path, fmt)
    whole = sorted(e.id for e in events(pump(first)))
    first.stop()
    assert len(whole) >= len(ics)

    if writes == "at-each-trailer":
        cuts = [len("".join(ics[:k + 1]).encode()) for k in range(len(ics) - 1)]
    else:
        cuts = sorted(random.Random(len(data)).sample(range(1, len(data)), 8))
    path.write_bytes(b"")  # the same file (inode: event IDs hold it), written again
    inp = make_input(tmp_path, fmt)
    chunks = pump(inp)
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        with path.open("ab") as fh:
            fh.write(data[a:b])
        chunks += pump(inp)  # quiet between writes: a whole interchange is read at once
    inp.stop()
    assert dead(chunks) == []
    assert sorted(e.id for e in events(chunks)) == whole
