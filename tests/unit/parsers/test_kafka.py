"""kafka-broker (broker log lines) and kafka-record (records from the Kafka input)."""

import json
from pathlib import Path

import pytest

from collector.event import Record, iso_to_ms
from collector.parse import ParseStats, parse_record
from collector.parsers import kafka_broker, kafka_record
from collector.parsers._base import ParseContext, ParseError

CTX = ParseContext(now_ms=1_709_900_000_000)
DATA = Path(__file__).resolve().parents[2] / "data"


def test_kraft_server_log(parse_data):
    events, dead = parse_data("kafka-broker", "kafka-broker/server-kraft.log")
    assert dead == []
    assert len(events) == 8
    started = events[1]
    assert started.timestamp_ms == iso_to_ms("2025-03-18T09:12:44.567Z")
    assert (started.labels["component"], started.labels["broker_id"]) == ("BrokerServer", "1")
    assert started.labels["kafka_condition"] == "broker_started"
    shrink = events[3]
    assert (shrink.level, shrink.error_class, shrink.labels["kafka_condition"]) == (
        "warn", "resource", "isr_shrink")
    assert shrink.labels["topic_partition"] == "orders.v1-3"
    rebalance = events[4]
    assert rebalance.labels["consumer_group"] == "sap-bridge"
    assert rebalance.labels["topic_partition"] == "__consumer_offsets-12"
    assert rebalance.level == "info" and rebalance.error_class is None
    ssl = events[5]
    assert (ssl.error_class, ssl.labels["kafka_condition"]) == ("certificate", "ssl_handshake")
    not_leader = events[6]
    assert not_leader.error_type == "org.apache.kafka.common.errors.NotLeaderOrFollowerException"
    assert (not_leader.outcome, not_leader.error_class) == ("failure", "connectivity")
    assert not_leader.labels["topic_partition"] == "orders.v1-0"
    disk = events[7]
    assert (disk.error_type, disk.error_message) == ("java.io.IOException", "No space left on device")
    assert disk.error_class == "resource" and "FileDispatcherImpl.write0" in disk.error_stack_trace
    assert disk.labels["logger"].endswith("CheckpointFileWithFailureHandler")


def test_zookeeper_era_log(parse_data):
    events, dead = parse_data("kafka-broker", "kafka-broker/server-zk.log")
    assert dead == []
    started, fetch_error, expand, stopped = events
    assert started.labels["broker_id"] == "2"
    assert fetch_error.error_class == "timeout" and fetch_error.level == "warn"
    assert fetch_error.error_type == "java.net.SocketTimeoutException"
    assert expand.labels["kafka_condition"] == "isr_expand" and expand.level == "info"
    assert stopped.labels["kafka_condition"] == "broker_stopping"


def test_broker_malformed(parse_data):
    events, dead = parse_data("kafka-broker", "kafka-broker/malformed.log")
    assert len(dead) == 1 and "not a Kafka broker log line" in dead[0].reason
    (impossible,) = events
    assert impossible.timestamp_estimated
    assert "orphan.continuation" in impossible.error_stack_trace


def load_records() -> list[Record]:
    raw = json.loads((DATA / "kafka-record" / "records.json").read_text())
    return [Record(text=r["value"], source=f"kafka:{r['topic']}",
                   position=f"{r['partition']}:{r['offset']}", key=r["key"], headers=r["headers"],
                   ingested_ms=1_709_900_000_000) for r in raw]


def test_records_with_ids_in_headers_key_and_body():
    created, envelope, plain = [kafka_record.parse(r, CTX)[0] for r in load_records()]
    assert created.ids == ["correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40",
                           "otel.trace:5b8efff798038103d269b633813fc60c", "msg:msg-00042",
                           "kafka.key:4711", "order:4711", "customer:C-1009"]
    assert created.action == "published"  # midwatch-action header
    assert created.timestamp_ms == iso_to_ms("2024-03-01T10:05:32.150Z")
    assert not created.timestamp_estimated
    assert created.message == "OrderCreated" and created.span_id == "b7ad6b7169203331"
    assert (created.labels["kafka_topic"], created.labels["kafka_partition"],
            created.labels["kafka_offset"]) == ("orders.v1", "3", "10422")
    assert "payload" not in created.labels
    assert envelope.action == "consumed"
    assert envelope.ids[:2] == ["correlation:0c6b1d2e-3f40-4c1e-9a57-6f1c2a9e2f4b",
                                "kafka.key:4712"]
    assert envelope.timestamp_ms == 1709287540000 and envelope.service == "order-api"
    assert plain.message.startswith("STATUS 51 IDoc") and plain.timestamp_estimated
    assert plain.ids == [] and plain.timestamp_ms == 1_709_900_000_000


