"""The OpenTelemetry Collector config of bench/peer_otelcol.py extracts what midwatch extracts.

The bench compares CPU per event with the Collector; the comparison is only fair if its
operators do the work they claim: every generated line routed to a parser, its correlation ID
and time captured. The regexes use only syntax Go's RE2 and Python's ``re`` share, so they are
checked here against midwatch's own parse of the same lines (the bench itself checks the
stored documents after each Collector run).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
peer = pytest.importorskip("peer_otelcol")
e2e = pytest.importorskip("e2e_bench")

# The Go layouts of the config, spelled for strptime.
TIME_FORMATS = {"mule": "%Y-%m-%d %H:%M:%S,%f", "nginx": "%d/%b/%Y:%H:%M:%S %z",
                "json": "%Y-%m-%dT%H:%M:%S.%f%z"}


def _config(tmp_path: Path) -> dict:
    return json.loads(peer.otelcol_config(tmp_path, "http://127.0.0.1:9200", "mwpeer-x", 8888))


def _extract(op: dict, line: str) -> tuple[str, str]:
    """(correlation ID, time text) as the operator would set them."""
    if op["type"] == "json_parser":
        doc = json.loads(line)
        return doc["correlationId"], doc["@timestamp"]
    m = re.match(op["regex"], line)
    assert m is not None, f"{op['id']} regex does not match {line!r}"
    return m["correlation_id"], m["time"]


def test_every_generated_line_is_routed_and_parsed_like_midwatch(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    e2e.generate(logs, 300, hops=3)
    operators = _config(logs)["receivers"]["filelog"]["operators"]
    by_id = {op.get("id"): op for op in operators}
    routes = {re.search(r'== "([^"]+)"', r["expr"])[1]: r["output"]
              for r in operators[0]["routes"]}
    assert sorted(routes) == sorted(p.name for p in logs.iterdir())
    checked = 0
    for path in sorted(logs.iterdir()):
        op = by_id[routes[path.name]]
        with path.open("rb") as fh:
            events = [x for x in parse_stream(fh, str(path), "auto", ParseContext())
                      if isinstance(x, Event)]
        lines = path.read_text().splitlines()
        assert len(events) == len(lines) == 100
        for line, ev in zip(lines, events, strict=True):
            corr, when = _extract(op, line)
            assert f"correlation:{corr}" in ev.ids
            fmt = TIME_FORMATS[routes[path.name]]
            parsed = datetime.strptime(when.replace("Z", "+0000"), fmt)
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            assert int(parsed.timestamp() * 1000) == ev.timestamp_ms
            checked += 1
    assert checked == 300


def test_pipeline_sets_the_raw_mapping_and_flushes_like_midwatch(tmp_path: Path) -> None:
    conf = _config(tmp_path)
    assert conf["service"]["pipelines"]["logs"]["processors"] == ["transform", "batch"]
    (statement,) = conf["processors"]["transform"]["log_statements"][0]["statements"]
    assert '"elastic.mapping.mode"' in statement and '"raw"' in statement
    exporter = conf["exporters"]["elasticsearch"]
    assert exporter["logs_index"] == "mwpeer-x"
    assert exporter["sending_queue"]["batch"]["flush_timeout"] == "1s"
