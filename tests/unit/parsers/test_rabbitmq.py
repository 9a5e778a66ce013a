import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import rabbitmq
from collector.parsers._base import ParseContext, ParseError

CTX = ParseContext(now_ms=1_709_900_000_000)
CORRELATION = "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"


def test_rabbitmq_4x_log(parse_data):
    events, dead = parse_data("rabbitmq", "rabbitmq/rabbit-4x.log")
    assert dead == []
    assert len(events) == 9  # two messages span two lines, each behind its own prefix
    accepted = events[2]
    assert accepted.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.123Z")
    assert accepted.labels["connection"] == "10.20.4.17:50123 -> 10.20.0.10:5672"
    assert accepted.labels["rabbitmq_condition"] == "connection_accepted"
    assert accepted.labels["erlang_pid"] == "<0.1234.0>"
    assert events[3].labels["user"] == "order-api" and events[3].labels["vhost"] == "/"
    login = events[4]
    assert (login.level, login.outcome, login.error_class) == ("error", "failure", "auth")
    assert login.message.endswith("state: starting):\nPLAIN login refused: user 'sap-bridge' "
                                  "- invalid credentials")
    closed = events[5]
    assert (closed.level, closed.error_class) == ("warn", "connectivity")
    channel = events[6]
    assert channel.error_class == "validation" and "precondition_failed" in channel.error_message
    assert "inequivalent arg 'x-queue-type'" in channel.message  # indented continuation kept
    alarm, cleared = events[7], events[8]
    assert (alarm.level, alarm.error_class, alarm.host) == ("error", "resource", "mq-01")
    assert "Publishers will be blocked" in alarm.message
    assert cleared.level == "info" and cleared.error_class is None


def test_legacy_report_blocks_and_3_8_lines(parse_data):
    events, dead = parse_data("rabbitmq", "rabbitmq/rabbit-legacy.log")
    assert dead == []
    accepted, closed, heartbeat, disk, alarm = events
    assert accepted.timestamp_ms == iso_to_ms("2019-03-01T10:15:32Z")
    assert closed.level == "warn" and closed.error_class == "connectivity"
    assert closed.error_message == "client unexpectedly closed TCP connection"
    assert (heartbeat.level, heartbeat.error_class) == ("error", "timeout")
    assert disk.error_class == "resource" and disk.timestamp_ms == iso_to_ms(
        "2019-03-01T10:17:00.123Z")
    assert alarm.host == "mq-legacy"


def test_message_traces(parse_data):
    events, dead = parse_data("rabbitmq", "rabbitmq/trace.jsonl")
    assert dead == []
    published, delivered, unroutable, firehose = events
    assert published.dataset == "rabbitmq.trace"
    assert published.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.150Z")
    assert published.ids == ["amqp.msg:msg-00042", CORRELATION, "order:4711"]
    assert (published.action, published.service, published.host) == (
        "published", "order-api", "mq-01")
    assert published.labels["routed_queues"] == "sap-bridge.orders,audit.orders"
    assert (delivered.action, delivered.labels["queue"]) == ("delivered", "sap-bridge.orders")
    assert delivered.ids[:2] == published.ids[:2]
    assert (unroutable.outcome, unroutable.error_message) == (
        "failure", "unroutable: the message reached no queue")
    assert (firehose.action, firehose.labels["queue"], firehose.host) == (
        "delivered", "audit.orders", "mq-02")
    assert firehose.timestamp_ms == 1709287532000  # properties.timestamp (epoch seconds)
    assert firehose.ids == ["amqp.msg:msg-00042", CORRELATION]


def test_malformed(parse_data):
    events, dead = parse_data("rabbitmq", "rabbitmq/malformed.log")
    assert [d.line for d in dead] == [1, 4, 5]
    assert "neither a rabbitmq_tracing entry" in dead[2].reason
    (bad_month,) = events
    assert bad_month.timestamp_estimated and bad_month.message == "body of a block with a bad month"


