"""Container envelopes (Docker json-file, CRI, docker compose) come off before parsing: the
platform's parser sees the lines the platform wrote, pieces of a split line joined."""

from __future__ import annotations

import io
from pathlib import Path

from collector import envelopes
from collector.event import DeadLetter, Event, iso_to_ms
from collector.parse import SourceParser, parse_stream
from collector.parsers._base import ParseContext

DATA = Path(__file__).resolve().parents[1] / "data"
CTX = ParseContext(now_ms=1_709_900_000_000)


def parse(text: str, fmt: str = "auto") -> tuple[list[Event], list[DeadLetter]]:
    items = list(parse_stream(io.BytesIO(text.encode()), "src.log", fmt, CTX))
    return ([i for i in items if isinstance(i, Event)],
            [i for i in items if isinstance(i, DeadLetter)])


def same(wrapped: list[Event], bare: list[Event]) -> None:
    """The same events but for their IDs (which come from the wrapped file's positions)."""
    def key(e: Event):
        return (e.timestamp_ms, e.dataset, e.level, e.message, e.error_type, e.error_message,
                e.ids, e.labels)
    assert [key(e) for e in wrapped] == [key(e) for e in bare]


def test_docker_json_file_lines_are_the_broker_lines_with_split_ones_joined():
    """RabbitMQ 3.12 lines (rabbitmq-server issue 10112) as Docker's json-file driver writes
    them, one line in two pieces: before, each was a generic JSON event whose message was
    the whole broker line."""
    wrapped, dead = parse((DATA / "containers/docker-json-rabbitmq.log").read_text())
    bare, _ = parse((DATA / "rabbitmq/multiline-repeated-prefix.log").read_text())
    assert dead == [] and len(wrapped) == 4
    assert {e.dataset for e in wrapped} == {"rabbitmq.log"}
    same(wrapped, bare)
    assert wrapped[1].labels["connection"] == "10.135.45.51:53066 -> 10.61.253.65:5671"


def test_cri_lines_keep_multi_line_records_whole():
    """The Mule runtime's error banner under containerd (Kubernetes), its first line in two
    pieces (``P`` then ``F``): one error event with the banner, as from the runtime's file."""
    wrapped, dead = parse((DATA / "containers/cri-mule.log").read_text())
    bare_lines = (DATA / "mule/app-runtime.log").read_text().splitlines()[3:15]
    bare, _ = parse("\n".join(bare_lines) + "\n")
    assert dead == [] and [e.level for e in wrapped] == ["error", "info"]
    assert wrapped[0].error_type == "HTTP:CONNECTIVITY"
    same(wrapped, bare)
    mule, _ = parse((DATA / "containers/cri-mule.log").read_text(), fmt="mule")
    same(mule, bare)  # a named format reads through the envelope too


def test_compose_prefixes_come_off_and_the_stack_trace_stays_with_its_record():
    """``docker compose logs`` of Kafka Connect (Nordstrom/kafka-connect-lambda PR 36):
    every line was dead-lettered, the stack trace line by line."""
    events, dead = parse((DATA / "containers/compose-kafka-connect.log").read_text())
    assert dead == []
    (failed,) = events
    assert (failed.dataset, failed.level) == ("kafka.broker", "error")
    assert failed.message.startswith("WorkerSinkTask{id=example-lambda-connector-0} Task threw")
    assert "LambdaSinkTask.handleResponse(LambdaSinkTask.java:215)" in failed.error_stack_trace


def test_java_service_wrapper_lines_come_off_and_its_own_lines_are_events():
    """A Mule standalone runtime's mule_ee.log as the Java Service Wrapper writes it (format
    LPTM): the runtime's lines read as from the bare file, and the wrapper's own lines say
    when the JVM was launched, hung and restarted. Before, every line was a dead letter."""
    events, dead = parse((DATA / "containers/wrapper-mule_ee.log").read_text())
    bare, _ = parse((DATA / "mule/mule_ee.log").read_text())
    assert dead == []
    wrapper = [e for e in events if e.dataset == "java_wrapper.log"]
    same([e for e in events if e.dataset != "java_wrapper.log"], bare)
    assert [e.message for e in wrapper] == [
        "--> Wrapper Started as Daemon", "Launching a JVM...",
        "JVM appears hung: Timed out waiting for signal from JVM.",
        "JVM did not exit on request, termination requested.", "Launching a JVM..."]
    hung = wrapper[2]
    assert (hung.level, hung.outcome, hung.error_class) == ("error", "failure", "resource")
    assert hung.timestamp_ms == iso_to_ms("2024-03-01T11:42:17Z")
    assert wrapper[0].level == "info" and wrapper[0].outcome == "unknown"
    # LPDTM: with the wrapper's thread column.
    assert envelopes.unwrap("wrapper", "INFO   | jvm 1    | main    | 2021/02/27 11:32:14.797 "
                            "| INFO  [x] y") == ("INFO  [x] y", False)


def test_what_is_not_an_envelope_is_left_alone():
    assert envelopes.kind_of("2024-03-01 10:00:00 | INFO | order 4711 accepted") is None
    assert envelopes.kind_of('{"log": {"level": "info"}, "message": "x"}') is None
    assert envelopes.kind_of('{"log":"INFO started\\n","stream":"stderr"}') == "docker"
    # A line of another shape in an enveloped source is read as it is.
    assert envelopes.unwrap("cri", "INFO plain line") is None


def test_a_held_piece_is_where_a_restart_reads_again_and_the_end_of_input_flushes_it():
    p = SourceParser("auto", CTX, "src.log")
    assert p.feed('{"log":"{\\"level\\":\\"info\\",","time":"t"}', 0, 1) == []
    assert p.held_position() == (0, 1)
    (event,) = p.feed('{"log":"\\"message\\":\\"ok\\"}\\n","time":"t"}', 40, 2)
    assert event.message == "ok" and p.held_position() is None
    assert p.feed('{"log":"{\\"message\\":\\"cut\\"}","time":"t"}', 80, 3) == []
    (last,) = p.flush()
    assert last.message == "cut"
