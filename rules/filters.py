"""Rule filters: a YAML mapping and a documented query-string subset, both to store Filters.

Mapping form (all conditions AND-ed)::

    filter:
      midwatch.platform: mulesoft            # equals
      log.level: [error, fatal]              # any of
      midwatch.flow: {prefix: "o2c-"}        # starts with
      event.duration: {gte: 1000, lt: 5000}  # range, lower inclusive, upper exclusive
      error.code: {exists: true}             # present (false: absent)
      event.outcome: {not: success}          # not equal (a list: none of)
      message: {contains: timeout}           # word / substring

Query-string subset (``query:``), Lucene-like so it reads like a Kibana search; terms are
AND-ed (``AND`` may be written or left out)::

    field:value   field:"two words"   field:pre*   field:(a OR b)   field:[10 TO 20]
    field:[10 TO *]   _exists_:field   NOT field:value   -field:value

Anything else (top-level OR, grouping across fields, fuzzy or regex terms) is refused with the
position, because a silently different reading of an alert filter pages the wrong people.
"""

from __future__ import annotations

import re
from typing import Any

from collector.config_values import Section
from collector.store.base import Filter
from rules.fields import FieldError, check_field

_OPS = ("prefix", "gte", "lt", "exists", "not", "contains")
_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<neg>NOT\s+|-)?
      (?P<field>[A-Za-z_@][\w.@-]*):
      (?: "(?P<quoted>(?:[^"\\]|\\.)*)"
        | \((?P<group>[^)]*)\)
        | \[(?P<lo>\S+)\s+TO\s+(?P<hi>\S+)\]
        | (?P<word>[^\s()\[\]"]+) )
    | (?P<and>AND)(?=\s)
    )""",
    re.VERBOSE,
)


def from_mapping(index: str, data: Any) -> tuple[tuple[str, Filter], ...]:
    """(field, Filter) pairs; FieldError names the problem, the caller adds the position."""
    if not isinstance(data, dict):
        raise FieldError("expected a mapping of field: condition",
                         "e.g. {midwatch.flow: o2c, log.level: [error, fatal]}")
    out = []
    for name, cond in data.items():
        check_field(index, name)
        out.extend((name, f) for f in _conditions(index, name, cond))
    return tuple(out)


def _conditions(index: str, name: str, cond: Any) -> list[Filter]:
    if isinstance(cond, list):
        return [Filter(name, "in", tuple(typed(index, name, v) for v in cond))]
    if not isinstance(cond, dict):
        return [Filter(name, "eq", typed(index, name, cond))]
    unknown = [k for k in cond if k not in _OPS]
    if unknown:
        raise FieldError(f"unknown condition {unknown[0]!r} on {name}", f"expected one of {', '.join(_OPS)}")
    out = []
    if "prefix" in cond:
        out.append(Filter(name, "prefix", str(cond["prefix"])))
    if "gte" in cond or "lt" in cond:
        out.append(Filter(name, "range", (_bound(index, name, cond.get("gte")),
                                          _bound(index, name, cond.get("lt")))))
    if "exists" in cond:
        if not isinstance(cond["exists"], bool):
            raise FieldError(f"exists on {name} takes true or false")
        out.append(Filter(name, "exists", None, negate=not cond["exists"]))
    if "not" in cond:
        neg = _conditions(index, name, cond["not"])
        out.extend(Filter(f.field, f.op, f.value, negate=not f.negate) for f in neg)
    if "contains" in cond:
        out.append(Filter(name, "contains", str(cond["contains"])))
    return out


def typed(index: str, name: str, value: Any) -> Any:
    """Values as the field stores them, so ``event.duration: "500"`` compares as a number."""
    kind = check_field(index, name).type
    if kind in ("long", "integer"):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise FieldError(f"{name} is a number field; {value!r} is not a number") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise FieldError(f"{name} is true/false; got {value!r}")
    if kind == "date":
        raise FieldError(f"{name} is a date; rules filter time through window, not filter")
    return str(value)


def _bound(index: str, name: str, value: Any) -> Any:
    return None if value in (None, "*") else typed(index, name, value)


def from_query(index: str, text: str) -> tuple[Filter, ...]:
    """Parse the query-string subset; FieldError says at which character it stopped."""
    out: list[Filter] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        while text[pos].isspace():
            pos += 1
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise FieldError(
                f"cannot read the query at character {pos + 1}: {text[pos:pos + 20]!r}",
                "supported: field:value, field:\"a b\", field:pre*, field:(a OR b), "
                "field:[lo TO hi], _exists_:field, NOT/-, AND",
            )
        pos = m.end()
        if m["and"]:
            continue
        out.append(_term(index, m))
    if not out:
        raise FieldError("empty query", "write field:value terms or remove query")
    return tuple(out)


def _term(index: str, m: re.Match) -> Filter:
    negate = bool(m["neg"])
    name = m["field"]
    if name == "_exists_":
        target = m["word"] or ""
        check_field(index, target)
        return Filter(target, "exists", None, negate=negate)
    check_field(index, name)
    if m["quoted"] is not None:
        return Filter(name, "eq", typed(index, name, re.sub(r"\\(.)", r"\1", m["quoted"])), negate)
    if m["group"] is not None:
        values = [v.strip().strip('"') for v in re.split(r"\s+OR\s+", m["group"].strip())]
        if any(not v or " " in v for v in values):
            raise FieldError(f"{name}:({m['group']}) must be values joined by OR")
        return Filter(name, "in", tuple(typed(index, name, v) for v in values), negate)
    if m["lo"] is not None:
        return Filter(name, "range", (_bound(index, name, m["lo"]), _bound(index, name, m["hi"])),
                      negate)
    word = m["word"]
    if word.endswith("*") and "*" not in word[:-1] and len(word) > 1:
        return Filter(name, "prefix", word[:-1], negate)
    if any(c in word for c in "*?~"):
        raise FieldError(f"{name}:{word}: only a trailing * (prefix) is supported")
    return Filter(name, "eq", typed(index, name, word), negate)


def parse_filter(s: Section, key: str, index: str) -> tuple[Filter, ...]:
    """``key`` of section ``s`` as filters (mapping or query string), errors at its position."""
    value = s.raw(key)
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            return from_query(index, value)
        except FieldError as exc:
            raise s.error(key, exc.message, exc.hint) from None
    if not isinstance(value, dict):
        raise s.error(key, "expected a mapping of field: condition or a query string",
                      "e.g. {midwatch.flow: o2c} or 'midwatch.flow:o2c AND log.level:error'")
    out: list[Filter] = []
    for name, cond in value.items():
        try:
            out.extend(f for _, f in from_mapping(index, {name: cond}))
        except FieldError as exc:
            raise s.doc.error((*s.path, key, name), exc.message, exc.hint) from None
    return tuple(out)
