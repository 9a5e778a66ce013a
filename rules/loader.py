"""Rule files to ``Rule`` objects, with every mistake reported as file:line:column: key.

A rule file holds ``rules:`` (a list). Loading keeps going after a bad rule, and after a bad
key of a rule, so that ``midwatch rules validate`` shows every mistake in one run; the engine
refuses to start while any error remains.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from collector.config_values import Section
from collector.store import metric_shape
from collector.yamlconf import ConfigError, Doc, did_you_mean, load
from rules import bands, flapping, types
from rules.fields import FieldError, check_field, label_name
from rules.filters import parse_filter
from rules.schema import SEVERITIES, Rule
from rules.templates import TemplateError, compile_template
from rules.timewindows import KEYS as WINDOW_KEYS
from rules.timewindows import parse_window

COMMON_KEYS = (
    "name", "type", "description", "filter", "group_by", "window", "interval", "for",
    "severity", "labels", "annotations", "notify", "mute", "enabled", "repeat_interval",
    "send_resolved", "max_groups", "query_delay", *bands.KEYS, "flap",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Any fixed time works to check a rule's queries: only their shape is validated.
_CHECK_AT_MS = 1_700_000_000_000
_FAILED = object()  # a type's settings that did not parse: what depends on them is skipped


@dataclass
class Loaded:
    rules: list[Rule] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the *.yaml / *.yml directly inside directories named."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file())
        else:
            out.append(p)
    return out


def load_rules(paths: Iterable[str | Path], notifiers: Iterable[str] | None = None) -> Loaded:
    """Every rule of every file; ``notifiers`` (None: not checked) are the names rules may use."""
    result = Loaded()
    seen: dict[str, str] = {}
    known = None if notifiers is None else frozenset(notifiers)
    for path in rule_files(paths):
        try:
            doc = load(path)
        except ConfigError as exc:
            result.errors.append(exc)
            continue
        for rule_or_error in _rules_of(doc, known):
            if isinstance(rule_or_error, ConfigError):
                result.errors.append(rule_or_error)
            elif rule_or_error.name in seen:
                line = rule_or_error.origin.rpartition(":")[2]
                result.errors.append(ConfigError(
                    str(path), int(line) if line.isdigit() else None, rule_or_error.name,
                    f"rule name already used at {seen[rule_or_error.name]}",
                    hint="rule names must be unique: they key alert state and silences"))
            else:
                seen[rule_or_error.name] = rule_or_error.origin
                result.rules.append(rule_or_error)
    return result


def _rules_of(doc: Doc, notifiers: frozenset[str] | None) -> list[Rule | ConfigError]:
    try:
        top = Section(doc, (), doc.data, ("rules",))
    except ConfigError as exc:
        return [exc]
    items = top.raw("rules")
    if not isinstance(items, list):
        return [doc.error(("rules",), "expected a list of rules", "rules: [- name: ..., type: ...]")]
    out: list[Rule | ConfigError] = []
    for i, item in enumerate(items):
        try:
            out.append(parse_rule(doc, ("rules", i), item, notifiers))
        except RuleErrors as exc:
            out += exc.errors
        except ConfigError as exc:
            out.append(exc)
    return out


class RuleErrors(ConfigError):
    """Every mistake found in one rule; it reads as the first, ``errors`` holds them all."""

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        super().__init__(first.file, first.line, first.key, first.message, col=first.col,
                         hint=first.hint)
        self.errors = errors


class _Checks:
    """Runs each read of a rule and keeps its error instead of stopping at it, so one
    ``rules validate`` run lists every mistake of every rule (a key that failed reads as its
    default, or as None when later reads depend on it and are skipped)."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def __call__(self, read: Callable[[], Any], default: Any = None) -> Any:
        try:
            return read()
        except RuleErrors as exc:
            self.errors += exc.errors
        except ConfigError as exc:
            self.errors.append(exc)
        return default