def test_detect():
    assert rabbitmq.detect("2024-03-01 10:15:32.123456+00:00 [info] <0.1.0> x")
    assert rabbitmq.detect("=INFO REPORT==== 1-Mar-2019::10:15:32 ===")
    assert rabbitmq.detect('{"type":"published","routed_queues":[]}')
    assert not rabbitmq.detect('{"level":"info"}')
    with pytest.raises(ParseError):
        rabbitmq.parse(Record(text="[info] hello"), CTX)


def test_the_console_banner_is_its_own_event_not_the_previous_records_trouble():
    """RabbitMQ 3.9 printing to the console (a Homebrew install): the banner's lines carry no
    timestamp, and its "TLS Library" and log paths must not make the record before it a TLS
    error on host "localhost.log"."""
    text = ("2022-02-28 12:54:27.611087-05:00 [noti] <0.227.0> Logging: switching to "
            "configured handler(s); following messages may not be visible in this log output\n"
            "\n"
            "  ##  ##      RabbitMQ 3.9.13\n"
            "  ##  ##\n"
            "  ##########  Copyright (c) 2007-2022 VMware, Inc. or its affiliates.\n"
            "\n"
            "  TLS Library: OpenSSL - OpenSSL 1.1.1m  14 Dec 2021\n"
            "  Logs: /opt/homebrew/var/log/rabbitmq/rabbit@localhost.log\n")
    record, banner = rabbitmq.parse(Record(text=text, source="rabbit.log"), ParseContext())
    assert record.message.startswith("Logging: switching") and "##" not in record.message
    assert (record.level, record.host, record.error_class) == ("info", None, None)
    assert "rabbitmq_condition" not in record.labels
    assert (banner.action, banner.labels["rabbitmq_version"]) == ("started", "3.9.13")
    assert banner.timestamp_ms == record.timestamp_ms and banner.error_class is None


def test_an_mqtt_login_failure_is_an_auth_failure():
    text = ("2019-01-03 08:41:29.456 [error] <0.769.0> MQTT login failed: no credentials "
            "provided~n")
    (ev,) = rabbitmq.parse(Record(text=text, source="rabbit.log"), ParseContext())
    assert (ev.labels["rabbitmq_condition"], ev.error_class) == ("auth_failed", "auth")


def test_json_formatter_records(parse_data):
    """``log.file.formatter = json`` (RabbitMQ 3.9+), lines from elastic/beats issue 32255 and
    rabbitmq/rabbitmq-server issue 13143: they went to the generic JSON parser, without
    the connection, vhost, user or Erlang pid."""
    events, dead = parse_data("auto", "rabbitmq/json-formatter.jsonl")
    assert dead == []
    auth, started = events
    assert auth.dataset == "rabbitmq.log" and auth.platform == "rabbitmq"
    assert auth.timestamp_ms == iso_to_ms("2022-07-07T15:24:50.772Z")  # +03:00
    assert auth.labels["connection"] == "10.10.10.10:36244 -> 172.24.18.71:5672"
    assert (auth.labels["vhost"], auth.labels["user"]) == ("db_name", "user_name")
    assert auth.labels["erlang_pid"] == "<0.14823.608>"
    assert auth.labels["rabbitmq_domain"] == "rabbitmq.connection"
    assert started.timestamp_ms == iso_to_ms("2024-10-04T07:38:29.709Z")  # -04:00
    assert started.message == "Time to start RabbitMQ: 2294 ms" and started.level == "info"
    assert rabbitmq.detect('{"time":1728027509709578,"level":"info","msg":"x","pid":"<0.9.0>"}')


