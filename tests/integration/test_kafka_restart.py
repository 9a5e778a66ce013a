"""`midwatch run` on a Kafka input, restarted after kill -9 and stopped with SIGTERM, against
the real broker: the restarted process reads at once (static membership: it takes over its
own member instead of waiting out the dead one's session) and SIGTERM ends the run in under
5 s. The figures are printed for the report (pytest -s)."""

from __future__ import annotations

import time

import pytest
from faults_support import Collector, count_events, kafka_config, message_lines, wait_for

pytestmark = [pytest.mark.timeout(180)]

N = 60


def produce(kafka_producer, topic: str, start: int, n: int) -> None:
    for i in range(start, start + n):
        kafka_producer.send(topic, value=message_lines(i)[0])
    kafka_producer.flush(timeout=15)


def test_restart_after_kill9_reads_at_once_and_sigterm_is_quick(
        tmp_path, es, es_url, es_index_prefix, kafka_bootstrap, kafka_producer, kafka_topic):
    prefix = f"{es_index_prefix}rst"
    config, port = kafka_config(tmp_path, es_url, prefix, kafka_bootstrap, kafka_topic)
    produce(kafka_producer, kafka_topic, 0, N)
    first = Collector(config, port, tmp_path / "first.log")
    try:
        cold = wait_for(lambda: count_events(es, prefix) == N, 60, "the first records",
                        first.output)
        first.kill9()
    finally:
        first.close()
    produce(kafka_producer, kafka_topic, N, N)
    second = Collector(config, port, tmp_path / "second.log")
    try:
        warm = wait_for(lambda: count_events(es, prefix) == 2 * N, 60,
                        "the records produced after the kill", second.output)
        started = time.monotonic()
        rc = second.stop(timeout_s=30)
        stop_s = time.monotonic() - started
    finally:
        second.close()
    print(f"\nkafka restart: first start to first {N} stored {cold:.1f}s; after kill -9, "
          f"restart to next {N} stored {warm:.1f}s; SIGTERM to exit {stop_s:.1f}s")
    assert rc == 0
    assert stop_s < 5, f"SIGTERM took {stop_s:.1f}s"
    # A restart costs a process start (as the first run did), not the dead member's session.
    assert warm < cold + 8, f"restart took {warm:.1f}s, a cold start {cold:.1f}s"


def test_sigterm_while_waiting_to_rejoin_the_group_is_quick(
        tmp_path, es, es_url, es_index_prefix, kafka_bootstrap, kafka_producer, kafka_topic):
    """A dynamic member (group_instance_id: none) restarted after kill -9 waits for the
    broker to give up on its dead predecessor; SIGTERM meanwhile took 30 s (the close waited
    out the join), now the close is capped."""
    prefix = f"{es_index_prefix}join"
    config, port = kafka_config(tmp_path, es_url, prefix, kafka_bootstrap, kafka_topic)
    config.write_text(config.read_text().replace(
        "max_poll_records: 500", "max_poll_records: 500, group_instance_id: none"))
    produce(kafka_producer, kafka_topic, 0, N)
    first = Collector(config, port, tmp_path / "first.log")
    try:
        wait_for(lambda: count_events(es, prefix) == N, 60, "the first records", first.output)
        first.kill9()
    finally:
        first.close()
    second = Collector(config, port, tmp_path / "second.log")
    try:
        # Up and joining: its API answers while the group still waits for the dead member.
        wait_for(lambda: bool(second.metrics()), 30, "the restarted collector's API",
                 second.output)
        started = time.monotonic()
        rc = second.stop(timeout_s=60)
        stop_s = time.monotonic() - started
    finally:
        second.close()
    print(f"\nkafka: SIGTERM while rejoining (dynamic member) to exit {stop_s:.1f}s")
    assert rc == 0
    assert stop_s < 5, f"SIGTERM took {stop_s:.1f}s"