def test_record_through_the_parse_core_gets_a_position_id():
    record = load_records()[0]
    (ev,) = parse_record(record, "kafka-record", CTX, ParseStats())
    (again,) = parse_record(record, "kafka-record", CTX, ParseStats())
    assert ev.id and ev.id == again.id  # deterministic from topic + partition:offset
    assert ev.message_id == "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"


def test_malformed_values_are_kept_as_text(parse_data):
    events, dead = parse_data("kafka-record", "kafka-record/malformed.jsonl")
    assert dead == []
    truncated, array, binary = events
    assert truncated.message.startswith('{"orderId": "4713"') and truncated.ids == []
    assert array.message == "[1, 2, 3]"
    assert binary.message == "\x00\x01binary"
    assert all(e.timestamp_estimated for e in events)


def test_values_file_via_cli_shape(parse_data):
    events, dead = parse_data("kafka-record", "kafka-record/values.jsonl")
    assert dead == [] and [e.message for e in events] == ["OrderCreated", "record on "
                                                          + str(DATA / "kafka-record/values.jsonl")]


def test_detection():
    assert kafka_broker.detect("[2025-03-18 09:12:44,567] INFO [BrokerServer id=1] x (y)")
    assert not kafka_broker.detect("[2025-03-18] INFO x")
    assert not kafka_record.detect('{"orderId": 1}')
    with pytest.raises(ParseError):
        kafka_broker.parse(Record(text="hello"), CTX)


def test_real_broker_lines_of_older_and_newer_releases():
    """Lines as Kafka 0.11, 2.0 and 2.x brokers wrote them (public logs): broker IDs in
    every spelling, the pre-1.0 partition form, and a fetcher stopping is not the broker."""
    lines = [
        "[2021-10-11 09:40:10,882] INFO [SocketServer brokerId=1001] Started 1 acceptor threads "
        "(kafka.network.SocketServer)",
        "[2021-10-11 09:40:11,099] INFO [GroupCoordinator 1001]: Starting up. "
        "(kafka.coordinator.group.GroupCoordinator)",
        "[2017-07-15 16:17:57,662] INFO Partition [zhh-topic,2] on broker 1: Shrinking ISR from "
        "1,2,0 to 1,2 (kafka.cluster.Partition)",
        "[2017-07-15 16:18:07,312] INFO [ReplicaFetcherThread-0-0]: Shutting down "
        "(kafka.server.ReplicaFetcherThread)",
        "[2017-07-15 16:18:05,858] WARN [ReplicaFetcherThread-0-0]: Error in fetch to broker 0, "
        "request (type=FetchRequest, replicaId=1) (kafka.server.ReplicaFetcherThread)\n"
        "java.io.IOException: Connection to 0 was disconnected before the response was read",
        "[2021-10-11 09:41:00,000] INFO [KafkaServer id=1001] started (kafka.server.KafkaServer)",
        "[2021-10-11 09:42:00,000] INFO [KafkaServer id=1001] shutting down "
        "(kafka.server.KafkaServer)",
    ]
    events = [kafka_broker.parse(Record(text=t, source="server.log"), ParseContext())[0]
              for t in lines]
    socket, coordinator, old_isr, fetcher, fetch_error, started, stopping = events
    assert socket.labels["broker_id"] == coordinator.labels["broker_id"] == "1001"
    assert (old_isr.labels["topic_partition"], old_isr.labels["broker_id"]) == ("zhh-topic-2", "1")
    assert old_isr.labels["kafka_condition"] == "isr_shrink"
    assert "kafka_condition" not in fetcher.labels
    assert (fetch_error.labels["kafka_condition"], fetch_error.error_class) == (
        "connection_lost", "connectivity")
    assert started.labels["kafka_condition"] == "broker_started"
    assert stopping.labels["kafka_condition"] == "broker_stopping"


