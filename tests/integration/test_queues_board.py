"""The "Queues and certificates" board replayed against the real Elasticsearch holding probe
readings written through the real store: every panel answers, with the dataset's numbers,
and its thresholds are where the probes rule pack pages."""

from __future__ import annotations

import time
from pathlib import Path

import probe_dataset
import pytest
import yaml
from dashboard_dataset import Dataset, write

from collector.store.elasticsearch import ElasticsearchStore
from dashboards.boards import queues
from dashboards.datasources import by_uid
from dashboards.provision import board_docs
from dashboards.replay import TimeRange, replay_board
from dashboards.settings import BoardSettings

MINUTE = 60_000
PACK = Path(__file__).parents[2] / "rules" / "packs" / "probes.yaml"


@pytest.fixture(scope="module")
def results(es, request):
    prefix = f"mwtest-{time.time_ns()}"
    end = time.time_ns() // 1_000_000
    end -= end % MINUTE
    data = Dataset(start_ms=end - 120 * MINUTE, end_ms=end)
    probe_dataset.add(data, data.start_ms + 5 * MINUTE)
    write(ElasticsearchStore(client=es, index_prefix=prefix), data)
    settings = BoardSettings(index_prefix=prefix)
    board = board_docs(settings)["queues"]
    out = replay_board(es, "queues", board, by_uid(settings), TimeRange(data.start_ms, data.end_ms))
    yield {r.title: r for r in out}, data.expected["probes"], board
    found = es.indices.get(index=f"{prefix}*", expand_wildcards="all", allow_no_indices=True)
    if found:
        es.indices.delete(index=",".join(sorted(found)), ignore_unavailable=True)


def _peaks(result) -> dict[str, float]:
    """Highest point of each series (bar gauges and time series alike)."""
    return {f.name: max(f.numbers()) for f in result.frames if f.is_series}


def _sums(result) -> dict[str, float]:
    return {f.name: sum(f.numbers()) for f in result.frames if f.is_series}


def test_every_panel_answers(results):
    by_title, _, board = results
    assert board["uid"] == "midwatch-queues" and {"queues", "certificates"} <= set(board["tags"])
    assert {t: (r.status, r.error) for t, r in by_title.items() if r.status != "OK"} == {}
    assert len(by_title) >= 12


def test_panels_show_the_probe_readings(results):
    by_title, expected, _ = results
    assert _peaks(by_title["Consumer lag by group"]) == pytest.approx(expected["lag_peak"])
    assert _sums(by_title["Dead-letter topic growth"]) == pytest.approx(expected["dlq_growth"])
    assert _peaks(by_title["Queues without consumers"]) == pytest.approx(expected["unconsumed_peak"])
    assert _peaks(by_title["Dead-letter queue depth"]) == pytest.approx(expected["dlq_depth"])
    assert max(by_title["Under-replicated partitions"].frames[0].numbers()) == 1
    expiring = by_title[f"Certificates expiring within {queues.CERT_WARN_DAYS} days"]
    assert max(expiring.frames[0].numbers()) == expected["expiring_30d"]
    assert max(by_title["Certificates not trusted"].frames[0].numbers()) == expected["not_trusted"]
    failures = by_title["Failed endpoint checks"]
    assert sum(sum(f.numbers()) for f in failures.frames) == expected["endpoint_failures"]
    assert max(by_title["Cluster status"].frames[0].numbers()) == 1  # yellow

    [table] = by_title["Certificates"].frames
    assert dict(zip(table.column("Endpoint"), table.column("Days left"), strict=True)) == \
        expected["cert_days"]
    verify = dict(zip(table.column("Endpoint"), table.column("Verification"), strict=True))
    assert verify["edi.example.com:443"] == "hostname_mismatch"
    assert [f.shown_as for f in table.fields] == [name for _, name in queues.CERT_COLUMNS]


def test_thresholds_are_where_the_probes_pack_pages(results):
    _, _, board = results
    rules = {r["name"]: r for r in yaml.safe_load(PACK.read_text())["rules"]}
    lag = rules["kafka-consumer-lag"]["filter"]["midwatch.probe.value"]["gte"]
    assert lag == queues.LAG_PAGES_ABOVE + 1
    assert rules["certificate-expiring-30d"]["filter"]["midwatch.probe.value"] == {
        "gte": queues.CERT_CRIT_DAYS, "lt": queues.CERT_WARN_DAYS}
    assert rules["certificate-expiring-7d"]["filter"]["midwatch.probe.value"] == {
        "lt": queues.CERT_CRIT_DAYS}
    assert rules["endpoint-down"]["above"] + 1 == queues.ENDPOINT_DOWN_FAILURES
    steps = {p["title"]: [(s["value"], s["color"])
                          for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
             for p in board["panels"]
             if "thresholds" in p.get("fieldConfig", {}).get("defaults", {})}
    assert steps["Consumer lag by group"] == [(None, "green"), (lag, "red")]
    assert steps["Certificates"] == [(None, "red"), (queues.CERT_CRIT_DAYS, "orange"),
                                     (queues.CERT_WARN_DAYS, "green")]
    assert steps["Failed endpoint checks"] == [(None, "green"),
                                               (queues.ENDPOINT_DOWN_FAILURES, "red")]
