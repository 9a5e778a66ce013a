"""Smoke tests: each real service accepts data and gives it back.

These fail first when deploy/local/services.sh is broken, so that a failure elsewhere in the
integration suite can be read as a midwatch bug rather than a missing service.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta


def test_elasticsearch_index_and_search(es, es_index_prefix):
    index = f"{es_index_prefix}events"
    docs = [
        {"@timestamp": "2026-01-01T12:00:00Z", "event": {"outcome": "success"}, "flow": "orders"},
        {"@timestamp": "2026-01-01T12:00:01Z", "event": {"outcome": "failure"}, "flow": "orders"},
    ]
    for i, doc in enumerate(docs):
        es.index(index=index, id=f"doc-{i}", document=doc)
    es.indices.refresh(index=index)

    got = es.get(index=index, id="doc-1")
    assert got["_source"] == docs[1]

    res = es.search(
        index=f"{es_index_prefix}*",
        query={"bool": {"filter": [{"term": {"event.outcome.keyword": "failure"}}]}},
        aggs={"flows": {"terms": {"field": "flow.keyword"}}},
    )
    assert res["hits"]["total"]["value"] == 1
    assert res["hits"]["hits"][0]["_id"] == "doc-1"
    assert res["aggregations"]["flows"]["buckets"] == [{"key": "orders", "doc_count": 1}]


def test_kafka_produce_and_consume(kafka_bootstrap, kafka_producer, kafka_topic):
    from kafka import KafkaConsumer

    sent = [(f"order-{i}".encode(), json.dumps({"n": i}).encode()) for i in range(3)]
    for key, value in sent:
        kafka_producer.send(kafka_topic, key=key, value=value, headers=[("traceparent", b"00-t")])
    kafka_producer.flush(timeout=15)

    consumer = KafkaConsumer(
        kafka_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{kafka_topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(records)
    finally:
        consumer.close()

    assert [(r.key, r.value) for r in received] == sent
    assert all(r.headers == [("traceparent", b"00-t")] for r in received)


def _am(url: str, method: str = "GET", body: object | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def test_alertmanager_post_and_get_alert(alertmanager_url):
    alertname = f"MidwatchSmoke{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": alertname, "flow": "orders", "severity": "page"},
        "annotations": {"summary": "smoke test", "runbook_url": "https://example.invalid/rb"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
        "generatorURL": "http://127.0.0.1/midwatch",
    }
    _am(f"{alertmanager_url}/api/v2/alerts", "POST", [alert])

    query = urllib.parse.quote(f'alertname="{alertname}"')
    found = []
    deadline = time.monotonic() + 15
    while not found and time.monotonic() < deadline:
        found = _am(f"{alertmanager_url}/api/v2/alerts?filter={query}")
        if not found:
            time.sleep(0.2)
    try:
        assert len(found) == 1
        assert found[0]["labels"]["flow"] == "orders"
        assert found[0]["annotations"]["summary"] == "smoke test"
        assert found[0]["status"]["state"] == "active"
    finally:
        alert["endsAt"] = datetime.now(UTC).isoformat()
        _am(f"{alertmanager_url}/api/v2/alerts", "POST", [alert])