def test_connect_worker_logger_with_line_number_and_task(parse_data):
    """Kafka Connect worker lines (``(%c:%L)``) from averemee-si/oracdc issue 31,
    confluentinc/kafka-connect-hdfs issue 402 and apache/kafka PR 7555: the ``:422`` after
    the logger kept it out of ``labels.logger`` and left it in the message."""
    events, dead = parse_data("kafka-broker", "kafka-broker/connect-worker.log")
    assert dead == []
    committing, _, _, killed, snowflake = events
    assert committing.message == "WorkerSourceTask{id=logminer-source-testapps-0} Committing offsets"
    assert committing.labels["logger"] == "org.apache.kafka.connect.runtime.WorkerSourceTask"
    assert committing.labels["connect_task"] == "logminer-source-testapps-0"
    assert killed.labels["logger"] == "org.apache.kafka.connect.runtime.WorkerTask"
    assert killed.error_type == "java.lang.NullPointerException"
    assert killed.error_stack_trace.count("        at ") == 3
    assert (killed.labels["connect_task"], killed.outcome) == ("hdfs-sink-0", "failure")
    assert snowflake.message.endswith("will not recover until manually restarted.")
    assert snowflake.labels["connect_task"] == "SnowflakeConnector-0"


def test_message_spanning_lines_keeps_its_logger_and_is_no_stack_trace(parse_data):
    """The log cleaner's statistics (getsentry/self-hosted issue 3917, Kafka 3.x): an INFO
    message over ten lines whose logger closes the last one. It was read as a stack trace
    with no logger."""
    events, dead = parse_data("kafka-broker", "kafka-broker/multiline-info.log")
    assert dead == []
    (cleaner,) = events
    assert cleaner.labels["logger"] == "kafka.log.LogCleaner"
    assert cleaner.error_stack_trace is None and cleaner.error_type is None
    assert cleaner.message.startswith("[kafka-log-cleaner-thread-0]:\n\tLog cleaner thread 0")
    assert cleaner.message.endswith("50.0% size reduction (50.0% fewer messages)")
    assert (cleaner.level, cleaner.outcome) == ("info", "unknown")


def test_console_consumer_lines(parse_data):
    """``kafka-console-consumer --property print.key=true --property print.timestamp=true``
    output quoted in a public kafka-zero-to-pro tutorial (``CreateTime:1667959647470<TAB>
    hello<TAB>world``): the prefix fields were part of the message and the time was ingest."""
    events, dead = parse_data("kafka-record", "kafka-record/console-consumer.txt")
    assert dead == []
    first, second = events
    assert (first.timestamp_ms, first.timestamp_estimated) == (1667959647470, False)
    assert first.ids == ["kafka.key:hello"] and first.message == "world"
    assert second.ids == ["kafka.key:im"] and second.message == "guerrero"


def test_console_consumer_partition_offset_and_headers():
    """All print.* fields, in the order kafka.tools.DefaultMessageFormatter writes them."""
    line = ("LogAppendTime:1709287532123\tPartition:3\tOffset:10422\t"
            "correlation-id:6f1c2e40-d7a1-11ee-9a3c-0242ac120002\torder-4711\t"
            '{"orderId":"4711","event":"OrderCreated"}')
    (ev,) = kafka_record.parse(Record(text=line, source="kafka:orders"), CTX)
    assert ev.timestamp_ms == 1709287532123 and not ev.timestamp_estimated
    assert (ev.labels["kafka_partition"], ev.labels["kafka_offset"]) == ("3", "10422")
    assert ev.ids == ["correlation:6f1c2e40-d7a1-11ee-9a3c-0242ac120002", "kafka.key:order-4711",
                      "order:4711"]
    assert ev.message == "OrderCreated"
    (bare,) = kafka_record.parse(Record(text="NO_TIMESTAMP\tNO_HEADERS\tnull\tplain"), CTX)
    assert (bare.message, bare.ids, bare.timestamp_estimated) == ("plain", [], True)


def test_strimzi_console_layout(parse_data):
    """``%d{ISO8601} %p %m (%c) [%t]%n``, the layout of Strimzi's Kafka images, from IBM Event
    Streams' "Kafka pods fail to start in a FIPS-enabled OpenShift cluster" and a Strimzi
    operator user's broker log: every line was dead-lettered, stack traces line by line."""
    events, dead = parse_data("auto", "kafka-broker/strimzi-console.log")
    assert dead == []
    assert [e.level for e in events] == ["info", "error", "error", "info", "error", "info",
                                         "info"]
    assert {e.dataset for e in events} == {"kafka.broker"}
    cleaner, fatal = events[0], events[1]
    assert cleaner.labels["logger"] == "kafka.log.LogCleaner"
    assert cleaner.labels["thread"] == "main"
    assert "digital envelope routines::unsupported" in cleaner.message
    assert fatal.labels["broker_id"] == "0" and fatal.timestamp_ms == 1734369091960
    assert fatal.message == ("[KafkaServer id=0] Fatal error during KafkaServer startup. "
                             "Prepare to shutdown")
    noauth = events[4]
    assert "KafkaServer.startup(KafkaServer.scala:205)" in noauth.error_stack_trace
    assert noauth.error_type == "org.apache.zookeeper.KeeperException$NoAuthException"
    assert events[5].labels["thread"] == "main-EventThread"
    # Other Java logs start the same way: without "(logger) [thread]" at the end, not Kafka.
    assert not kafka_broker.detect("2024-03-01 10:15:32,123 INFO order 4711 accepted")