def parse_rule(doc: Doc, path: tuple, data: Any, notifiers: frozenset[str] | None) -> Rule:
    """The rule at ``path``; raises ``RuleErrors`` with every mistake found in it."""
    if not isinstance(data, dict):
        raise doc.error(path, "expected a rule (a mapping with name and type)")
    check = _Checks()
    kind = data.get("type")
    try:
        module: Any = types.get(str(kind))
    except KeyError:
        known = types.REGISTRY.names()
        check.errors.append(doc.error((*path, "type"), f"unknown rule type {kind!r}", did_you_mean(
            str(kind), known) or f"expected one of {', '.join(known)}"))
        module = None
    except Exception as exc:  # a plug-in's import error: say which, keep validating the rest
        check.errors.append(doc.error(
            (*path, "type"), f"rule type {kind!r} ({types.REGISTRY.origin(str(kind))}) "
            f"cannot be imported: {type(exc).__name__}: {exc}",
            "reinstall the package or remove the rule"))
        module = None
    allowed = COMMON_KEYS + (module.KEYS if module else _keys_of_every_type())
    known = {}
    for key, value in data.items():
        if key in allowed:
            known[key] = value
        else:
            check.errors.append(doc.error((*path, key), "unknown key", did_you_mean(
                str(key), allowed) or f"expected one of {', '.join(allowed)}"))
    s = Section(doc, path, known, allowed if module else known)
    name = check(lambda: _name(s), "")
    band = check(lambda: bands.parse(s, module.KEYS), _FAILED) if module else None
    if band not in (None, _FAILED) and band.levels:  # the lowest band is the type's bound
        known.update((k, v) for k, v in zip(bands.BAND_KEYS, bands.firing_bound(band),
                                              strict=True) if v is not None)
    # Without its bands a banded rule has no bound: the type's "above is required" would
    # only repeat the band's error.
    banded = any(s.has(level) for level in bands.LEVELS)
    spec = (check(lambda: module.parse(s), _FAILED)
            if module and not (band is _FAILED and banded) else _FAILED)
    index = None if spec is _FAILED else module.index(spec)
    # _FAILED when the groups are unknown (type or group_by in error): the annotations are
    # still compiled, only their labels are not checked, so one mistake is not reported
    # again as "unknown label".
    group_by = check(lambda: _group_by(s, index), _FAILED) if index is not None else _FAILED
    line, _ = doc.where(path)
    rule = Rule(
        name=name,
        type=str(kind),
        spec=spec,
        window_ms=check(lambda: s.duration_ms("window", "5m", minimum_ms=1000), 300_000),
        filters=check(lambda: parse_filter(s, "filter", index), ()) if index is not None else (),
        group_by=() if group_by is _FAILED else group_by,
        interval_ms=check(lambda: s.duration_ms("interval", "0s", minimum_ms=0) or None),
        for_ms=check(lambda: s.duration_ms("for", "0s", minimum_ms=0), 0),
        severity=check(lambda: s.choice("severity", SEVERITIES, "warning"), "warning"),
        labels=check(lambda: _labels(s), ()),
        notify=check(lambda: _notify(s, notifiers)),
        mute=check(lambda: _mute(s), ()),
        enabled=check(lambda: s.flag("enabled", True), True),
        repeat_interval_ms=check(
            lambda: s.duration_ms("repeat_interval", "4h", minimum_ms=60_000), 4 * 3_600_000),
        send_resolved=check(lambda: s.flag("send_resolved", True), True),
        description=check(lambda: s.text("description", ""), ""),
        max_groups=check(lambda: s.number("max_groups", 1000, minimum=1), 1000),
        query_delay_ms=check(lambda: s.duration_ms("query_delay", "0s", minimum_ms=0), 0),
        bands=None if band is _FAILED else band,
        flap=check(lambda: flapping.parse(s)),
        origin=f"{doc.file}:{line}",
    )
    if module is not None:
        rule = check(lambda: _with_annotations(s, rule, module, group_by is not _FAILED), rule)
    if check.errors:
        raise RuleErrors(sorted(check.errors, key=lambda e: (e.line or 0, e.col or 0)))
    if hasattr(module, "check"):
        module.check(rule, s)
    for q in module.queries(rule, _CHECK_AT_MS):
        try:
            metric_shape.validate(q)
        except ValueError as exc:
            raise s.error("type", f"the {kind} rule cannot be evaluated: {exc}") from None
    return rule


