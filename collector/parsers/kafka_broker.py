"""Kafka broker logs (``server.log``, ``controller.log``, ``state-change.log``), log4j layout
``[%d] %p %m (%c)%n`` as ZooKeeper-era and 4.x KRaft brokers write them, and
``%d{ISO8601} %p %m (%c) [%t]%n``, the console layout of Strimzi's images (Kafka on
Kubernetes), whose thread is kept as ``labels.thread``.

Kafka Connect workers log with the same layout, their logger followed by the source line
(``(org.apache.kafka.connect.runtime.WorkerSinkTask:558)``, ``%c:%L``); the task they speak of
(``WorkerSinkTask{id=hdfs-sink-0}``, or the ``[hdfs-sink|task-0]`` connector context that
begins their lines since Kafka 2.3) is kept as ``labels.connect_task``, the connector as
``labels.connect_connector``.

A record is the line plus its continuation lines: Java stack traces, or the rest of a message
that spans lines (``KafkaConfig values:`` dumps, log cleaner statistics), whose logger then
closes the last line. The bracketed prefix of
the message (``[KafkaServer id=1]``, ``[Partition orders.v1-3 broker=1]``,
``[GroupCoordinator id=1 topic=__consumer_offsets partition=12]``) names the component; the
broker ID, topic-partition and consumer group are kept as labels so broker trouble lines up
with the flows that use those topics.

Conditions that matter to message flow are named in ``labels.kafka_condition`` and, where
they are trouble, raised to at least ``warn`` with an error class even when the broker logged
them at INFO (an ISR shrink is an INFO line): ISR shrink / under-replicated / offline
partitions (resource), NotLeaderOrFollower (connectivity: clients must find the new leader),
disk full and log-dir failures (resource), SSL handshake failures (certificate), failed
authentication (auth), request timeouts (timeout); rebalances and broker start/stop are
recorded as info.
"""

from __future__ import annotations

import re

from collector import datasets
from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext
from collector.parsers._fields import head_match, java_tail, set_label
from collector.timeparse import civil_to_ms, to_ms

NAME = "kafka-broker"
DATASET = datasets.KAFKA_BROKER
_LEVELS = r"(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL) "
_BRACKETED = re.compile(rf"\[\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}[,.]\d{{3}}\] {_LEVELS}")
START = re.compile(rf"\[?\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}[,.]\d{{3}}\]? {_LEVELS}")
# Strimzi's layout starts as many Java logs do; it is told by its end: "(logger) [thread]".
_STRIMZI = re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}},\d{{3}} {_LEVELS}"
                      r".*\) \[[^\]]*\]\s*$")

_LINE = re.compile(
    r"\[?(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2}) (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})[,.]"
    r"(?P<ms>\d{3})\]? (?P<level>[A-Z]+) (?P<msg>.*?)(?: \((?P<logger>[\w.$]+)(?::\d+)?\))?"
    r"(?: \[(?P<thread>[^\]]*)\])?$")
# The logger closing a message that spans lines: " (kafka.log.LogCleaner)" after its last line.
# A space before the parenthesis, which stack frames ("at a.B.c(B.java:12)") never have.
_TRAILING_LOGGER = re.compile(r"\s\((?P<logger>[\w.$]+)(?::\d+)?\)(?: \[[^\]]*\])?\s*$")
_CONNECT_TASK = re.compile(r"\b\w*Task\{id=([^}\s]+)\}")
# ``%X{connector.context}`` (KIP-449, in connect-log4j.properties' pattern since Kafka 2.3):
# ``[<connector>|task-<n>] ``, ``[<connector>|worker] `` or, while the task commits its source
# offsets, ``[<connector>|task-<n>|offsets] `` (Kafka's LoggingContext) before the message.
_CONNECTOR_CONTEXT = re.compile(r"\[([^|\]\s]+)\|(?:task-(\d+)(?:\|offsets)?|worker)\] ")
_COMPONENT = re.compile(r"\[(?P<name>[A-Za-z][\w-]*)(?P<attrs>(?: [^\]]*)?)\]:? ?")
_ATTR = re.compile(r"(\w+)=([^,\s\]]+)")
_TOPIC_PARTITION = re.compile(r"\b(?:partition |Partition )?([A-Za-z0-9._-]+)-(\d+)\b")
_NAMED_PARTITION = re.compile(r"[A-Za-z0-9._-]+-\d+")
# "rebalance group sap-bridge", "Stabilized group sap-bridge": the coordinator naming a group;
# not the clients' "joined group with generation", "Discovered group coordinator".
_GROUP = re.compile(r"\bgroup (?!(?:with|in|coordinator|due|metadata|generation|membership)\b)"
                    r"([\w.-]+)")
