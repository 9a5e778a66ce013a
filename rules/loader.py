"""Rule files to ``Rule`` objects, with every mistake reported as file:line:column: key.

A rule file holds ``rules:`` (a list). Loading keeps going after a bad rule so that
``midwatch rules validate`` shows every broken rule in one run; the engine refuses to start
while any error remains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from collector.config_values import Section
from collector.store import metric_shape
from collector.yamlconf import ConfigError, Doc, did_you_mean, load
from rules import types
from rules.fields import FieldError, check_field, label_name
from rules.filters import parse_filter
from rules.schema import SEVERITIES, Rule
from rules.templates import TemplateError, compile_template
from rules.timewindows import KEYS as WINDOW_KEYS
from rules.timewindows import parse_window

COMMON_KEYS = (
    "name", "type", "description", "filter", "group_by", "window", "interval", "for",
    "severity", "labels", "annotations", "notify", "mute", "enabled", "repeat_interval",
    "send_resolved", "max_groups",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Any fixed time works to check a rule's queries: only their shape is validated.
_CHECK_AT_MS = 1_700_000_000_000


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
                result.errors.append(ConfigError(
                    str(path), None, rule_or_error.name,
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
        except ConfigError as exc:
            out.append(exc)
    return out


def parse_rule(doc: Doc, path: tuple, data: Any, notifiers: frozenset[str] | None) -> Rule:
    if not isinstance(data, dict):
        raise doc.error(path, "expected a rule (a mapping with name and type)")
    kind = data.get("type")
    if str(kind) not in types.REGISTRY:
        known = types.REGISTRY.names()
        raise doc.error((*path, "type"), f"unknown rule type {kind!r}",
                        did_you_mean(str(kind), known) or f"expected one of {', '.join(known)}")
    try:
        module = types.get(str(kind))
    except Exception as exc:  # a plug-in's import error: say which, keep validating the rest
        raise doc.error((*path, "type"), f"rule type {kind!r} ({types.REGISTRY.origin(str(kind))}) "
                        f"cannot be imported: {type(exc).__name__}: {exc}",
                        "reinstall the package or remove the rule") from None
    s = Section(doc, path, data, COMMON_KEYS + module.KEYS)
    name = s.text("name", required=True)
    if not _NAME_RE.match(name):
        raise s.error("name", f"rule name {name!r} has characters other than letters, digits, "
                      "., _ and -")
    spec = module.parse(s)
    index = module.index(spec)
    group_by = _group_by(s, index)
    line, _ = doc.where(path)
    rule = Rule(
        name=name,
        type=str(kind),
        spec=spec,
        window_ms=s.duration_ms("window", "5m", minimum_ms=1000),
        filters=parse_filter(s, "filter", index),
        group_by=group_by,
        interval_ms=s.duration_ms("interval", "0s", minimum_ms=0) or None,
        for_ms=s.duration_ms("for", "0s", minimum_ms=0),
        severity=s.choice("severity", SEVERITIES, "warning"),
        labels=_labels(s),
        notify=_notify(s, notifiers),
        mute=_mute(s),
        enabled=s.flag("enabled", True),
        repeat_interval_ms=s.duration_ms("repeat_interval", "4h", minimum_ms=60_000),
        send_resolved=s.flag("send_resolved", True),
        description=s.text("description", ""),
        max_groups=s.number("max_groups", 1000, minimum=1),
        origin=f"{doc.file}:{line}",
    )
    rule = _with_annotations(s, rule, module)
    if hasattr(module, "check"):
        module.check(rule, s)
    for q in module.queries(rule, _CHECK_AT_MS):
        try:
            metric_shape.validate(q)
        except ValueError as exc:
            raise s.error("type", f"the {kind} rule cannot be evaluated: {exc}") from None
    return rule


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


def _with_annotations(s: Section, rule: Rule, module: Any) -> Rule:
    raw = s.raw("annotations", {})
    if not isinstance(raw, dict):
        raise s.error("annotations", "expected a mapping like {summary: ..., runbook_url: ...}")
    variables = (*types.COMMON_VARIABLES, *module.CONTEXT)
    labels = ({label_name(f) for f in rule.group_by} | {k for k, _ in rule.labels}
              | set(getattr(module, "EXTRA_LABELS", ())))
    compiled = []
    for key, text in raw.items():
        if not isinstance(text, str):
            raise s.doc.error((*s.path, "annotations", key), "expected text")
        try:
            compiled.append((str(key), compile_template(text, variables, labels)))
        except TemplateError as exc:
            raise s.doc.error((*s.path, "annotations", key), exc.message, exc.hint) from None
    return replace(rule, annotations=tuple(compiled))
