"""The Service levels board replayed against the real Elasticsearch (the dashboards test
dataset): its attainment and budget panels agree with the SLO model of ``rules/slo.py`` run
through the store on the same data."""

from __future__ import annotations

import time
import uuid

import dashboard_dataset
import pytest

from collector.store.elasticsearch import ElasticsearchStore
from dashboards.boards import slos as board
from dashboards.replay import TimeRange
from dashboards.settings import BoardSettings
from dashboards.verify import replay_boards
from rules.slo import Objective, bad


@pytest.fixture(scope="module")
def filled(es):
    prefix = f"mwtest-{uuid.uuid4().hex[:12]}"
    data = dashboard_dataset.build(time.time_ns() // 1_000_000)
    store = ElasticsearchStore(client=es, index_prefix=prefix)
    dashboard_dataset.write(store, data)
    yield store, prefix, data
    found = es.indices.get(index=f"{prefix}*", expand_wildcards="all", allow_no_indices=True)
    if found:
        es.indices.delete(index=",".join(sorted(found)), ignore_unavailable=True)


def _numbers(result) -> dict[str, float]:
    return {frame.name: frame.fields[0].values[0] for frame in result.frames
            if len(frame.fields) == 1}


def test_board_matches_the_slo_model(es, filled):
    store, prefix, data = filled
    results = replay_boards(es, BoardSettings(index_prefix=prefix),
                            TimeRange(data.start_ms, data.end_ms))["slos"]
    by_title = {r.title: r for r in results}
    assert {r.title: r.status for r in results} == dict.fromkeys(by_title, "OK")
    objective = Objective("sla", board.OBJECTIVE)
    rows = store.metric(objective.query(data.start_ms, data.end_ms, group_by=("flow",)))
    expected = {r.group["flow"]: (r.count - bad(r)) / r.count for r in rows}
    assert len(expected) >= 2 and min(expected.values()) < 1  # some flow breached its SLA
    attained = _numbers(by_title["SLA attainment by flow"])
    assert {k.split("=")[-1]: pytest.approx(v) for k, v in attained.items()} == expected
    left = _numbers(by_title["Error budget left by flow"])
    assert {k.split("=")[-1]: pytest.approx(v) for k, v in left.items()} == {
        f: 1 - (1 - a) / (1 - board.OBJECTIVE) for f, a in expected.items()}
    up = _numbers(by_title["Availability by endpoint probe"])
    assert up and all(0 <= v <= 1 for v in up.values())
