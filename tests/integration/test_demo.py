"""``midwatch demo`` end to end: failed and stuck traces land in the store, and one seed gives
one summary."""

from __future__ import annotations

import re
import time

import pytest

from collector.store.base import TraceQuery
from midwatch.cli import main


def _summary(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("flow "))
    return lines[start:start + 3]


def _run(tmp_path, name: str, capsys) -> list[str]:
    assert main(["demo", "--seed", "3", "--messages", "120", "--workdir",
                 str(tmp_path / name)]) == 0
    out = capsys.readouterr().out
    assert "5 web-shop spans sent via OTLP/HTTP" in out
    return _summary(out)


def test_demo_stores_failed_and_stuck_and_is_deterministic(tmp_path, capsys):
    from collector.config import load_config

    first = _run(tmp_path, "a", capsys)
    store = load_config(tmp_path / "a" / "midwatch.yaml").open_store()
    try:
        store.refresh()
        failed = store.search_traces(TraceQuery(status="failed", limit=1000))
        stuck = store.search_traces(TraceQuery(status="stuck", limit=1000))
    finally:
        store.close()
    assert failed and stuck
    assert {t.flow for t in stuck} == {"order-to-cash", "edi-850-outbound"}
    assert _run(tmp_path, "b", capsys) == first

    # the printed follow-up commands work on the written config
    assert main(["traces", "--status", "stuck", "-c", str(tmp_path / "a" / "midwatch.yaml")]) == 0
    assert "stuck" in capsys.readouterr().out
    assert main(["trace", failed[0].trace_key, "-c", str(tmp_path / "a" / "midwatch.yaml")]) == 0
    assert "status    failed" in capsys.readouterr().out


def _printed(out: str) -> dict:
    """The numbers the demo printed: history totals, rejections and the alerts firing at now."""
    history = re.search(r"(\d+) times\):\n  (\d+) alerts fired, (\d+) resolved, (\d+) "
                        r"notifications recorded as would_page", out)
    firing = re.findall(r"^  firing +\S+ +(\S+) \{(.*?)\}", out, re.M)
    return {"evaluations": int(history[1]), "fired": int(history[2]),
            "resolved": int(history[3]), "pages": int(history[4]),
            "firing": sorted((rule, tuple(sorted(tuple(kv.split("=", 1)) for kv in labels.split(", "))))
                             for rule, labels in firing)}


@pytest.mark.timeout(300)  # ~15 s idle, 35 s with the machine shared
def test_demo_into_elasticsearch_feeds_every_panel_of_the_boards(tmp_path, capsys, es_url,
                                                                 es_index_prefix):
    from dashboards.replay import TimeRange
    from dashboards.settings import BoardSettings
    from dashboards.verify import open_client, replay_boards
    from midwatch.demo.scenario import build

    prefix = es_index_prefix.rstrip("-")
    assert main(["demo", "--seed", "3", "--messages", "120", "--workdir", str(tmp_path / "es"),
                 "--es", es_url, "--index-prefix", prefix]) == 0
    out = capsys.readouterr().out
    sqlite_run = _summary(out)
    printed = _printed(out)
    assert _run(tmp_path, "sqlite", capsys) == sqlite_run  # same journeys whichever store
    # alerts fired and resolved along the timeline, and some are firing at the end
    assert printed["evaluations"] >= 45 and printed["resolved"] >= 5
    assert printed["fired"] > printed["resolved"] and printed["pages"] >= printed["fired"]
    assert ("stuck-messages", (("flow", "order-to-cash"),)) in printed["firing"]

    assert main(["dashboards", "verify", "--es", es_url, "--index-prefix", prefix,
                 "--since", "12h"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 27 and [line for line in lines if not line.startswith("OK ")] == []

    now = int(time.time() * 1000)
    results = replay_boards(open_client(es_url), BoardSettings(index_prefix=prefix),
                            TimeRange(now - 12 * 3_600_000, now))
    panel = {f"{r.board}/{r.title}": r for rs in results.values() for r in rs}

    rejected = panel["partners/Rejected interchanges"].frames[0]
    expected = build(3, 120, now).rejected  # GS06/ST02 do not depend on the clock
    assert sorted(zip(rejected.column("GS06"), rejected.column("ST02"), strict=True),
                  key=str) == sorted(((str(gs), st or None) for gs, st in expected), key=str)
    assert set(rejected.column("Partner")) == {"GLOBEX"} and rejected.rows == 5

    # Kafka: ISR shrink (INFO, raised to warn), NotLeaderOrFollower, a dropped connection;
    # RabbitMQ: the memory alarm, then 5 clients x (closing: connection lost, error: login
    # refused), each message written on two lines that repeat its prefix
    broker = panel["platforms/Broker log lines"].frames[0]
    assert broker.rows == 3 + 1 + 5 * 2

    # the probe readings tell the same incidents: an expired SAP gateway certificate, a queue
    # that lost its consumers during the RabbitMQ memory alarm
    certs = panel["queues/Certificates"].frames[0]
    verdicts = dict(zip(certs.column("Endpoint"), certs.column("Verification"), strict=True))
    assert verdicts["sap-gw-2.acme.internal:3300"] == "certificate has expired"
    assert len(verdicts) == 3 and min(certs.column("Days left")) < 0
    idle = panel["queues/Queues without consumers"].frames
    assert [f.name for f in idle] == ["notify.orders"]

    fired = panel["alerts/Alerts fired"]
    assert sum(v for f in fired.frames for v in f.numbers()) == printed["fired"]
    firing_now = panel["alerts/Firing now"].frames[0]
    # the table's group columns; other labels (certificate serials...) are in the summary
    labels = {"Flow": "flow", "Partner": "partner", "Platform": "platform",
              "Service": "service_name", "Endpoint": "endpoint"}
    columns = {f.shown_as for f in firing_now.fields}
    assert {"Since", "Severity", "Rule", "Summary", "Flow"} <= columns
    shown = sorted(
        (rule, tuple(sorted((labels[col], firing_now.column(col)[i]) for col in labels
                            if col in columns and firing_now.column(col)[i])))
        for i, rule in enumerate(firing_now.column("Rule")))
    printed["firing"] = sorted((rule, tuple(kv for kv in group if kv[0] in labels.values()))
                               for rule, group in printed["firing"])
    assert shown == printed["firing"]
