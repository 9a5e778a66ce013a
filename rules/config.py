"""The ``rules:`` and ``notifiers:`` sections of the midwatch config file.

    rules:
      paths: [rules/, pack:kafka]     # files, directories, or shipped packs (rules/packs)
      interval: 30s                   # how often every rule is evaluated
      external_url: https://midwatch.example.com   # links in pages: traces, rule source
      notify: [oncall]                # notifiers for rules that name none
      lease_ttl: 15s                  # one evaluator among many processes: takeover < 2 x this
      retry_backoff: 1s               # first retry of a failed notification (doubles, jittered)
      retry_backoff_max: 5m           # ... up to this
      notification_expiry: 24h        # undelivered this long: expired, error event, self-alert
      silences: [silences/]           # silences as code (rules.silence_files), beside CLI-made ones
      outbox_retention: 7d            # finished outbox records: deleted this long after creation
      inhibit:                        # Alertmanager-style: mute targets a source explains
        - source_matchers: [rule=platform-down]
          target_matchers: [severity!=critical]
          equal: [platform]
    notifiers:
      oncall: {type: pagerduty, routing_key: ${PAGERDUTY_ROUTING_KEY}}
      ops-mail: {type: email, to: [ops@example.com]}
    smtp:                             # defaults for every email notifier (each may override)
      host: mail.example.com
      from: midwatch@example.com
      username: midwatch
      password: ${SMTP_PASSWORD}

(``inhibit`` sits under ``rules`` because the collector's config has no top-level section for
it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from collector.config_values import Section
from collector.knowledge import KnowledgeBase
from collector.knowledge import from_config as knowledge_from_config
from collector.yamlconf import ConfigError, Doc, UnsetSecret, did_you_mean
from rules import digest
from rules.loader import load_rules
from rules.notify import REGISTRY as NOTIFIER_TYPES
from rules.notify import alertmanager, email
from rules.notify.base import Notifier
from rules.notify.transport import Transport
from rules.outbox import Policy
from rules.schema import Rule
from rules.silence_files import load_silences
from rules.silences import InhibitRule, Silence, parse_inhibit

PACKS_DIR = Path(__file__).parent / "packs"
FALLBACK = "fallback"  # the optional notifier of the midwatch pack's self-alerts
SHORTHAND = "alertmanager"  # the top-level section that is a notifier of that name
RULES_KEYS = ("paths", "interval", "external_url", "notify", "inhibit", "queue_size",
              "max_examples", "lease_ttl", "retry_backoff", "retry_backoff_max",
              "notification_expiry", "silences", "outbox_retention")


@dataclass
class RulesConfig:
    rules: list[Rule] = field(default_factory=list)
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    interval_ms: int = 30_000
    external_url: str = ""
    notify: tuple[str, ...] = ()
    inhibit: tuple[InhibitRule, ...] = ()
    queue_size: int = 1000
    max_examples: int = 5
    lease_ttl_ms: int = 15_000
    delivery: Policy = field(default_factory=Policy)
    grouping: dict[str, digest.Grouping] = field(default_factory=dict)  # notifiers with group_by
    errors: list[ConfigError] = field(default_factory=list)
    knowledge: KnowledgeBase = field(default_factory=KnowledgeBase)  # annotates what fires
    silences: tuple[Silence, ...] = ()  # from silence files; CLI-made ones are in the store
    # What this was read from (config, rule, silence and knowledge files or directories):
    # the scheduler re-reads everything when any of them changes.
    sources: tuple[str, ...] = ()

    def notifiers_of(self, rule: Rule) -> tuple[str, ...]:
        return rule.notify if rule.notify is not None else self.notify


def resolve_path(entry: str) -> str:
    """``pack:kafka`` -> the shipped pack file; anything else is a path."""
    if entry.startswith("pack:"):
        return str(PACKS_DIR / f"{entry[5:]}.yaml")
    return entry


def load_rules_config(doc: Doc, *, sending: bool = False) -> RulesConfig:
    """Everything the rule engine needs from a loaded config file; ``errors`` lists every
    problem found (the first per rule or section), so validation reports them all at once.

    ``sending``: for what is about to notify (``run``, ``doctor``, ``notify test``): a
    notifier secret whose variable is not set is an error too. Without it such secrets stay
    unresolved, so silences, traces and listings work without every pager credential.
    """
    out = RulesConfig()
    try:
        _check_anomaly(doc)
        out.notifiers = load_notifiers(doc)
        out.grouping = load_grouping(doc, out.notifiers)
        if sending:
            out.errors += unset_secrets(out.notifiers)
        s = Section(doc, ("rules",), doc.data.get("rules"), RULES_KEYS)
        out.interval_ms = s.duration_ms("interval", "30s", minimum_ms=1000)
        out.external_url = (s.text("external_url", "") or "").rstrip("/")
        out.notify = _known(s, "notify", out.notifiers)
        if not s.has("notify") and SHORTHAND in out.notifiers:
            out.notify = (SHORTHAND,)
        inhibit = s.raw("inhibit", [])
        if not isinstance(inhibit, list):
            raise s.error("inhibit", "expected a list of {source_matchers, target_matchers, equal}")
        out.inhibit = tuple(
            parse_inhibit(Section(doc, ("rules", "inhibit", i), item,
                                  ("source_matchers", "target_matchers", "equal")))
            for i, item in enumerate(inhibit))
        out.queue_size = s.number("queue_size", 1000, minimum=1)
        out.max_examples = s.number("max_examples", 5, minimum=0)
        out.lease_ttl_ms = s.duration_ms("lease_ttl", "15s", minimum_ms=1000)
        out.delivery = Policy(s.duration_ms("retry_backoff", "1s", minimum_ms=10),
                              s.duration_ms("retry_backoff_max", "5m", minimum_ms=10),
                              s.duration_ms("notification_expiry", "24h", minimum_ms=1000),
                              s.duration_ms("outbox_retention", "7d", minimum_ms=60_000))
        paths = [resolve_path(p) for p in s.str_list("paths")]
        silence_paths = list(s.str_list("silences"))
    except ConfigError as exc:
        out.errors.append(exc)
        return out
    out.sources = _sources(doc, [*paths, *silence_paths])
    try:
        out.knowledge = knowledge_from_config(doc)
    except ConfigError as exc:
        out.errors.append(exc)
    for i, p in enumerate(paths):
        if not Path(p).exists():
            out.errors.append(doc.error(("rules", "paths", i), f"{p} does not exist",
                                        "give a rule file, a directory or pack:<name>"))
    for i, p in enumerate(silence_paths):
        if not Path(p).exists():
            out.errors.append(doc.error(("rules", "silences", i), f"{p} does not exist",
                                        "give a silence file or a directory of them"))
    loaded = load_rules([p for p in paths if Path(p).exists()], {*out.notifiers, FALLBACK})
    out.rules, out.errors = _fallback(loaded.rules, out), out.errors + loaded.errors
    silenced = load_silences([p for p in silence_paths if Path(p).exists()],
                             [r.name for r in loaded.rules])
    out.silences, out.errors = tuple(silenced.silences), out.errors + silenced.errors
    return out


def _sources(doc: Doc, paths: list[str]) -> tuple[str, ...]:
    """The config file, rule and silence paths, and the knowledge files (relative to the
    config's directory, as ``collector.knowledge`` reads them)."""
    knowledge = doc.data.get("knowledge") if isinstance(doc.data, dict) else None
    named = knowledge.get("paths") if isinstance(knowledge, dict) else None
    base = Path(doc.file).parent
    extra = [str(base / p) for p in ([named] if isinstance(named, str) else named or [])]
    own = [doc.file] if doc.file and not doc.file.startswith("<") else []
    return tuple(dict.fromkeys([*own, *paths, *extra]))


def _fallback(rules: list[Rule], config: RulesConfig) -> list[Rule]:
    """Rules that name the ``fallback`` notifier (the pack ``midwatch``'s "notifier failing")
    page it when configured, else the default notifiers: a failing PagerDuty must not be
    the only channel that reports itself failing, but without a fallback it still reports."""
    if FALLBACK in config.notifiers:
        return rules
    out = []
    for r in rules:
        if r.notify is not None and FALLBACK in r.notify:
            rest = tuple(n for n in r.notify if n != FALLBACK)
            r = replace(r, notify=tuple(dict.fromkeys((*rest, *config.notify))))
        out.append(r)
    return out


def _check_anomaly(doc: Doc) -> None:
    """The top-level ``anomaly:`` section holds nothing: anomaly settings are per rule."""
    raw = doc.data.get("anomaly")
    if raw:
        key = next(iter(raw)) if isinstance(raw, dict) else None
        raise doc.error(("anomaly", key) if key is not None else ("anomaly",),
                        "unknown key" if key is not None else "expected nothing here",
                        "anomaly settings are per rule: type: anomaly with bucket, history, "
                        "min_history, model_dir (rules/README.md)")


def unset_secrets(notifiers: dict[str, Notifier]) -> list[ConfigError]:
    """The load-time error of every notifier secret whose ${VAR} is not set."""
    out = []
    for n in notifiers.values():
        options = getattr(n, "options", None)
        for key in getattr(options, "__dataclass_fields__", {}):
            value = getattr(options, key)
            values = [v for pair in value for v in pair] if isinstance(value, tuple) else [value]
            out += [v.error for v in values if isinstance(v, UnsetSecret)]
    return out


def _known(s: Section, key: str, notifiers: dict) -> tuple[str, ...]:
    names = s.str_list(key)
    for i, name in enumerate(names):
        if name not in notifiers:
            raise s.doc.error((*s.path, key, i), f"unknown notifier {name!r}",
                              did_you_mean(name, notifiers) or
                              f"configured: {', '.join(sorted(notifiers)) or 'none'}")
    return names


def load_notifiers(doc: Doc) -> dict[str, Notifier]:
    raw = doc.data.get("notifiers") or {}
    if not isinstance(raw, dict):
        raise doc.error(("notifiers",), "expected a mapping of name: {type: ..., ...}")
    smtp = _smtp_defaults(doc)
    out = {}
    shorthand = doc.data.get(SHORTHAND)
    if shorthand is not None:
        # The top-level ``alertmanager:`` section is the notifier ``alertmanager`` (and the
        # default for rules when ``rules.notify`` names none).
        if SHORTHAND in raw:
            raise doc.error((SHORTHAND,), "a notifier named alertmanager is configured too",
                            "keep one: notifiers.alertmanager or the top-level section")
        keys = tuple(k for k in alertmanager.KEYS if k != "type")
        out[SHORTHAND] = alertmanager.Alertmanager(
            SHORTHAND, alertmanager.parse(Section(doc, (SHORTHAND,), shorthand, keys)))
    for name, item in raw.items():
        path = ("notifiers", name)
        kind = item.get("type") if isinstance(item, dict) else None
        if str(kind) not in NOTIFIER_TYPES:
            known = NOTIFIER_TYPES.names()
            raise doc.error((*path, "type"), f"unknown notifier type {kind!r}",
                            did_you_mean(str(kind), known) or f"expected one of {', '.join(known)}")
        try:
            module = NOTIFIER_TYPES.get(str(kind))
        except Exception as exc:  # a plug-in's import error: name it where it is configured
            raise doc.error((*path, "type"), f"notifier type {kind!r} "
                            f"({NOTIFIER_TYPES.origin(str(kind))}) cannot be imported: "
                            f"{type(exc).__name__}: {exc}", "reinstall the package") from None
        if kind == "email":
            item = {**smtp, **item}
        out[str(name)] = module.NOTIFIER(str(name), module.parse(
            Section(doc, path, item, (*module.KEYS, *digest.KEYS))))
    return out


def load_grouping(doc: Doc, notifiers: dict[str, Notifier]) -> dict[str, digest.Grouping]:
    """``group_by``/``group_wait``/``group_interval`` of each notifier (``rules.digest``)."""
    raw = doc.data.get("notifiers") or {}
    out = {}
    for name, n in notifiers.items():
        item = raw.get(name)
        if isinstance(item, dict):  # its other keys were checked by the notifier's parse
            keys = {k: v for k, v in item.items() if k in digest.KEYS}
            grouping = digest.parse(Section(doc, ("notifiers", name), keys, digest.KEYS), n.kind)
            if grouping is not None:
                out[name] = grouping
    return out


def _smtp_defaults(doc: Doc) -> dict[str, Any]:
    """The top-level ``smtp:`` section: one mail server shared by every email notifier.

    Without it each email notifier would repeat host, sender and credentials; with it a
    notifier names only its recipients. Keys are checked here so a typo fails at its own line.
    """
    raw = doc.data.get("smtp")
    if raw is None:
        return {}
    section = Section(doc, ("smtp",), raw, tuple(k for k in email.KEYS if k not in ("type", "to")))
    shared = dict(section.data)
    if "password" in shared:
        # Checked at its own key: a literal password in smtp: is refused there, not at the notifier.
        shared["password"] = section.secret("password")
    return shared


def describe_notifier(n: Notifier) -> dict:
    """What ``rules list`` shows: the type and non-secret options (secrets as their origin)."""
    options = getattr(n, "options", None)
    shown: dict[str, Any] = {"type": n.kind}
    for key in getattr(options, "__dataclass_fields__", {}):
        value = getattr(options, key)
        if isinstance(value, Transport):  # shown as its keys, when set (password hidden)
            shown.update((k, v) for k, v in value.shown().items() if v)
        elif value not in (None, (), ""):
            shown[key] = _plain(value)
    return shown


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return repr(value) if hasattr(value, "reveal") else value
