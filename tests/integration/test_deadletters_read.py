"""Dead letters read back the way an analyst asks for them (``midwatch deadletters``), on
the real stores: newest first, filtered by input and reason kind, counted by both over a
window, and through the CLI with the store named by ``-c``."""

from __future__ import annotations

import json

import pytest

from collector.deadletters import DeadLetterQuery, newest, summary
from collector.event import DeadLetter
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore
from midwatch.cli import main

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
RECORDS = [
    DeadLetter("parse_error: not JSON", "/var/log/app.log", 12, "{oops", ingested_ms=T0,
               input="app"),
    DeadLetter("line_too_long: more than 4096 bytes (max_line_bytes)", "/var/log/app.log",
               40, "y" * 5000, ingested_ms=T0 + 1_000, input="app", truncated=True),
    DeadLetter("parse_error: bad timestamp", "orders:2:981", 0, '{"ts": "yesterday"}',
               ingested_ms=T0 + 2_000, input="orders-kafka"),
]


def _fill(store) -> None:
    store.write_deadletters(RECORDS)
    store.refresh()


def test_newest_first_filtered_and_summarised(every_store):
    _fill(every_store)
    window = DeadLetterQuery(T0, T0 + 60_000)
    assert [d["source"] for d in newest(every_store, window)] == [
        "orders:2:981", "/var/log/app.log:40", "/var/log/app.log:12"]
    app = newest(every_store, DeadLetterQuery(T0, T0 + 60_000, input="app", limit=1))
    assert [d["source"] for d in app] == ["/var/log/app.log:40"]
    parse = newest(every_store, DeadLetterQuery(T0, T0 + 60_000, reason="parse_error"))
    assert {d["input"] for d in parse} == {"app", "orders-kafka"}
    assert newest(every_store, DeadLetterQuery(T0 + 1_500, T0 + 60_000))[0]["input"] == \
        "orders-kafka", "the window bounds the time"
    assert summary(every_store, window) == [
        {"reason": "line_too_long", "input": "app", "count": 1},
        {"reason": "parse_error", "input": "app", "count": 1},
        {"reason": "parse_error", "input": "orders-kafka", "count": 1}]


@pytest.fixture(params=["sqlite", "elasticsearch"])
def configured(request, tmp_path):
    """A store with the records, and a config file whose store: section names it."""
    cfg = tmp_path / "mw.yaml"
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "mw.sqlite")
        cfg.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {tmp_path / 'mw.sqlite'}}}\n")
    else:
        url, prefix = request.getfixturevalue("es_url"), request.getfixturevalue(
            "es_index_prefix") + "mw"
        store = ElasticsearchStore(url, index_prefix=prefix)
        cfg.write_text(f"store:\n  kind: elasticsearch\n  elasticsearch: "
                       f"{{url: \"{url}\", index_prefix: \"{prefix}\"}}\n")
    store.setup()
    _fill(store)
    store.close()
    return str(cfg)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SINCE = "2023-11-14T00:00:00Z"  # before T0


def test_cli_lists_newest_with_source_reason_and_cut_raw(configured, capsys):
    """A table line each, the raw record cut to the table's cell width."""
    code, out, _ = cli(capsys, "deadletters", "--since", SINCE, "-c", configured)
    assert code == 0
    head, first, second, third = out.splitlines()
    assert head.split() == ["TIME", "INPUT", "SOURCE", "REASON", "RAW"]
    assert "orders-kafka" in first and "orders:2:981" in first and "bad timestamp" in first
    assert "/var/log/app.log:40" in second and second.endswith("y" * 59 + "…")
    assert "/var/log/app.log:12" in third and third.endswith("{oops")


def test_cli_filters_summary_and_json(configured, capsys):
    code, out, _ = cli(capsys, "deadletters", "--since", SINCE, "--input", "app",
                       "--reason", "parse_error", "--json", "-c", configured)
    assert code == 0
    (doc,) = json.loads(out)
    assert doc["source"] == "/var/log/app.log:12" and doc["raw"] == "{oops"
    code, out, _ = cli(capsys, "deadletters", "--since", SINCE, "--summary", "-c", configured)
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["REASON", "INPUT", "COUNT"], ["line_too_long", "app", "1"],
        ["parse_error", "app", "1"], ["parse_error", "orders-kafka", "1"]]


def test_cli_says_so_when_none_and_refuses_a_bad_since(configured, capsys):
    code, out, _ = cli(capsys, "deadletters", "--since", "5m", "-c", configured)
    assert code == 0 and out.strip() == "no dead letters since 5m"
    code, _, err = cli(capsys, "deadletters", "--since", "yesterday", "-c", configured)
    assert code == 2 and "--since" in err


def test_summary_counts_dead_letters_without_an_input(every_store):
    """Store-stage dead letters come from no input: counted under "-", not left out."""
    every_store.write_deadletters([DeadLetter("mapping: refused", "event:e1", 0, "{}",
                                               stage="store", ingested_ms=T0)])
    every_store.refresh()
    assert summary(every_store, DeadLetterQuery(T0, T0 + 1)) == [
        {"reason": "mapping", "input": "-", "count": 1}]


def test_a_window_starting_in_the_future_holds_none(every_store):
    """``since`` past now (schemathesis sent 3259-05-06): the store refused the empty window
    and the API answered 500."""
    _fill(every_store)
    future = DeadLetterQuery(T0 + 120_000, T0 + 60_000)
    assert newest(every_store, future) == [] and summary(every_store, future) == []


# One read's dead letters share their time; a and b two reads later.
TIED = [DeadLetter(f"parse_error: {n}", src, line, f"r{n}", ingested_ms=T0 + at, input="app")
        for n, (src, line, at) in enumerate([
            ("/var/log/b.log", 7, 0), ("/var/log/a.log", 12, 5), ("/var/log/a.log", 9, 5),
            ("orders:0:17", 0, 5), ("/var/log/é.log", 1, 5), ("/var/log/z.log", 1, 5),
            ("/var/log/a.log", 100, 5), ("/var/log/c.log", 3, 9)])]


def test_ties_in_time_are_listed_by_source_alike_on_every_store(every_store):
    """Review Q: dead letters of one time came in the order of their hash key on SQLite and
    in no set order on Elasticsearch, so a limit cutting through them showed any of them.
    Now by source (as text: a.log:100 before a.log:12, é after z), the same on each store."""
    every_store.write_deadletters(TIED)
    every_store.refresh()
    listed = newest(every_store, DeadLetterQuery(T0, T0 + 60_000))
    assert [d["source"] for d in listed] == [
        "/var/log/c.log:3", "/var/log/a.log:100", "/var/log/a.log:12", "/var/log/a.log:9",
        "/var/log/z.log:1", "/var/log/é.log:1", "orders:0:17", "/var/log/b.log:7"]
    cut = newest(every_store, DeadLetterQuery(T0, T0 + 60_000, limit=3))
    assert [d["source"] for d in cut] == [d["source"] for d in listed[:3]]
