"""Journeys exported over OTLP/HTTP to a real Jaeger (v1.75.0, started by services.sh) and read
back through Jaeger's query API: one OTel trace per midwatch trace, a root span and a span per
hop in order with their attributes; later hops join the same trace; a dead peer never blocks."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import orjson
import pytest
import urllib3
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from collector.config import load_config
from collector.exporters import spans
from collector.exporters.otlp import OtlpExporter, OtlpSettings
from collector.metrics import Registry
from collector.store.base import TraceQuery
from collector.trace import Trace
from dashboards.boards.traces import build
from dashboards.settings import BoardSettings
from dashboards.tracing import TracingSource, interpolate, jaeger_search_params
from midwatch.demo.run import run_demo
from midwatch.demo.scenario import build as build_scenario
from midwatch.demo.settle import wait_until_settled

JAEGER_URL = os.environ.get("MIDWATCH_JAEGER_URL", "http://127.0.0.1:16686")
JAEGER_OTLP = os.environ.get("MIDWATCH_JAEGER_OTLP", "http://127.0.0.1:14318")
http = urllib3.PoolManager(timeout=urllib3.Timeout(total=10))


def _get(path: str) -> dict:
    resp = http.request("GET", JAEGER_URL + path)
    return {"status": resp.status, **(orjson.loads(resp.data) if resp.data else {})}


@pytest.fixture(scope="module")
def jaeger() -> str:
    try:
        _get("/api/services")
    except urllib3.exceptions.HTTPError as exc:
        pytest.fail(f"Jaeger is not reachable at {JAEGER_URL}: {exc}; start it with "
                    "`bash deploy/local/services.sh up jaeger` and export its addresses with "
                    '`eval "$(bash deploy/local/services.sh env)"`', pytrace=False)
    return JAEGER_OTLP


@pytest.fixture(scope="module")
def journeys(tmp_path_factory) -> list[Trace]:
    """The demo's final-state journeys, their keys suffixed with this run's tag: the demo's
    EDI keys are the same in every run, and a rerun against the same Jaeger must read back
    only what it sent."""
    workdir = tmp_path_factory.mktemp("export-demo")
    run_demo(workdir, seed=7, messages=40)
    store = load_config(workdir / "midwatch.yaml").open_store()
    try:
        found = store.search_traces(TraceQuery(limit=1000))
    finally:
        store.close()
    run = f"#{uuid.uuid4().hex[:8]}"
    final = [dataclasses.replace(t, trace_key=t.trace_key + run)
             for t in found if t.status in spans.FINAL_STATUSES]
    assert {t.status for t in final} >= {"completed", "failed", "stuck"}
    return final


def _exporter(endpoint: str, **kw) -> OtlpExporter:
    exporter = OtlpExporter(OtlpSettings(endpoint=endpoint + "/v1/traces", **kw), Registry())
    exporter.start()
    return exporter


def _jaeger_trace(key: str, spans_wanted: int) -> dict:
    """Poll until Jaeger holds the trace with that many spans (its batch processor and
    storage are asynchronous). A root re-sent because its IDs or status changed is one span
    stored twice (one span ID): counted once."""
    tid = spans.trace_id(key).hex()
    deadline = time.monotonic() + 20
    while True:
        doc = _get(f"/api/traces/{tid}")
        data = doc.get("data") or []
        if data and len({sp["spanID"] for sp in data[0]["spans"]}) >= spans_wanted \
                or time.monotonic() > deadline:
            assert data, f"Jaeger has no trace {tid} for {key}: {doc}"
            return data[0]
        time.sleep(0.2)


def _tags(span: dict) -> dict:
    return {t["key"]: t["value"] for t in span["tags"]}


def test_demo_journeys_read_back_from_jaeger(jaeger, journeys):
    exporter = _exporter(jaeger)
    exporter.offer(journeys)
    assert exporter.flush(30)
    exporter.stop()
    sent = exporter.spans.value("otlp", "sent")
    assert sent == sum(1 + len(t.hops) for t in journeys)
    assert exporter.spans.value("otlp", "failed") == exporter.spans.value("otlp", "dropped") == 0

    checked = {}
    for t in journeys:
        if t.status in checked or not t.hops:
            continue
        doc = _jaeger_trace(t.trace_key, 1 + len(t.hops))
        assert len(doc["spans"]) == 1 + len(t.hops)
        by_id = {s["spanID"]: s for s in doc["spans"]}
        root = by_id[spans.root_span_id(t.trace_key).hex()]
        tags = _tags(root)
        assert tags["midwatch.trace_key"] == t.trace_key
        assert tags["midwatch.flow"] == t.flow and tags["midwatch.status"] == t.status
        assert orjson.loads(tags["midwatch.ids"]) == t.ids  # Jaeger shows arrays as JSON
        assert tags.get("error", False) is (t.status in ("failed", "stuck", "rejected"))
        hops = sorted((s for s in doc["spans"] if s is not root),
                      key=lambda s: (s["startTime"] + s["duration"], s["startTime"]))
        assert [s["operationName"] for s in hops] == [h.stage or h.action or h.platform
                                                      for h in t.hops]
        assert [_tags(s)["midwatch.outcome"] for s in hops] == [h.outcome for h in t.hops]
        assert [(s["startTime"] + s["duration"]) // 1000 for s in hops] == \
            [h.timestamp_ms for h in t.hops]
        assert all(s["references"][0]["spanID"] == root["spanID"] for s in hops)
        services = {doc["processes"][s["processID"]]["serviceName"] for s in hops}
        assert services == {h.service or h.platform for h in t.hops}
        checked[t.status] = t.trace_key
    assert set(checked) >= {"completed", "failed", "stuck"}
    listed = set(_get("/api/services")["data"])
    assert {t.flow for t in journeys} <= listed


def test_later_hops_join_the_same_trace_without_duplicates(jaeger, journeys):
    t = max(journeys, key=lambda t: len(t.hops))
    assert len(t.hops) >= 3
    early = dataclasses.replace(t, trace_key=t.trace_key + "#later", hops=t.hops[:-1],
                                status="stuck")
    later = dataclasses.replace(early, hops=list(t.hops), status=t.status)
    exporter = _exporter(jaeger)
    exporter.offer([early])
    assert exporter.flush(30)
    exporter.offer([later])
    exporter.offer([later])  # nothing new: nothing sent
    assert exporter.flush(30)
    exporter.stop()
    # root + hops, then the last hop and the root again (its status changed)
    assert exporter.spans.value("otlp", "sent") == (1 + len(t.hops) - 1) + 2
    doc = _jaeger_trace(later.trace_key, len(t.hops) + 1)
    hop_ids = [s["spanID"] for s in doc["spans"]
               if s["spanID"] != spans.root_span_id(later.trace_key).hex()]
    assert len(hop_ids) == len(set(hop_ids)) == len(t.hops)


def test_a_dead_peer_never_blocks_and_the_loss_is_counted(journeys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter = _exporter(f"http://127.0.0.1:{port}", queue_traces=2, max_attempts=2,
                         backoff_ms=50, timeout_ms=500)
    started = time.monotonic()
    for t in journeys[:20]:
        exporter.offer([t])
    assert time.monotonic() - started < 0.5
    assert exporter.flush(30)
    exporter.stop()
    dropped = exporter.spans.value("otlp", "dropped")
    failed = exporter.spans.value("otlp", "failed")
    assert dropped > 0 and failed > 0
    assert dropped + failed == sum(1 + len(t.hops) for t in journeys[:20])
    assert exporter.spans.value("otlp", "sent") == 0


def test_midwatch_run_exports_the_journeys_it_correlates(jaeger, tmp_path):
    """``midwatch run`` with ``exporters: otlp:`` over the demo's log files: the failed
    journeys it writes to its store reach Jaeger, hop by hop."""
    demo = tmp_path / "demo"
    # A fresh seed (journeys unseen by the shared Jaeger) whose 40 orders include a mapping
    # failure: 6% of orders fail, so about one seed in twelve had none and failed the test.
    seed = next(s for s in itertools.count(uuid.uuid4().int % 100_000)
                if "mapping_failed" in build_scenario(s, 40, 0).orders.values())
    run_demo(demo, seed=seed, messages=40)
    config = yaml.safe_load((demo / "midwatch.yaml").read_text())
    config["store"] = {"kind": "sqlite", "sqlite": {"path": str(tmp_path / "run.sqlite")}}
    config["collector"] = {"checkpoint_dir": str(tmp_path / "ckpt"),
                           "state_dir": str(tmp_path / "state")}
    config.pop("rules", None)
    config["exporters"] = {"otlp": {"endpoint": jaeger}}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen([sys.executable, "-m", "midwatch", "run", "-c", str(path),
                             "--no-api"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = load_config(path).open_store()
    try:
        inputs = [i["name"] for i in config["inputs"] if i["type"] == "file"]
        assert wait_until_settled(proc, store, tmp_path / "ckpt", inputs, demo / "logs", 240), \
            f"the collector did not read every file (exit {proc.poll()})"
    finally:
        proc.send_signal(signal.SIGTERM)  # stopping flushes the exporter's queue
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    try:
        failed = [t for t in store.search_traces(TraceQuery(status="failed", limit=20)) if t.hops]
    finally:
        store.close()
    assert failed, "midwatch run stored no failed journey"
    for t in failed[:3]:
        doc = _jaeger_trace(t.trace_key, 1 + len(t.hops))
        # a journey whose IDs grew after its first export has its root twice (one span ID)
        unique = {s["spanID"]: s for s in doc["spans"]}.values()
        names = sorted(s["operationName"] for s in unique)
        assert names == sorted([f"{t.flow} message",
                                *(h.stage or h.action or h.platform for h in t.hops)])


def test_the_traces_boards_explore_link_finds_the_journey_in_jaeger(jaeger, journeys):
    """The Traces board's "Open in Grafana Explore" link, replayed as Grafana's Jaeger
    datasource sends it (``GET /api/traces`` with service and tags) for a board row, finds
    exactly that row's journey: the root span is under the flow and carries the key."""
    settings = BoardSettings(tracing=TracingSource("jaeger", JAEGER_URL))
    board = json.loads(JSONEncoder().encode(build(settings).build()))
    links = [link for p in board["panels"]
             for link in p.get("fieldConfig", {}).get("defaults", {}).get("links") or []
             if "internal" in link]
    assert len(links) == 1 and links[0]["internal"]["datasourceUid"] == "midwatch-tracing"
    query = links[0]["internal"]["query"]

    picked = [t for t in journeys if t.hops][:3]
    exporter = _exporter(jaeger)
    keyed = [dataclasses.replace(t, trace_key=t.trace_key + "#explore") for t in picked]
    exporter.offer(keyed)
    assert exporter.flush(30)
    exporter.stop()
    for t in keyed:
        _jaeger_trace(t.trace_key, 1 + len(t.hops))
        params = jaeger_search_params(interpolate(query, {"flow": t.flow,
                                                          "trace_key": t.trace_key}))
        params |= {"start": str((t.started_ms - 3_600_000) * 1000),
                   "end": str((t.last_seen_ms + 3_600_000) * 1000), "limit": "20"}
        resp = http.request("GET", JAEGER_URL + "/api/traces", fields=params)
        found = [d["traceID"] for d in orjson.loads(resp.data)["data"]]
        assert found == [spans.trace_id(t.trace_key).hex()], (params, found)