@pytest.mark.parametrize("fmt", ["kafka-broker", "auto"])
def test_client_ids_are_not_topic_partitions(parse_data, fmt):
    """``[Consumer clientId=connector-consumer-X-0, ...]``: the client ID ends in -<n> and was
    taken for the topic-partition, so a Connect task's trouble lined up with a topic that
    does not exist and not with the one its message names."""
    events, dead = parse_data(fmt, "kafka-broker/connect-consumer-client-ids.log")
    assert dead == []
    assert [e.labels.get("topic_partition") for e in events] == [
        None, None, "blob_topic-0", "__consumer_offsets-12"]
    assert events[0].labels["component"] == "Consumer"


@pytest.mark.parametrize("fmt", ["kafka-broker", "auto"])
def test_connector_context_names_the_task(parse_data, fmt):
    """``[<connector>|task-<n>]`` begins every line of a task since Kafka 2.3: only the line
    naming ``WorkerSinkTask{id=..}`` was labelled with its task, so the WARN just before a
    task died did not line up with it, and the bracket hid the [Consumer ...] component."""
    events, dead = parse_data(fmt, "kafka-broker/connect-connector-context.log")
    assert dead == []
    task = "doris-normal_test_sink-connector-0"
    assert [e.labels.get("connect_task") for e in events] == [task, task, "echo-sink-0", task,
                                                              None]
    assert events[1].outcome == "failure"
    assert events[3].labels["component"] == "Consumer"
    assert events[3].labels["topic_partition"] == "test_sink-0"
    assert events[4].labels["connect_connector"] == "doris-normal_test_sink-connector"


@pytest.mark.parametrize("fmt", ["kafka-broker", "auto"])
def test_offset_commit_scope_names_the_task(parse_data, fmt):
    """``[<connector>|task-<n>|offsets]`` (LoggingContext's OFFSETS scope) was not read: an
    offset-commit line without ``Task{id=}`` in its text had no connector or task label."""
    events, dead = parse_data(fmt, "kafka-broker/connect-offsets-context.log")
    assert dead == []
    assert [(e.labels.get("connect_connector"), e.labels.get("connect_task")) for e in events] == [
        ("replicate-europe-to-us", "replicate-europe-to-us-0"),
        ("replicate-europe-to-us", "replicate-europe-to-us-0"),
        ("local-file-source", "local-file-source-0")]
    assert "Committing offsets for 2 acknowledged messages" in events[2].message


def test_consumer_group_of_a_clients_lines(parse_data):
    """A client's ``[Consumer clientId=..., groupId=...]`` names its group; its "joined group
    with generation" does not (it gave the group "with", and groupId was not read)."""
    events, dead = parse_data("auto", "kafka-broker/connect-consumer-client-ids.log")
    assert dead == []
    joined, assigned = events[:2]
    assert joined.labels["consumer_group"] == "connect-PubSubConnector"
    assert assigned.labels["consumer_group"] == "connect-PubSubConnector"
    ev = kafka_broker.parse(Record(text="[2024-03-01 10:00:00,000] INFO [Consumer clientId="
                                        "consumer-1, groupId=orders] Discovered group "
                                        "coordinator broker-1:9092 (id: 2147483646 rack: null) "
                                        "(org.apache.kafka.clients.consumer.internals."
                                        "ConsumerCoordinator)"), ParseContext())[0]
    assert ev.labels["consumer_group"] == "orders"
    bare = kafka_broker.parse(Record(text="[2024-03-01 10:00:00,000] INFO Successfully joined "
                                          "group with generation 3 (org.apache.kafka.clients."
                                          "consumer.internals.AbstractCoordinator)"),
                              ParseContext())[0]
    assert "consumer_group" not in bare.labels
