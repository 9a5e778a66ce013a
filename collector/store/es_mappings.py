"""Elasticsearch index names and composable index templates, as data.

Dashboards (datasource index patterns) and anything else that reads the indices import the
names from here rather than spelling them. The mappings are generated from ``fields`` so the
SQLite store and Elasticsearch agree on every field's type.

Choices worth knowing:
- ``dynamic: false`` at the root: a field outside the schema stays in ``_source`` but is not
  indexed, so a chatty source cannot grow the mapping.
- ``labels`` (and alert ``labels``/``annotations``) are ``flattened``: one mapped field however
  many keys the sources send, each key still queryable as ``labels.<key>``. OpenSearch has no
  ``flattened``, and its ``flat_object`` cannot be aggregated on (a terms aggregation on
  ``labels.endpoint`` answers nothing, or ``java.lang.Object@...`` buckets; a term filter
  matches nothing: OpenSearch issue 14225), so there each key is mapped as it comes, as a
  keyword (see ``open_map``).
- trace ``hops`` are ``enabled: false``: read only from ``_source`` by the trace API, never
  searched, so no nested documents (which would multiply the document count per trace).
- text fields carry a ``keyword`` sub-field for equality and terms; longer values than
  ``ignore_above`` are not indexed there. They have no norms: every midwatch query is a
  filter (nothing is ranked by relevance), and norms cost per document. Positions stay:
  the ``contains`` filter is a phrase query.
- what nothing reads is not indexed (``fields.Keep``; issues 25 and 28: each indexed field
  costs the engine CPU per event). Audited against the boards, the rules and their packs,
  the report, the trace API and explorer, the knowledge base and the docs: in events
  ``event.ingested``, ``event.created``, ``span.id``, ``error.stack_trace``,
  ``midwatch.payload_bytes`` and ``midwatch.timestamp_estimated`` are only in ``_source``,
  ``event.id`` has doc values only (the sort tie-breaker of event pages); in traces
  ``last_error.class``, ``last_error.stage`` and ``services`` are only in ``_source``. A
  rule or filter naming one is refused at load with the list of searchable fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from collector.event import SCHEMA_VERSION
from collector.store import fields

TEXT_KEYWORD_IGNORE_ABOVE = 1024
DATE_FORMAT = "strict_date_optional_time||epoch_millis"
# OpenSearch parses dates with java.time, whose optional sections took 12-14% of its
# indexing thread (JFR, OpenSearch 2.19, bench events; Elasticsearch 8.14+ parses the format
# above by hand). Its hand-written ``rfc3339_lenient`` (2.12+) is fast, but only alone: in a
# ``||`` list it parses, is then passed over and the next format parses again. Alone it
# refuses what the format above also takes (epoch numbers; "2024-03-04T10:00" in a query),
# so only the dates kept in ``_source`` get it (no query can name them; midwatch writes every
# date with ``ms_to_iso``): the write threads' CPU an event -6-7% on OpenSearch 2.19 and 3.3.
# A mapping update never carries those fields (``for_existing_indices``), so indices of either
# format live side by side; templates already at this schema keep the old one until the next.
FAST_DATE_FORMAT = "rfc3339_lenient"
OPENSEARCH_FAST_DATES = (2, 12)
# The searched dates on OpenSearch (issue 28): the same list behind one exact pattern of what
# ``ms_to_iso`` writes. OpenSearch tries a ``||`` list in order and takes the first that
# parses, and the java.time parse of ``strict_date_optional_time``'s optional sections is
# what costs (4.0-5.3 us a date on 2.19 and 3.3, Elasticsearch 8.19's hand-written one
# 0.17-0.19 us); the exact pattern first takes 0.30-0.44 of that. It changes no query: a
# string the pattern takes, strict_date_optional_time takes too, as the same instant, and it
# prints a date as strict_date_optional_time does (``Z``, or ``+01:00`` in a query's
# time_zone), which is what ``key_as_string`` and ``fields`` show. Checked in OpenSearch's
# own DateFormatter (2.19.4, 3.3.2) on 22 query strings, rounded up and down, in UTC and
# Europe/Berlin: the same instants and refusals. Elasticsearch keeps the plain list: its
# fast path is that format alone (a pattern in front of it costs x6-8 there). It came in at
# schema 3 without a bump: an install whose templates are at schema 3 already keeps the old
# formats (setup skips templates at the current schema) until the next schema, and an existing
# index keeps its dates' format for good (``for_existing_indices``).
OPENSEARCH_DATE_FORMAT = "uuuu-MM-dd'T'HH:mm:ss.SSSXXX||" + DATE_FORMAT
TEMPLATE_PRIORITY = 200
DEFAULT_PREFIX = "midwatch"  # store.elasticsearch.index_prefix when not set
_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class IndexNames:
    """Every name one deployment uses. ``events``/``deadletter`` are read aliases over the
    daily ``{prefix}-events-YYYY.MM.DD`` / ``{prefix}-deadletter-YYYY.MM.DD`` indices."""

    prefix: str
    events: str
    traces: str
    alerts: str
    deadletter: str
    state: str

    @property
    def events_pattern(self) -> str:
        """The pattern Grafana's datasource and the template match (daily indices)."""
        return f"{self.events}-*"

    @property
    def deadletter_pattern(self) -> str:
        return f"{self.deadletter}-*"

    def for_index(self, index: str) -> str:
        """The name to search for a ``MetricQuery.index`` value."""
        return getattr(self, index)