@pytest.mark.parametrize("fmt", ["auto", "rabbitmq"])
def test_a_multi_line_message_that_repeats_its_prefix_on_every_line_is_one_event(parse_data,
                                                                                  fmt):
    """RabbitMQ 3.9+ writes each line of a multi-line message behind the message's own
    prefix (rabbitmq/rabbitmq-server issue 10112, 3.12). Each line was an event of its own:
    the reason ("client unexpectedly closed TCP connection") without its connection, and
    an error counted twice."""
    events, dead = parse_data(fmt, "rabbitmq/multiline-repeated-prefix.log")
    assert dead == []
    assert [e.level for e in events] == ["error", "warn", "info", "info"]
    failed, lost = events[0], events[1]
    assert failed.message.endswith("5671):\n{writer,send_failed,timeout}")
    assert lost.message.endswith("'pronghorn'):\nclient unexpectedly closed TCP connection")
    assert lost.labels["connection"] == "10.135.45.51:53066 -> 10.61.253.65:5671"
    assert lost.labels["rabbitmq_condition"] == "connection_lost"
    assert lost.timestamp_ms == iso_to_ms("2023-12-06T16:30:17.035Z")  # -08:00
    # The same process logging again in another microsecond starts a record of its own.
    line = "2023-12-06 08:30:17.035437-08:00 [info] <0.9.0> a"
    assert rabbitmq.continues([line], "2023-12-06 08:30:17.035437-08:00 [info] <0.9.0> b")
    assert not rabbitmq.continues([line], "2023-12-06 08:30:17.035438-08:00 [info] <0.9.0> b")
    assert not rabbitmq.continues([line], "2023-12-06 08:30:17.035437-08:00 [info] <0.8.0> b")


@pytest.mark.parametrize("fmt", ["auto", "rabbitmq"])
def test_json_formatter_on_the_console_with_the_startup_banner(parse_data, fmt):
    """``log.console.formatter = json`` in a container: the banner rabbit.erl prints with
    io:format (layout of 3.13/4.x) ends in "Starting broker..." without a line break, so the
    first JSON record continues that line (rabbitmq-server issue 17563), and " completed with
    3 plugins." follows the "Server startup complete" record on a line of its own. The record
    before the banner, the banner, the glued record and the startup record were lost."""
    events, dead = parse_data(fmt, "rabbitmq/console-json-formatter.log")
    assert dead == []
    assert len(events) == 8
    before, banner, glued, started = events[3:7]
    assert before.message == "ra: starting system quorum_queues"
    assert banner.labels["rabbitmq_version"] == "3.13.7" and banner.action == "started"
    assert banner.message.endswith("Starting broker...") and "{" not in banner.message
    assert glued.timestamp_ms == iso_to_ms("2024-10-04T07:38:28.290Z")
    assert glued.message.startswith("node           : rabbit@mq-01") and glued.host == "mq-01"
    assert glued.labels["erlang_pid"] == "<0.254.0>"
    assert started.message.endswith("* rabbitmq_management_agent\ncompleted with 3 plugins.")
    assert started.labels["rabbitmq_condition"] == "node_started"


def test_a_plain_text_record_glued_to_the_banner_is_read_too():
    """The plain-text console (3.13 in a container, as the bottlerocket-core-kit smoke test
    printed it): the first record's prefix continues "Starting broker..."."""
    text = ("2026-07-09 01:04:10.001233+00:00 [info] <0.216.0> ra: starting system coordination\n"
            "\n"
            "  ##  ##      RabbitMQ 4.0.9\n"
            "  ##  ##\n"
            "\n"
            "  Logs: <stdout>\n"
            "\n"
            "  Starting broker...2026-07-09 01:04:11.583015+00:00 [info] <0.216.0> "
            "node           : rabbit@soci-smoke-test")
    before, banner, glued = rabbitmq.parse(Record(text=text, source="rabbit.log"), CTX)
    assert before.message == "ra: starting system coordination"
    assert banner.labels["rabbitmq_version"] == "4.0.9"
    assert glued.timestamp_ms == iso_to_ms("2026-07-09T01:04:11.583Z")
    assert glued.host == "soci-smoke-test"


