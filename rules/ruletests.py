"""``midwatch rules test``: rule files checked against input events, promtool-style.

A test file::

    rule_files: [../kafka.yaml]           # relative to this file
    input:
      events:                             # normalized documents (as `midwatch parse` prints)
        - "@timestamp": 2024-03-04T10:00:00Z
          repeat: 20                      # optional: 20 copies ...
          every: 30s                      # ... 30 s apart (IDs stay distinct)
          event: {outcome: failure}
          midwatch: {flow: o2c, platform: kafka}
      logs:                               # raw logs through a parser
        - {path: samples/mule.log, format: mule}
      traces:                             # trace documents (stuck / latency rules)
        - {trace_key: "order:1", ids: ["order:1"], flow: o2c, status: in_flight,
           started_at: 2024-03-04T09:00:00Z, last_seen: 2024-03-04T09:00:00Z}
      alerts:                             # alert history (``index: alerts`` rules)
        - {"@timestamp": 2024-03-04T10:00:00Z, state: notify_failed, notifier: oncall}
    evaluations:                          # in order; alert state carries from one to the next
      - at: 2024-03-04T10:10:00Z
        alerts:                           # exactly the alerts expected (none: [])
          - rule: kafka-consumer-failures
            labels: {flow: o2c}
            state: firing                 # pending | firing | resolved
            annotations: {summary: "..."} # optional; compared exactly

Each file runs on a fresh temporary SQLite store, so tests never touch real data.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from collector.config_values import Section
from collector.event import Event, event_id, from_doc, ms_to_iso
from collector.store.sqlite import SQLiteStore
from collector.trace import Trace
from collector.yamlconf import Doc, load, parse_duration_ms
from rules.config import RulesConfig
from rules.engine import Engine, with_examples
from rules.loader import load_rules
from rules.state import Alert
from rules.timewindows import to_ms

TOP_KEYS = ("rule_files", "input", "evaluations")
MAX_REPEAT = 100_000


@dataclass
class TestReport:
    file: str
    evaluations: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _time(s: Section, key: str) -> int:
    try:
        return to_ms(s.raw(key))
    except (TypeError, ValueError):
        raise s.error(key, f"expected a time like 2024-03-04T10:00:00Z, got {s.raw(key)!r}") from None


def run_file(path: str | Path) -> TestReport:
    doc = load(path)
    top = Section(doc, (), doc.data, TOP_KEYS)
    base = Path(doc.file).parent
    files = [str(base / f) for f in top.str_list("rule_files", required=True)]
    report = TestReport(doc.file)
    with tempfile.TemporaryDirectory(prefix="midwatch-rules-test-") as tmp:
        loaded = _load_isolated(files, Path(tmp))
        if loaded.errors:
            raise loaded.errors[0]
        store = SQLiteStore(Path(tmp) / "test.sqlite")
        try:
            store.setup()
            _write_input(store, doc, top, base)
            store.refresh()
            engine = Engine(RulesConfig(rules=loaded.rules), store)
            evaluations = top.raw("evaluations")
            if not isinstance(evaluations, list) or not evaluations:
                raise top.error("evaluations", "expected a list of {at, alerts}")
            for i, item in enumerate(evaluations):
                ev = Section(doc, ("evaluations", i), item, ("at", "alerts"))
                at = _time(ev, "at")
                got = with_examples(engine, engine.evaluate(at), at)
                report.failures += compare(ev, got, ms_to_iso(at))
                report.evaluations += 1
        finally:
            store.close()
    return report


def _load_isolated(files: list[str], tmp: Path):
    """Load the rules with stateful rule types (anomaly models) pointed into ``tmp``.

    A rule test must leave nothing behind: an anomaly model trained on test input and saved in
    the user's model directory would be picked up by a real run of a rule with the same name.
    """
    saved = os.environ.get("MIDWATCH_MODEL_DIR")
    os.environ["MIDWATCH_MODEL_DIR"] = str(tmp / "models")
    try:
        return load_rules(files)
    finally:
        if saved is None:
            del os.environ["MIDWATCH_MODEL_DIR"]
        else:
            os.environ["MIDWATCH_MODEL_DIR"] = saved


def _write_input(store: SQLiteStore, doc: Doc, top: Section, base: Path) -> None:
    inp = top.sub("input", ("events", "logs", "traces", "alerts"))
    events = list(_events(doc, inp))
    for i, item in enumerate(_list(inp, "logs")):
        events += _log_events(Section(doc, (*inp.path, "logs", i), item, ("path", "format")), base)
    for start in range(0, len(events), 5000):
        result = store.write_events(events[start:start + 5000])
        if result.rejected:
            raise inp.error("events", f"the store refused an event: {result.rejected[0][1]}")
    traces = []
    for i, item in enumerate(_list(inp, "traces")):
        try:
            traces.append(Trace.from_doc(_iso_times(item)))
        except (KeyError, TypeError, ValueError) as exc:
            raise doc.error((*inp.path, "traces", i), f"not a trace document: {exc}",
                            "needs trace_key, ids, started_at, last_seen") from None
    if traces:
        store.upsert_traces(traces)
    history = [_iso_times(item) for item in _list(inp, "alerts")]
    if history:
        try:
            store.append_alert_history(history)
        except ValueError as exc:
            raise inp.error("alerts", str(exc)) from None


def _list(s: Section, key: str) -> list:
    value = s.raw(key, [])
    if not isinstance(value, list):
        raise s.error(key, "expected a list")
    return value


def _iso_times(d: Any) -> Any:
    """YAML reads unquoted timestamps as datetimes; documents want ISO text."""
    if isinstance(d, dict):
        return {k: _iso_times(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_iso_times(v) for v in d]
    if isinstance(d, date):
        return ms_to_iso(to_ms(d))
    return d


def _events(doc: Doc, inp: Section) -> Iterator[Event]:
    for i, item in enumerate(_list(inp, "events")):
        path = (*inp.path, "events", i)
        if not isinstance(item, dict) or "@timestamp" not in item:
            raise doc.error(path, "expected an event document with @timestamp")
        item = dict(item)
        repeat, every = item.pop("repeat", 1), item.pop("every", "1s")
        if not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            raise doc.error((*path, "repeat"), f"expected a count from 1 to {MAX_REPEAT}")
        try:
            step = parse_duration_ms(every)
            start = to_ms(item["@timestamp"])
        except ValueError as exc:
            raise doc.error(path, str(exc)) from None
        template = _iso_times(item)
        template.setdefault("event", {}).setdefault("dataset", "rules.test")
        template.setdefault("midwatch", {}).setdefault("platform", "generic")
        for n in range(repeat):
            d = copy.deepcopy(template)
            d["@timestamp"] = ms_to_iso(start + n * step)
            try:
                ev = from_doc(d)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise doc.error(path, f"not an event document: {exc}") from None
            ev.id = ev.id or event_id(doc.file, f"{i}", n)
            yield ev


def _log_events(s: Section, base: Path) -> list[Event]:
    from collector.parse import parse_stream
    from collector.parsers import PARSERS
    from collector.parsers._base import ParseContext

    fmt = s.choice("format", ("auto", *PARSERS.paths()), "auto")
    file = base / s.text("path", required=True)
    if not file.is_file():
        raise s.error("path", f"{file} does not exist")
    with file.open("rb") as stream:
        return [x for x in parse_stream(stream, str(file), fmt, ParseContext())
                if isinstance(x, Event)]


def _show(rule: str, labels: dict, state: str) -> str:
    text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{rule} {{{text}}} {state}"


def compare(ev: Section, got: list[Alert], at: str) -> list[str]:
    """Readable differences between expected and actual alerts at one evaluation."""
    expected = ev.raw("alerts", [])
    if not isinstance(expected, list):
        raise ev.error("alerts", "expected a list of {rule, labels, state, annotations}")
    want: dict[tuple, dict] = {}
    for i, item in enumerate(expected):
        s = Section(ev.doc, (*ev.path, "alerts", i), item, ("rule", "labels", "state", "annotations"))
        labels = s.raw("labels", {})
        if not isinstance(labels, dict):
            raise s.error("labels", "expected a mapping of label: value")
        key = (s.text("rule", required=True), tuple(sorted((str(k), str(v)) for k, v in labels.items())),
               s.choice("state", ("pending", "firing", "resolved"), "firing"))
        want[key] = s.raw("annotations", {}) or {}
    have = {(a.rule, tuple(sorted(a.labels.items())), a.state): a for a in got}
    lines = []
    for key in sorted(want.keys() - have.keys()):
        lines.append(f"  missing:    {_show(key[0], dict(key[1]), key[2])}")
    for key in sorted(have.keys() - want.keys()):
        lines.append(f"  unexpected: {_show(key[0], dict(key[1]), key[2])}")
    for key in sorted(want.keys() & have.keys()):
        for name, text in want[key].items():
            actual = have[key].annotations.get(name)
            if actual != text:
                lines.append(f"  {_show(*key[:1], dict(key[1]), key[2])} annotation {name}:\n"
                             f"    expected: {text!r}\n    got:      {actual!r}")
    line, _ = ev.doc.where(ev.path)
    return [f"{ev.doc.file}:{line}: at {at}:\n" + "\n".join(lines)] if lines else []


