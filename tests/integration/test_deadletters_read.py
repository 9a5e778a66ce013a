"""Dead letters read back the way an analyst asks for them (``midwatch deadletters``), on
the real stores: newest first, filtered by input and reason kind, counted by both over a
window, and through the CLI with the store named by ``-c``."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from collector.apidoc import MAX_LIMIT
from collector.deadletters import (
    RAW_HEAD_BYTES,
    WHOLE_LIMIT,
    DeadLetterQuery,
    newest,
    summary,
)
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


def test_at_most_a_thousand_whatever_the_limit_says(every_store):
    """Review Q: ``newest`` passed any limit on: -1 listed every dead letter on SQLite (its
    LIMIT -1) and was refused by Elasticsearch (size -1), 100,000 listed past the API's 1,000."""
    every_store.write_deadletters([DeadLetter("parse_error: x", "/f", i + 1, "r", ingested_ms=T0)
                                   for i in range(MAX_LIMIT + 5)])
    every_store.refresh()
    window = DeadLetterQuery(T0, T0 + 1, limit=100_000)
    assert len(newest(every_store, window)) == MAX_LIMIT
    assert newest(every_store, replace(window, limit=-1)) == []
    assert len(newest(every_store, replace(window, limit=100_000), whole=True)) == WHOLE_LIMIT


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


def test_a_listed_raw_is_cut_to_4_kib_and_one_record_comes_whole(every_store):
    """Review Q: each ``raw`` (up to 64 KiB) came whole in a list: 1,000 made 64 MB. Cut at a
    UTF-8 character boundary; ``whole`` (``--json --whole``) gives it as stored."""
    big = "é" * DeadLetter.MAX_RAW  # 128 KiB in UTF-8; stored cut to 64 Ki characters
    every_store.write_deadletters([DeadLetter("parse_error: big", "/var/log/big.log", 5, big,
                                              ingested_ms=T0), *RECORDS])
    every_store.refresh()
    window = DeadLetterQuery(T0, T0 + 60_000)
    listed = {d["source"]: d for d in newest(every_store, window)}
    assert listed["/var/log/big.log:5"]["raw"] == "é" * (RAW_HEAD_BYTES // 2)
    assert listed["/var/log/big.log:5"]["raw_truncated"] is True
    assert listed["/var/log/app.log:40"]["raw"] == "y" * RAW_HEAD_BYTES
    assert listed["/var/log/app.log:12"] == {**listed["/var/log/app.log:12"], "raw": "{oops",
                                             "raw_truncated": False}
    (whole,) = newest(every_store, replace(window, source="/var/log/big.log:5", limit=1),
                      whole=True)
    assert whole["raw"] == big[:DeadLetter.MAX_RAW]


def test_cli_refuses_a_limit_outside_1_to_1000_as_the_api_does(configured, capsys):
    """Review Q: --limit -1 listed every dead letter (SQLite) or failed in the cluster
    (Elasticsearch), 0 said there were none, 20000 was cut at 10,000 without a word."""
    for bad in ("-1", "0", "1001", "20000"):
        code, out, err = cli(capsys, "deadletters", "--since", SINCE, "--limit", bad,
                             "-c", configured)
        assert (code, out) == (2, ""), bad
        assert err == "midwatch deadletters: --limit: expected a number from 1 to 1000\n"
    code, _, err = cli(capsys, "deadletters", "--since", SINCE, "--json", "--whole",
                       "--limit", "11", "-c", configured)
    assert code == 2 and "--limit: expected a number from 1 to 10 with --whole" in err
    code, _, err = cli(capsys, "deadletters", "--since", SINCE, "--whole", "-c", configured)
    assert code == 2 and "--whole: only with --json" in err
    code, out, _ = cli(capsys, "deadletters", "--since", SINCE, "--json", "--whole",
                       "-c", configured)
    assert code == 0 and len(json.loads(out)) == 3
    code, out, _ = cli(capsys, "deadletters", "--since", SINCE, "--limit", "1000",
                       "-c", configured)
    assert code == 0 and len(out.splitlines()) == 4


def test_cli_json_cuts_raw_and_whole_gives_one_record_whole(configured, capsys):
    code, out, _ = cli(capsys, "deadletters", "--since", SINCE, "--reason", "line_too_long",
                       "--json", "-c", configured)
    assert code == 0
    (doc,) = json.loads(out)
    assert doc["raw"] == "y" * RAW_HEAD_BYTES and doc["raw_truncated"] is True
    code, out, _ = cli(capsys, "deadletters", "--since", SINCE, "--source",
                       "/var/log/app.log:40", "--limit", "1", "--json", "--whole",
                       "-c", configured)
    assert code == 0
    (doc,) = json.loads(out)
    assert doc["raw"] == "y" * 5000 and doc["source"] == "/var/log/app.log:40"