# Kafka before 1.0: "Partition [orders,2] on broker 1: Shrinking ISR from 1,2,0 to 1,2".
_OLD_PARTITION = re.compile(r"Partition \[([A-Za-z0-9._-]+),(\d+)\] on broker (\d+)")

# (pattern, condition, error class or None for info-only, minimum level)
_CONDITIONS: tuple[tuple[re.Pattern, str, str | None, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), cond, cls, lvl) for p, cond, cls, lvl in (
        (r"Shrinking ISR from", "isr_shrink", "resource", "warn"),
        (r"under[- ]?replicated|UnderReplicated", "under_replicated", "resource", "warn"),
        (r"offline partition|OfflinePartition|no leader", "offline_partition", "resource", "error"),
        (r"NotLeaderOrFollower|NotLeaderForPartition|not the leader", "not_leader",
         "connectivity", "warn"),
        (r"No space left on device|disk full|Error while writing to checkpoint|"
         r"LogDirFailure|KafkaStorageException", "disk_failure", "resource", "error"),
        (r"SSL handshake failed|SslAuthenticationException|SSLHandshakeException",
         "ssl_handshake", "certificate", "warn"),
        (r"Failed authentication|SaslAuthenticationException|Authentication failed",
         "auth_failed", "auth", "warn"),
        (r"TimeoutException|timed out", "timeout", "timeout", "warn"),
        (r"Error in fetch to broker|Connection to (?:node )?-?\d+ (?:\([^)]*\) )?"
         r"(?:was disconnected|could not be established)|Broker may not be available",
         "connection_lost", "connectivity", "warn"),
        (r"Expanding ISR from", "isr_expand", None, "info"),
        (r"Preparing to rebalance|Stabilized group|rebalance", "rebalance", None, "info"),
        (r"^\[(?:KafkaServer|KafkaRaftServer)\b[^\]]*\]:? started\b|"
         r"Transition from STARTING to STARTED|Kafka Server started",
         "broker_started", None, "info"),
        # The broker's own server components, not a fetcher or coordinator thread stopping.
        (r"^\[(?:KafkaServer|BrokerServer|KafkaRaftServer|ControllerServer)\b[^\]]*\]:? .*"
         r"(?:shut down|shutting down|SHUTTING_DOWN)|Kafka ?Server .*shut(?:ting)? down",
         "broker_stopping", None, "info"),
        (r"Completed transition to Leader|became the leader|Elected as the new controller",
         "controller_change", None, "info"),
    )
)
_ORDER = ("debug", "info", "warn", "error", "fatal")


# The first characters of a line ``detect`` may claim (``[`` and a date, or a date; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '[0'