def normalize_prefix(prefix: str) -> str:
    """``midwatch`` and ``midwatch-`` name the same deployment; reject names ES would refuse."""
    p = prefix.strip().rstrip("-")
    if not _PREFIX_RE.match(p):
        raise ValueError(
            f"index prefix {prefix!r} is not usable: use lowercase letters, digits, '-', '_' "
            "or '.', not starting with '-', '_' or '.'"
        )
    return p


def index_names(prefix: str = "midwatch") -> IndexNames:
    p = normalize_prefix(prefix)
    return IndexNames(
        prefix=p,
        events=f"{p}-events",
        traces=f"{p}-traces",
        alerts=f"{p}-alerts",
        deadletter=f"{p}-deadletter",
        state=f"{p}-state",
    )


@lru_cache(maxsize=256)
def _day_suffix(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y.%m.%d")


def daily(base: str, ms: int) -> str:
    """``base-YYYY.MM.DD`` for the UTC day of ``ms`` (retention deletes whole days)."""
    return f"{base}-{_day_suffix(ms // 86_400_000)}"


def _field_mapping(spec: fields.FieldSpec, source_dates: str, searched_dates: str) -> dict:
    if spec.keep == "source":
        # Typed (``_field_caps`` and a reader of the mapping see what it holds) but nothing
        # indexed: no terms, no doc values, no norms.
        if spec.type == "text":
            return {"type": "text", "index": False, "norms": False}
        if spec.type == "date":
            return {"type": "date", "format": source_dates, "index": False, "doc_values": False}
        return {"type": spec.type, "index": False, "doc_values": False}
    if spec.type == "text":
        return {
            "type": "text",
            "norms": False,
            "fields": {
                "keyword": {"type": "keyword", "ignore_above": TEXT_KEYWORD_IGNORE_ABOVE}
            },
        }
    if spec.type == "date":
        return {"type": "date", "format": searched_dates}
    if spec.keep == "sort":
        return {"type": spec.type, "index": False}
    return {"type": spec.type}


def _properties(schema: dict[str, fields.FieldSpec], source_dates: str = DATE_FORMAT,
                searched_dates: str = DATE_FORMAT) -> dict:
    """Dotted field names -> nested ``properties`` objects."""
    root: dict = {}
    for name, spec in schema.items():
        node = root
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = _field_mapping(spec, source_dates, searched_dates)
    return root


# OpenSearch: an open map's keys are mapped as they arrive, every leaf a keyword whatever its
# JSON type (as ``flattened`` indexes them), so grouping and filtering on ``labels.<key>``
# behave as on Elasticsearch. The price is a mapping that grows with the distinct keys the
# sources send (not their values); ``OPEN_MAP_FIELDS`` bounds it well above what the parsers
# and probes write, and a document past it is refused by the store and dead-lettered.
OPEN_MAP_FIELDS = 5000
_LEAF_TYPES = ("string", "date", "long", "double", "boolean")  # date: a detected date string


def open_map(product: str) -> dict:
    """The mapping of an open-keyed map (``labels``) per engine."""
    if product == "opensearch":
        return {"type": "object", "dynamic": True}
    return {"type": "flattened", "ignore_above": TEXT_KEYWORD_IGNORE_ABOVE}


def source_date_format(product: str, version: tuple[int, int] | None = None) -> str:
    """The format of dates kept in ``_source`` on ``product`` at ``version`` (major, minor;
    None: a version CI tests)."""
    if product == "opensearch" and (version is None or version >= OPENSEARCH_FAST_DATES):
        return FAST_DATE_FORMAT
    return DATE_FORMAT


# The engine's words when a label key would be both a value and an object (OpenSearch).
_LABEL_CLASH = re.compile(r"\[labels\.([^\]]+)\]")


def explain_refusal(reason: str) -> str:
    """``reason`` (an event the engine refused), with what to do when it is OpenSearch
    refusing a label key that is both a value and the prefix of another key (``a`` and
    ``a.b``, in one event or across a day's events). Each label key is a field there, and a
    field is a value or an object, never both; ``flattened`` (Elasticsearch) has no such
    limit, and no mapping OpenSearch 2.19/3.3 accepts keeps ``labels.a`` and ``labels.a.b``
    both queryable (``disable_objects`` is newer), so the event is dead-lettered, saying so."""
    found = _LABEL_CLASH.search(reason)
    if not found or not ("object" in reason.lower() or "field's value: '{" in reason):
        return reason
    key = found.group(1)
    return (f"{reason} (label {key!r} is a value in one place and holds other labels "
            f"('{key}.<name>') in another, in this event or an earlier one of the same day's "
            f"index; OpenSearch stores each label key as a field, which cannot be both: rename "
            f"the value where the source sets it, e.g. to '{key}.value')")


def _open_map_templates(names: tuple[str, ...]) -> list[dict]:
    """OpenSearch's dynamic templates: every leaf under an open map is a keyword."""
    return [{f"{name}_{kind}": {
        "path_match": f"{name}.*", "match_mapping_type": kind,
        "mapping": {"type": "keyword", "ignore_above": TEXT_KEYWORD_IGNORE_ABOVE}}}
        for name in names for kind in _LEAF_TYPES]


def _mappings(index: str, product: str = "elasticsearch",
              version: tuple[int, int] | None = None) -> dict:
    props = _properties(fields.SCHEMAS[index], source_date_format(product, version),
                        OPENSEARCH_DATE_FORMAT if product == "opensearch" else DATE_FORMAT)
    for name in fields.OPEN_MAPS[index]:
        props[name] = open_map(product)
    mapping: dict = {"dynamic": False, "properties": props}
    templates: list[dict] = []
    if product == "opensearch":
        templates = _open_map_templates(fields.OPEN_MAPS[index])
    if index == "traces":
        props["hops"] = {"type": "object", "enabled": False}
    if index == "alerts":
        # Alert documents are the rule engine's; type their other fields by value, strings
        # as keywords (they are rule names, states, dedup keys).
        mapping["dynamic"] = True
        templates.append(
            {"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}})
    if templates:
        mapping["dynamic_templates"] = templates
    return {"_meta": {"schema_version": SCHEMA_VERSION, "managed_by": "midwatch"}, **mapping}


STATE_MAPPINGS = {
    "_meta": {"schema_version": SCHEMA_VERSION, "managed_by": "midwatch"},
    "dynamic": False,
    "properties": {
        "namespace": {"type": "keyword"},
        "key": {"type": "keyword"},
        "updated_at": {"type": "date"},
        "doc": {"type": "object", "enabled": False},
    },
}


def templates(
    prefix: str = "midwatch", *, replicas: int | None = None, busy_refresh: str = "5s",
    product: str = "elasticsearch", version: tuple[int, int] | None = None,
) -> dict[str, dict]:
    """Composable index templates by name, ready for ``PUT _index_template/<name>``, for
    ``product`` at ``version`` (major, minor; None: a version CI tests).

    ``busy_refresh`` trades search freshness for indexing speed on the two indices written
    per event, events and traces. Traces are searched (the correlator looks IDs up), which
    keeps the index from going search-idle, so at the default 1 s it refreshed every second
    and merged the small segments that left: 5 s cut Elasticsearch's CPU per event with
    correlation by a quarter (bench/e2e_bench.py). The correlator finds its own recent
    writes without a refresh: by key, in real time, and by the IDs it remembers of traces it
    dropped from memory. ``midwatch run`` refreshes when it stops.
    """
    names = index_names(prefix)

    def settings(refresh: str | None = None) -> dict:
        s: dict = {"number_of_shards": 1}
        if product == "opensearch":
            s["mapping.total_fields.limit"] = OPEN_MAP_FIELDS
        if replicas is not None:
            s["number_of_replicas"] = replicas
        else:
            # One copy more where there is a node for it, none on a single node, where the
            # default replica could never be placed and left every index (and the cluster)
            # yellow for good: what the health board and doctor report. Costs no writes.
            s["auto_expand_replicas"] = "0-1"
        if refresh:
            s["refresh_interval"] = refresh
        return s

    def template(patterns: list[str], mappings: dict, alias: str | None = None,
                 refresh: str | None = None) -> dict:
        body: dict = {"settings": settings(refresh), "mappings": mappings}
        if alias:
            body["aliases"] = {alias: {}}
        return {
            "index_patterns": patterns,
            "priority": TEMPLATE_PRIORITY,
            "version": SCHEMA_VERSION,
            "_meta": {"schema_version": SCHEMA_VERSION, "managed_by": "midwatch"},
            "template": body,
        }

    return {
        names.events: template([names.events_pattern], _mappings("events", product, version), names.events,
                               busy_refresh),
        names.deadletter: template([names.deadletter_pattern], _mappings("deadletter", product, version),
                                   names.deadletter),
        names.traces: template([names.traces], _mappings("traces", product, version), refresh=busy_refresh),
        names.alerts: template([names.alerts], _mappings("alerts", product, version)),
        names.state: template([names.state], STATE_MAPPINGS),
    }


# The dates of every index since schema 1 (``fields.SCHEMAS`` then), by dotted name: an
# index made then has them in ``DATE_FORMAT``, and no mapping update changes a date's format.
# A date added since is left to the update, in the template's format (an older index does not
# have it yet). tests/unit/store/test_engines.py pins each index's dates: a new one must be
# added there, and here only if it was in schema 1.
SCHEMA_1_DATES = frozenset({"@timestamp", "event.ingested", "started_at", "ended_at",
                            "last_seen"})


def for_existing_indices(mappings: dict, product: str = "elasticsearch") -> dict:
    """``mappings`` as ``PUT _mapping`` may apply to indices made by an older template: without
    the fields kept unindexed (``index: false``), which such an index may have indexed and
    neither engine lets a mapping update un-index. They stay indexed there until the index
    ages out; new daily indices get the template's. Without the dates of ``SCHEMA_1_DATES``
    in another format than the default either (OpenSearch's): such an index has them in that
    one. On OpenSearch also without the open maps: an index made before schema 3 has them
    as ``flat_object``, which no update turns into an object (the store warns about those
    indices, see ``flat_object_indices``)."""
    kept_open = open_map(product) if product == "opensearch" else None

    def lean(props: dict, parent: str) -> dict:
        return {name: ({**m, "properties": lean(m["properties"], f"{parent}{name}.")}
                       if "properties" in m else m)
                for name, m in props.items() if m.get("index") is not False and m != kept_open
                and (f"{parent}{name}" not in SCHEMA_1_DATES
                     or m.get("format", DATE_FORMAT) == DATE_FORMAT)}

    return {**mappings, "properties": lean(mappings["properties"], "")}


def flat_object_indices(mappings_by_index: dict) -> list[str]:
    """Indices (from ``GET <pattern>/_mapping``) whose open maps are still ``flat_object``:
    OpenSearch cannot group or filter on their labels (midwatch before schema 3)."""
    return sorted(index for index, body in mappings_by_index.items()
                  if any((body["mappings"].get("properties") or {}).get(name, {}).get("type")
                         == "flat_object" for name in ("labels", "annotations")))


def field_name(index: str, field: str, *, exact: bool) -> str:
    """The ES field to query: text fields answer equality/terms on their keyword sub-field."""
    if exact and fields.spec(index, field).type == "text":
        return f"{field}.keyword"
    return field
