"""Silences as code: ``silences:`` files, reviewed and versioned like rules, loaded beside the
silences ``midwatch silence add`` keeps in the store.

    silences:
      - matchers: [rule=sap-idoc-failures, flow=~"o2c|p2p"]
        schedule: Sat 22:00-Sun 04:00 Europe/Berlin    # every week; or starts/ends, or both
        comment: weekly SAP maintenance
        author: basis-team
      - matchers: [rule=edi-partner-silent]
        starts: 2026-12-24T00:00:00Z
        ends: 2026-12-27T00:00:00Z
        comment: partner closed over Christmas
        author: ana

A ``rule`` matcher must name a loaded rule (``=``, ``!=``) or match one (``=~``): a silence
whose rule was renamed would otherwise stop muting without anyone noticing. Every error of
every file is reported (file:line:col), not only the first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.config_values import Section
from collector.yamlconf import ConfigError, Doc, did_you_mean, load
from rules.loader import rule_files
from rules.silences import Matcher, Silence, parse_matcher
from rules.timewindows import Recurrence, parse_recurrence, to_ms

KEYS = ("matchers", "starts", "ends", "schedule", "timezone", "comment", "author")
NEVER_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z: a recurring silence with no end


@dataclass
class LoadedSilences:
    silences: list[Silence] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)


def load_silences(paths: Iterable[str | Path], rule_names: Iterable[str] | None) -> LoadedSilences:
    """Every silence of every file (files, or the *.yaml of directories); ``rule_names``
    (None: not checked) are the rules ``rule`` matchers may name."""
    out = LoadedSilences()
    names = None if rule_names is None else sorted(set(rule_names))
    for path in rule_files(paths):
        try:
            doc = load(path)
            items = Section(doc, (), doc.data, ("silences",)).raw("silences")
        except ConfigError as exc:
            out.errors.append(exc)
            continue
        if not isinstance(items, list):
            out.errors.append(doc.error(("silences",), "expected a list of silences",
                                        "silences: [- matchers: [...], schedule: ..., ...]"))
            continue
        for i, item in enumerate(items):
            silence, errors = parse_silence(doc, ("silences", i), item, names)
            out.errors += errors
            if silence is not None:
                out.silences.append(silence)
    return out


def parse_silence(doc: Doc, path: tuple, item: object, rule_names: list[str] | None
                  ) -> tuple[Silence | None, list[ConfigError]]:
    """One silence, or the errors of each of its keys (all of them, not the first)."""
    if not isinstance(item, dict):
        return None, [doc.error(path, "expected a silence (matchers, comment, author and "
                                      "starts/ends or schedule)")]
    unknown = [k for k in item if k not in KEYS]  # reported, and the known keys still checked
    errors = [doc.error((*path, k), "unknown key", did_you_mean(str(k), KEYS)
                        or f"expected one of {', '.join(KEYS)}") for k in unknown]
    s = Section(doc, path, item, (*KEYS, *unknown))

    def attempt(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except ConfigError as exc:
            errors.append(exc)
            return None

    texts = attempt(lambda: s.str_list("matchers", required=True)) or ()
    matchers = tuple(attempt(lambda j=j, text=text: _matcher(s, j, text, rule_names))
                     for j, text in enumerate(texts))
    comment = attempt(lambda: s.text("comment", required=True))
    author = attempt(lambda: s.text("author", required=True))
    before = len(errors)
    starts = attempt(lambda: _time(s, "starts"))
    ends = attempt(lambda: _time(s, "ends"))
    schedule = attempt(lambda: _schedule(s))
    if len(errors) == before:  # when the times themselves are right: do they make a span?
        if schedule is None and (starts is None or ends is None):
            errors.append(s.error("ends" if starts is not None else "starts",
                                  "a silence needs starts and ends, or a schedule",
                                  "e.g. schedule: Sat 22:00-Sun 04:00 Europe/Berlin"))
        elif starts is not None and ends is not None and ends <= starts:
            errors.append(s.error("ends", "ends before it starts"))
    if errors:
        return None, errors
    line, _ = doc.where(path)
    matcher_text = ",".join(str(m) for m in matchers)
    digest = hashlib.sha1(f"{doc.file}|{matcher_text}|{starts}|{ends}|"
                          f"{schedule.text if schedule else ''}".encode()).hexdigest()
    return Silence(f"f{digest[:11]}", matchers, 0 if starts is None else starts,
                   NEVER_MS if ends is None else ends, comment, author,
                   origin=f"{doc.file}:{line}", schedule=schedule), []


def _matcher(s: Section, j: int, text: str, rule_names: list[str] | None) -> Matcher:
    where = (*s.path, "matchers", j)
    try:
        m = parse_matcher(text)
    except ValueError as exc:
        raise s.doc.error(where, str(exc), "e.g. rule=o2c-failures or flow=~\"o2c|p2p\"") from None
    if m.name == "rule" and rule_names is not None:
        _check_rule(s.doc, where, m, rule_names)
    return m


def _check_rule(doc: Doc, where: tuple, m: Matcher, rule_names: list[str]) -> None:
    if m.op in ("=", "!=") and m.value not in rule_names:
        raise doc.error(where, f"unknown rule {m.value!r}",
                        did_you_mean(m.value, rule_names) or "a silence must name a loaded rule")
    if m.op == "=~" and not any(re.fullmatch(m.value, n) for n in rule_names):
        raise doc.error(where, f"{m.value!r} matches no loaded rule",
                        did_you_mean(m.value, rule_names) or "a silence must match a loaded rule")


def _time(s: Section, key: str) -> int | None:
    if not s.has(key):
        return None
    try:
        return to_ms(s.raw(key))
    except (TypeError, ValueError):
        raise s.error(key, f"expected a time like 2026-12-24T18:00:00Z, got {s.raw(key)!r}") from None


def _schedule(s: Section) -> Recurrence | None:
    text = s.text("schedule")
    if text is None:
        if s.has("timezone"):
            raise s.error("timezone", "applies to a schedule only", "add schedule: or remove it")
        return None
    try:
        return parse_recurrence(text, s.text("timezone", "UTC"))
    except ValueError as exc:
        raise s.error("schedule", str(exc)) from None
