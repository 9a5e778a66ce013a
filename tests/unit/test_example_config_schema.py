"""``deploy/midwatch.example.yaml`` documents every key the loaders accept, and loads.

The example promises "every option"; before this test, notifier keys were documented only in
code. The keys are not copied here: every section is read by its own loader, and the key set
each loader hands to ``Section`` is recorded while it reads (the nested ones a loader writes out
by hand, like ``collector.batch``, included). Components of several kinds (inputs, notifiers,
probes) are also read once per kind from a one-line document, so a kind the example only shows
commented out still has its keys walked. A key counts as documented when the example writes it
as a key (``key:``, live or commented out) inside its section, and inside its kind's entry for a
kind's keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from collector.config import SECTIONS, config_from_doc
from collector.config_values import Section
from collector.correlation.catalog import _Builder, build_catalog, load_catalog
from collector.exporters.config import load_exporters
from collector.inputs import INPUTS
from collector.knowledge import from_config as knowledge_from_config
from collector.probes import PROBES
from collector.probes.config import load_probes
from collector.yamlconf import ConfigError, Doc, load, loads
from dashboards.push import _SECTION_KEYS as GRAFANA_KEYS
from dashboards.push import target_from_config
from dashboards.settings import explorer_url_from
from rules.config import NOTIFIER_TYPES, load_rules_config
from rules.slo import load_slos

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "midwatch.example.yaml"
FLOWS_EXAMPLE = EXAMPLE.with_name("flows.example.yaml")  # what `flows:` points at
KIND_FIELDS = ("type", "kind")  # the key that says which kind a list or mapping entry is

Schema = set[tuple[tuple[str, ...], str]]  # (key path, entries as "type=file", key)


def _loaders() -> dict[str, Callable[[Doc], object]]:
    """Each top-level section -> what reads it (none of them connects anywhere)."""
    def own(doc):  # collector.config reads these six together
        return config_from_doc(doc)

    def store(doc):  # without the section the default would create ./var/midwatch.sqlite
        if doc.data.get("store") is not None:
            config_from_doc(doc).open_store().close()

    def rules(doc):  # rules, notifiers, alertmanager, smtp and anomaly are read together
        errors = load_rules_config(doc).errors
        if errors:
            raise errors[0]

    def grafana(doc):
        if isinstance(doc.data.get("grafana"), dict):
            target_from_config(doc, None)

    loaders: dict[str, Callable[[Doc], object]] = {
        name: own for name in ("collector", "inputs", "correlation", "api", "kafka", "edi")}
    loaders.update(
        store=store, rules=rules, notifiers=rules, alertmanager=rules, smtp=rules, anomaly=rules,
        flows=lambda doc: load_catalog(doc.data.get("flows"), doc),
        grafana=grafana, probes=lambda doc: load_probes(config_from_doc(doc)),
        slos=load_slos, knowledge=knowledge_from_config,
        exporters=lambda doc: load_exporters(config_from_doc(doc)), ui=explorer_url_from)
    return loaders


def test_every_section_has_a_loader_here():
    assert sorted(_loaders()) == sorted(SECTIONS)


@contextmanager
def _recording(monkeypatch) -> Iterator[list[tuple[Doc, tuple, tuple[str, ...]]]]:
    """Every (document, key path, allowed keys) a ``Section`` is built with meanwhile."""
    seen: list[tuple[Doc, tuple, tuple[str, ...]]] = []
    build = Section.__init__

    def record(self, doc, path, data, allowed):
        allowed = tuple(allowed)
        seen.append((doc, tuple(path), allowed))
        build(self, doc, path, data, allowed)

    with monkeypatch.context() as m:
        m.setattr(Section, "__init__", record)
        yield seen


def _schema_path(doc: Doc, path: tuple) -> tuple[str, ...]:
    """``("inputs", 2)`` -> ``("inputs", "type=http")``: an entry of a list or of the
    notifiers is named by its kind; an entry without one (an SLO, a token) drops out."""
    out: list[str] = []
    node = doc.data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(part, int) or (path[:1] == ("notifiers",) and len(out) == 1):
            out += [f"{k}={node[k]}" for k in KIND_FIELDS if isinstance(node, dict) and k in node][:1]
            continue
        out.append(str(part))
    return tuple(out)


def _walk(monkeypatch, docs: list[Doc]) -> Schema:
    schema: Schema = set()
    with _recording(monkeypatch) as seen:
        for doc in docs:
            for load_section in dict.fromkeys(_loaders().values()):
                try:
                    load_section(doc)
                except ConfigError:
                    pass  # a one-kind document lacks required keys: its keys are recorded
    for doc, path, allowed in seen:
        if any(doc is d for d in docs):  # not a rule or knowledge file a section names
            schema |= {(_schema_path(doc, path), key) for key in allowed}
    return schema


def _kind_documents() -> list[Doc]:
    """One entry of every kind, so kinds the example leaves commented out are walked too."""
    texts = [f"inputs: [{{type: {kind}}}]" for kind in INPUTS.builtin]
    # Built-in notifiers only: an installed plug-in documents its own keys.
    texts += [f"notifiers: {{n: {{type: {kind}}}}}" for kind in NOTIFIER_TYPES.builtin]
    texts += [f"probes: [{{name: p, kind: {kind}, endpoints: [{{address: 'h:1'}}]}}]"
              for kind in PROBES.builtin]
    texts += ["alertmanager: {}", "smtp: {}", "exporters: {otlp: {}}",
              "rules: {inhibit: [{}]}", "api: {tokens: [{}]}", "slos: [{}]", "knowledge: {}"]
    return [loads(t, "<kind>") for t in texts]


def test_the_example_loads_through_every_loader(tokens_env):
    doc = load(EXAMPLE)
    for name, load_section in _loaders().items():
        try:
            load_section(doc)
        except ConfigError as exc:
            pytest.fail(f"section {name}: {exc}")


def _region(lines: list[str], start: re.Pattern, stop: re.Pattern,
            within: tuple[int, int]) -> tuple[int, int] | None:
    first = next((i for i in range(*within) if start.search(lines[i])), None)
    if first is None:
        return None
    end = next((i for i in range(first + 1, within[1]) if stop.search(lines[i])), within[1])
    return first, end


def documented(text: str, path: tuple[str, ...], key: str) -> bool:
    """``key:`` (or ``- key:`` / ``{key:``), live or after ``#``, in the example's block of
    ``path``: the top-level section, narrowed to the entry of each kind named in the path."""
    lines = text.splitlines()
    if not path:  # a top-level section
        return any(re.match(rf"(# ?)?{re.escape(key)}:", line) for line in lines)
    top = re.compile(rf"^(# ?)?{re.escape(path[0])}:")
    region = _region(lines, top, re.compile(r"^(# ?)?[a-z_]+:"), (0, len(lines)))
    pattern = re.compile(rf"(^|[\s{{,#-])({re.escape(key)}|\"{re.escape(key)}\"):(\s|$)")
    for part in path[1:]:
        if region is None or "=" not in part:
            continue  # a nested mapping (collector.batch) is looked for in its section
        field, kind = part.split("=", 1)
        entry = rf"^\s*(#\s*)?(-\s+)?{field}: "  # an entry's kind starts its line
        preamble = _region(lines, re.compile(""), re.compile(entry), region)
        region = _region(lines, re.compile(rf"{entry}{re.escape(kind)}(\s|$)"),
                         re.compile(rf"{entry}\w"), region)
        if preamble and any(pattern.search(line) for line in lines[preamble[0]:preamble[1]]):
            return True  # what the section says before its first entry holds for all kinds
    if region is None:
        return False
    return any(pattern.search(line) for line in lines[region[0]:region[1]])


def _shared_once(schema: Schema) -> Schema:
    """A key every kind of a section accepts (a probe's ``interval``, a notifier's ``type``)
    is documented once for the section, not in every entry."""
    kinds: dict[str, dict[str, set[str]]] = {}
    for path, key in schema:
        if len(path) == 2 and "=" in path[1]:
            kinds.setdefault(path[0], {}).setdefault(path[1], set()).add(key)
    shared = {section: set.intersection(*by_kind.values())
              for section, by_kind in kinds.items() if len(by_kind) > 1}
    return {((path[0],), key) if len(path) == 2 and key in shared.get(path[0], ()) else (path, key)
            for path, key in schema}


def test_every_key_the_loaders_accept_is_in_the_example(monkeypatch, tokens_env):
    schema = _shared_once(_walk(monkeypatch, [load(EXAMPLE), *_kind_documents()]))
    schema |= {(("grafana",), key) for key in GRAFANA_KEYS}  # read without Section (dashboards.push)
    text = EXAMPLE.read_text()
    assert {path[:1] for path, _ in schema} >= {(), ("inputs",), ("notifiers",), ("store",)}
    missing = sorted(".".join((*path, key)) for path, key in schema
                     if not documented(text, path, key))
    assert missing == [], "\n".join(missing)


def test_documented_finds_keys_only_in_their_own_section():
    text = ("api:\n  listen: x\n  # tls: {cert: a}\nkafka:\n  client_id: m\n"
            "inputs:\n  - type: file\n    paths: []\n  # - type: stdin\n  #   encoding: auto\n")
    assert documented(text, ("api",), "listen") and documented(text, ("api",), "tls")
    assert documented(text, ("api", "tls"), "cert")
    assert not documented(text, ("api",), "client_id")
    assert documented(text, ("inputs", "type=stdin"), "encoding")
    assert not documented(text, ("inputs", "type=file"), "encoding")
    assert not documented(text, ("inputs", "type=syslog"), "paths")


def test_every_flow_catalog_key_is_in_the_flows_example(monkeypatch):
    """``flows:`` is a path to (or the inline text of) a catalog, documented by
    deploy/flows.example.yaml; the catalog checks its keys with its own mapping check, which is
    recorded as the example is built. A key counts when written as one or named in a comment
    (the match conditions are listed in the file's header)."""
    seen: list[tuple[str, ...]] = []
    check = _Builder.mapping

    def record(self, value, path, allowed):
        seen.append(tuple(allowed))
        return check(self, value, path, allowed)

    monkeypatch.setattr(_Builder, "mapping", record)
    build_catalog(load(FLOWS_EXAMPLE))
    text = FLOWS_EXAMPLE.read_text()
    missing = sorted({key for allowed in seen for key in allowed if not re.search(
        rf"(^|[\s{{,#`-]){re.escape(key)}:|^\s*#.*\b{re.escape(key)}\b", text, re.MULTILINE)})
    assert {"ids", "stages", "terminal", "transaction_set"} <= {k for a in seen for k in a}
    assert missing == []