def detect(line: str) -> bool:
    if line[:1] == "[":
        return _BRACKETED.match(line) is not None
    return _STRIMZI.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    m, rest = head_match(record.text, _LINE, "a Kafka broker log line (expected '[yyyy-MM-dd "
                         "HH:mm:ss,SSS] LEVEL message (logger)' or 'yyyy-MM-dd HH:mm:ss,SSS "
                         "LEVEL message (logger) [thread]')")
    ts = civil_to_ms(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]),
                     int(m["s"]), int(m["ms"]), None, ctx.tz)
    stamp = (ts, False) if ts is not None else to_ms(None, ctx)
    message, logger = m["msg"], m["logger"]
    if rest and logger is None:
        rest, logger = _trailing_logger(rest)
    ev = Event(timestamp_ms=stamp[0], timestamp_estimated=stamp[1], dataset=DATASET,
               platform="kafka", level=normalize_level(m["level"]), message=message,
               service="kafka-broker", action="logged")
    set_label(ev, "logger", logger)
    set_label(ev, "thread", m["thread"])
    context = _CONNECTOR_CONTEXT.match(message)
    if context:  # the task as WorkerSinkTask{id=<connector>-<n>} names it
        set_label(ev, "connect_connector", context.group(1))
        if context.group(2) is not None:
            set_label(ev, "connect_task", f"{context.group(1)}-{context.group(2)}")
    if "Task{id=" in message:
        task = _CONNECT_TASK.search(message)
        if task:
            set_label(ev, "connect_task", task.group(1))
    component = _COMPONENT.match(message, context.end() if context else 0)
    if component:
        set_label(ev, "component", component["name"])
        attrs = dict(_ATTR.findall(component["attrs"]))
        broker = (attrs.get("id") or attrs.get("broker") or attrs.get("brokerId")
                  or attrs.get("nodeId") or attrs.get("replicaId"))
        if broker is None and component["attrs"].strip().isdigit():  # [GroupCoordinator 1001]
            broker = component["attrs"].strip()
        set_label(ev, "broker_id", broker)
        set_label(ev, "consumer_group", attrs.get("groupId"))  # [Consumer clientId=.., groupId=..]
        if attrs.get("topic") and attrs.get("partition"):
            set_label(ev, "topic_partition", f"{attrs['topic']}-{attrs['partition']}")
        elif _NAMED_PARTITION.fullmatch(attrs.get("partition", "")):  # [Log partition=t-0, ..]
            set_label(ev, "topic_partition", attrs["partition"])
        # A bare name (``[Partition orders.v1-3 broker=1]``), never an attribute's value: a
        # client ID ends in -<n> too (``clientId=consumer-orders-1``, ``connect-1``).
        tp = _TOPIC_PARTITION.search(_ATTR.sub("", component["attrs"]))
        if tp and "topic_partition" not in ev.labels and not tp.group(1).isdigit():
            set_label(ev, "topic_partition", f"{tp.group(1)}-{tp.group(2)}")
    old = _OLD_PARTITION.match(message)
    if old:
        set_label(ev, "topic_partition", f"{old.group(1)}-{old.group(2)}")
        set_label(ev, "broker_id", old.group(3))
    if "topic_partition" not in ev.labels:
        tp = re.search(r"partition ([A-Za-z0-9._-]+-\d+)", message)
        if tp:
            set_label(ev, "topic_partition", tp.group(1))
    group = _GROUP.search(message) if "consumer_group" not in ev.labels else None
    if group:
        set_label(ev, "consumer_group", group.group(1))
    java_tail(ev, message, rest)
    _condition(ev, f"{message}\n{rest[:2048]}")
    if ev.level in ("error", "fatal"):
        ev.action = None
    return [ev]


def _trailing_logger(rest: str) -> tuple[str, str | None]:
    """(continuation lines without the logger, the logger) of a message spanning lines; the
    lines unchanged and None when the last one does not end in ``(logger)``."""
    found = _TRAILING_LOGGER.search(rest)
    if found is None:
        return rest, None
    return rest[:found.start()], found.group("logger")


def _condition(ev: Event, text: str) -> None:
    for rx, condition, error_class, level in _CONDITIONS:
        if rx.search(text):
            set_label(ev, "kafka_condition", condition)
            if _ORDER.index(level) > _ORDER.index(ev.level):
                ev.level = level
            if error_class:
                ev.error_class = error_class
                if ev.level in ("error", "fatal"):
                    ev.outcome = "failure"
            return
