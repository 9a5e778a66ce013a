"""Two `midwatch run` processes in one consumer group on a four-partition topic, each message's
three events spread over different partitions, so over both processes: every event once, and
every message one complete three-hop trace.

The first and the last event of a message share no ID: when they land on different processes,
each creates its own trace, and the middle event merges the two, across processes. That holds
through optimistic concurrency on the trace documents (see
collector/correlation/correlator.py: a trace's key is one of its IDs, fetched in real time by
key; a write carries if_seq_no/if_primary_term; a lost race is rebuilt on the fresh copy and
written again; a merged-away trace is deleted with its version).
"""

from __future__ import annotations

import pytest
from faults_support import (
    Collector,
    assert_exactly_once,
    assert_traces,
    count_events,
    kafka_config,
    message_lines,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MESSAGES = 3000
PARTITIONS = 4


def test_two_processes_one_group_correlate_across_partitions(tmp_path, es, es_url,
                                                             es_index_prefix, kafka_bootstrap,
                                                             kafka_admin, kafka_producer,
                                                             unique_name):
    from kafka.admin import NewTopic

    topic = f"{unique_name}-scale"
    kafka_admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    prefix = f"{es_index_prefix}scale"
    procs: list[Collector] = []
    try:
        for k in range(2):
            work = tmp_path / f"p{k}"
            work.mkdir()
            config, port = kafka_config(work, es_url, prefix, kafka_bootstrap, topic,
                                        max_poll_records=100,
                                        batch="{max_events: 200, flush_interval: 100ms}")
            procs.append(Collector(config, port, work / "collector.log"))

        def output() -> str:
            return "\n".join(p.output() for p in procs)

        def assigned() -> list[float]:
            return [p.metrics().get('midwatch_input_kafka_assigned_partitions{input="k"}', 0)
                    for p in procs]

        wait_for(lambda: sorted(assigned()) == [2, 2], 60, "the group to split the partitions",
                 lambda: f"{assigned()}\n{output()}")
        n = 0
        for i in range(MESSAGES):
            for line in message_lines(i):
                kafka_producer.send(topic, value=line, partition=n % PARTITIONS)
                n += 1
        kafka_producer.flush(timeout=30)
        wait_for(lambda: count_events(es, prefix) >= 3 * MESSAGES, 150, "every event", output)

        def traces_wrong() -> str:
            try:
                assert_traces(es, prefix, MESSAGES)
            except AssertionError as exc:
                return str(exc)
            return ""

        wait_for(lambda: not traces_wrong(), 30, "the last trace writes",
                 lambda: f"{traces_wrong()}\n{output()}")
        indexed = [p.metrics().get("midwatch_events_indexed_total", 0) for p in procs]
        for p in procs:
            assert p.stop() == 0, p.output()
    finally:
        for p in procs:
            p.close()
        kafka_admin.delete_topics([topic])
    assert_exactly_once(es, prefix, 3 * MESSAGES)
    assert_traces(es, prefix, MESSAGES)
    assert all(x > 0 for x in indexed), f"both processes took partitions: {indexed}"
