"""Files -> the real collector service -> the real Elasticsearch; replays never duplicate."""

from __future__ import annotations

import gc
import shutil
import time
from pathlib import Path

import es_support
import orjson
from faults_support import count_events
from service_runner import Running, es_config, run_cli_until

from collector.event import Event, to_doc
from collector.gcsettings import YOUNG_OBJECTS
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

DATA = Path(__file__).parents[1] / "data"
FIXTURES = ("mule/app-runtime.log", "mule/mule_ee.log", "apigw/nginx-access.log",
            "boomi/process_log_download.log", "x12/purchase-orders.edi", "rabbitmq/rabbit-4x.log",
            "json/app.jsonl")


def copy_fixtures(logs: Path) -> int:
    """Copy a mix of platforms; return how many events the parse core makes of them."""
    logs.mkdir()
    expected = 0
    for rel in FIXTURES:
        src = DATA / rel
        dst = logs / f"{src.parent.name}-{src.stem}.log"
        shutil.copy(src, dst)
        with open(dst, "rb") as fh:
            expected += sum(isinstance(x, Event)
                            for x in parse_stream(fh, str(dst), "auto", ParseContext()))
    return expected


def test_files_to_es_and_rerun_creates_no_duplicates(tmp_path, es, es_url, es_index_prefix):
    expected = copy_fixtures(tmp_path / "logs")
    assert expected > 30
    prefix = f"{es_index_prefix}mw"
    inputs = f"  - {{type: file, name: logs, paths: ['{tmp_path}/logs/*.log']}}"
    config = es_config(tmp_path, es_url, prefix, inputs)

    thresholds = gc.get_threshold()
    first = Running(config)
    first.wait_for(lambda: first.indexed() >= expected, what=f"{expected} events indexed")
    assert gc.get_threshold()[0] == YOUNG_OBJECTS  # while the service runs
    assert first.finish() == 0
    assert gc.get_threshold() == thresholds  # and the process gets its own back
    # Events and traces refresh every 5 s (they are written per event); the service
    # refreshes when it stops, so what it wrote last is searchable at once.
    for index in (f"{prefix}-events-*", f"{prefix}-traces"):
        settings = es.indices.get_settings(index=index, name="index.refresh_interval")
        assert [s["settings"]["index"]["refresh_interval"] for s in settings.values()] == ["5s"]
    # no refresh of ours: the service's own on stopping
    assert es_support.settled(lambda: es.count(index=f"{prefix}-events-*"))["count"] == expected
    assert count_events(es, prefix) == expected
    assert (tmp_path / "checkpoints" / "logs.json").exists()

    # Checkpoints intact: nothing is read again; new lines are.
    with open(tmp_path / "logs" / "mule-app-runtime.log", "a") as fh:
        fh.write("INFO  2024-03-01 10:20:00,000 [[MuleRuntime].uber.01: [order-api].main] "
                 "[event: late-1] org.mule.Logger: a late line\n")
    second = Running(config)
    second.wait_for(lambda: second.indexed() >= 1, what="the appended line")
    time.sleep(0.5)
    assert second.finish() == 0
    assert second.indexed() == 1
    assert count_events(es, prefix) == expected + 1

    # Checkpoints lost: everything is read again and overwrites itself.
    shutil.rmtree(tmp_path / "checkpoints")
    third = Running(config)
    third.wait_for(lambda: third.indexed() >= expected + 1, what="the full replay")
    assert third.finish() == 0
    assert count_events(es, prefix) == expected + 1


def test_midwatch_run_stops_cleanly_on_sigterm(tmp_path, es, es_url, es_index_prefix):
    expected = copy_fixtures(tmp_path / "logs")
    prefix = f"{es_index_prefix}mw"
    es_config(tmp_path, es_url, prefix,
              f"  - {{type: file, name: logs, paths: ['{tmp_path}/logs/*.log']}}",
              extra='api: {listen: "127.0.0.1:0"}')
    code, logs = run_cli_until(["run", "-c", str(tmp_path / "midwatch.yaml")],
                               lambda: count_events(es, prefix) >= expected, cwd=tmp_path,
                               env={"PYTHONPATH": str(Path(__file__).parents[2])}, poll_s=0.3)
    assert code == 0, logs[-2000:]
    assert count_events(es, prefix) == expected
    assert '"msg":"stopping: finishing the current batch"' in logs
    assert '"msg":"progress"' in logs  # the final figures, as JSON (stderr is not a TTY)


def test_events_only_service_ships_encoded_documents_equal_to_parsed_ones(
        tmp_path, es, es_url, es_index_prefix):
    """Without a correlator the parse worker ships document bytes (collector.encoded): what
    lands in Elasticsearch is what ``to_doc`` makes of the same lines parsed here."""
    expected = copy_fixtures(tmp_path / "logs")
    prefix = f"{es_index_prefix}enc"
    config = es_config(tmp_path, es_url, prefix,
                       f"  - {{type: file, name: logs, paths: ['{tmp_path}/logs/*.log']}}")
    run = Running(config)
    assert [inp.encode_events for inp in run.service.inputs] == [True]
    run.wait_for(lambda: run.indexed() >= expected, what=f"{expected} events indexed")
    assert run.finish() == 0
    ctx = run.service.inputs[0].ctx  # the service's redaction key: the same tokens
    want = []
    for path in sorted((tmp_path / "logs").iterdir()):
        with open(path, "rb") as fh:
            want += [to_doc(x) for x in parse_stream(fh, str(path), "auto", ctx)
                     if isinstance(x, Event)]
    hits = es_support.search(es, index=f"{prefix}-events-*", size=1000,
                             query={"match_all": {}})["hits"]
    assert all(h["_id"] == h["_source"]["event"]["id"] for h in hits["hits"])
    got = [h["_source"] for h in hits["hits"]]
    assert len(got) == len(want) == expected

    def comparable(docs: list[dict]) -> list[bytes]:
        """IDs (the input keys positions by inode) and ingest times aside, in one order."""
        for doc in docs:
            del doc["event"]["id"]
            doc["event"].pop("ingested", None)
        return sorted(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) for doc in docs)

    assert comparable(got) == comparable(want)