def _keys_of_every_type() -> tuple[str, ...]:
    """The keys any rule type takes: with the rule's type unknown (misspelt), a key none of
    them takes is still a typo worth its own error (``windw``), while one that belongs to some
    type is left to the type's error."""
    keys: dict[str, None] = {}
    for name in types.REGISTRY.names():
        try:
            keys.update(dict.fromkeys(types.get(name).KEYS))
        except Exception:  # a plug-in that cannot be imported: reported where a rule names it
            continue
    return tuple(keys)


def _name(s: Section) -> str:
    name = s.text("name", required=True)
    if not _NAME_RE.match(name):
        raise s.error("name", f"rule name {name!r} has characters other than letters, digits, "
                      "., _ and -")
    return name


def _group_by(s: Section, index: str) -> tuple[str, ...]:
    names = s.str_list("group_by")
    for i, name in enumerate(names):
        try:
            check_field(index, name, groupable=True)
        except FieldError as exc:
            raise s.doc.error((*s.path, "group_by", i), exc.message, exc.hint) from None
    return names


def _labels(s: Section) -> tuple[tuple[str, str], ...]:
    raw = s.raw("labels", {})
    if not isinstance(raw, dict):
        raise s.error("labels", "expected a mapping of label: value")
    for key, value in raw.items():
        if not _LABEL_RE.match(str(key)) or isinstance(value, dict | list):
            raise s.doc.error((*s.path, "labels", key), "labels are name: text",
                              "names use letters, digits and _")
    return tuple(sorted((str(k), str(v)) for k, v in raw.items()))


def _notify(s: Section, notifiers: frozenset[str] | None) -> tuple[str, ...] | None:
    if not s.has("notify"):
        return None
    names = s.str_list("notify")
    for i, name in enumerate(names):
        if notifiers is not None and name not in notifiers:
            raise s.doc.error((*s.path, "notify", i), f"unknown notifier {name!r}",
                              did_you_mean(name, notifiers)
                              or f"configured notifiers: {', '.join(sorted(notifiers)) or 'none'}")
    return names


def _mute(s: Section) -> tuple:
    raw = s.raw("mute", [])
    if not isinstance(raw, list):
        raise s.error("mute", "expected a list of time windows", "e.g. [{days: [sat, sun]}]")
    return tuple(parse_window(Section(s.doc, (*s.path, "mute", i), w, WINDOW_KEYS))
                 for i, w in enumerate(raw))


def _with_annotations(s: Section, rule: Rule, module: Any, groups_known: bool) -> Rule:
    raw = s.raw("annotations", {})
    if not isinstance(raw, dict):
        raise s.error("annotations", "expected a mapping like {summary: ..., runbook_url: ...}")
    variables = (*types.COMMON_VARIABLES, *module.CONTEXT)
    labels = (({label_name(f) for f in rule.group_by} | {k for k, _ in rule.labels}
               | set(getattr(module, "EXTRA_LABELS", ()))) if groups_known else None)
    compiled = []
    for key, text in raw.items():
        if not isinstance(text, str):
            raise s.doc.error((*s.path, "annotations", key), "expected text")
        try:
            compiled.append((str(key), compile_template(text, variables, labels)))
        except TemplateError as exc:
            raise s.doc.error((*s.path, "annotations", key), exc.message, exc.hint) from None
    return replace(rule, annotations=tuple(compiled))