def test_a_banner_ending_without_a_record_keeps_its_last_line():
    """Before 3.9 the console saw only the banner: "Starting broker... completed with 6
    plugins." is banner text, not a record."""
    text = "  ##  ##      RabbitMQ 3.8.9\n\n  Starting broker... completed with 6 plugins."
    (banner,) = rabbitmq.parse(Record(text=text, source="rabbit.log"), CTX)
    assert banner.message.endswith("completed with 6 plugins.") and banner.timestamp_estimated


@pytest.mark.parametrize("fmt", ["rabbitmq", "auto"])
def test_four_letter_levels_of_39(parse_data, fmt):
    """3.9+ containers print ``[erro]``, ``[noti]``, ``[dbug]``: read as unknown words, the
    broker's errors were stored as info and no rule on error level saw them."""
    events, dead = parse_data(fmt, "rabbitmq/rabbit-39-four-letter-levels.log")
    assert dead == []
    assert [e.level for e in events] == ["info", "error", "error", "info", "warn", "debug"]
    assert events[1].message.startswith("Discarding message")
    assert events[2].outcome == "failure"
    assert "client unexpectedly closed TCP connection" in events[4].message
    assert events[5].message.startswith("Supervisor {local,rabbit_channel_sup_sup}: child")


# Every word RabbitMQ's rabbit_logger_fmt_helpers.erl writes: level_4letter_lc_name/1 (the
# fallback without level_format) and level_3letter_lc_name/1 (lc3), as ours.
_RABBIT_LEVEL_WORDS = {
    "dbug": "debug", "info": "info", "noti": "info", "warn": "warn", "erro": "error",
    "crit": "fatal", "alrt": "fatal", "emgc": "fatal",
    "dbg": "debug", "inf": "info", "ntc": "info", "wrn": "warn", "err": "error",
    "crt": "fatal", "alt": "fatal", "emg": "fatal",
}


@pytest.mark.parametrize(("word", "level"), sorted(_RABBIT_LEVEL_WORDS.items()))
def test_rabbitmq_level_words_of_lc3_and_lc4(word, level):
    """``[dbug]``, ``[alrt]``, ``[emgc]``, ``[crt]``, ``[alt]``, ``[emg]``, ``[ntc]`` came out
    info: the table had ``debu``/``aler``/``emer``, which RabbitMQ never writes."""
    line = f"2022-01-31 18:01:24.500000+00:00 [{word}] <0.900.0> Running boot step pre_boot defined by app rabbit"
    (ev,) = rabbitmq.parse(Record(text=line, source="rabbit.log"), CTX)
    assert ev.level == level


@pytest.mark.parametrize("fmt", ["auto", "rabbitmq"])
def test_timestamped_lines_after_a_json_record_are_not_glued_onto_it(parse_data, fmt):
    """h-plat left open: a timestamped line that follows a trace (or JSON formatter) record
    in the same source went onto that record as a continuation line, its event lost without
    a word. Now each such line starts a record: under ``auto`` the application's own event,
    under ``rabbitmq`` a dead letter naming its line. Untimestamped console text after a
    JSON record still joins it."""
    events, dead = parse_data(fmt, "rabbitmq/pod-trace-and-app.log")
    rabbit = [ev for ev in events if ev.platform == "rabbitmq"]
    assert [ev.dataset for ev in rabbit] == ["rabbitmq.log", "rabbitmq.trace", "rabbitmq.trace"]
    started, published, received = rabbit
    assert started.message.endswith("\ncompleted with 3 plugins.")
    assert "\n" not in published.message and "\n" not in received.message
    if fmt == "auto":
        assert dead == []
        apps = [ev for ev in events if ev.platform != "rabbitmq"]
        assert [ev.level for ev in apps] == ["info", "error", "warn"]
        assert all("order 4790" in ev.message and "\n" not in ev.message for ev in apps)
    else:
        assert [d.line for d in dead] == [4, 7]  # the lines 4-5 of one app record, 7
        assert all(d.reason.startswith("parse_error: rabbitmq: not a RabbitMQ") for d in dead)