def test_the_root_span_shows_the_journeys_latest_ids_and_counts(jaeger, journeys):
    """A journey exported early and changed later without a status change (a failed order
    whose retry fails again and whose dead-letter event brings a new message ID: failed ->
    failed, one more hop, one more ID) must show its latest IDs and hop count in Jaeger. The
    root was re-sent only on a status change, so Jaeger kept the first root's tags."""
    t = max(journeys, key=lambda t: len(t.hops))
    assert len(t.hops) >= 3
    key = t.trace_key + "#reroot"
    before, last = t.hops[-2].timestamp_ms, t.hops[-1].timestamp_ms
    assert before < last
    early = dataclasses.replace(t, trace_key=key, hops=t.hops[:-1], hop_count=len(t.hops) - 1,
                                ids=t.ids[:1], status="failed", last_seen_ms=before,
                                ended_ms=before)
    later = dataclasses.replace(early, hops=list(t.hops), hop_count=len(t.hops),
                                ids=[*t.ids[:1], "message:dlq-" + key], last_seen_ms=last,
                                ended_ms=last)
    exporter = _exporter(jaeger)
    exporter.offer([early])
    assert exporter.flush(30)
    exporter.offer([later])
    assert exporter.flush(30)
    exporter.offer([later])  # nothing changed: nothing sent
    assert exporter.flush(30)
    exporter.stop()
    # root + hops, then the new hop and the root again (its IDs and hop count changed)
    assert exporter.spans.value("otlp", "sent") == (1 + len(t.hops) - 1) + 2
    root_id = spans.root_span_id(key).hex()
    deadline = time.monotonic() + 20
    while True:  # Jaeger stores the re-sent root asynchronously: poll for it
        doc = _jaeger_trace(key, 1 + len(t.hops))
        roots = [s for s in doc["spans"] if s["spanID"] == root_id]
        tags = [_tags(s) for s in roots]
        if any(orjson.loads(tg["midwatch.ids"]) == later.ids for tg in tags) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # OTLP cannot update a span: Jaeger keeps both copies of the root (one span ID), and the
    # one ending last is the journey as it is now
    assert len(roots) == 2, [tg["midwatch.ids"] for tg in tags]
    newest = max(roots, key=lambda s: s["startTime"] + s["duration"])
    assert orjson.loads(_tags(newest)["midwatch.ids"]) == later.ids
    assert _tags(newest)["midwatch.hop_count"] == len(t.hops)
    assert (newest["startTime"] + newest["duration"]) // 1000 == last
