"""``rules explain``: why was I (not) paged? One rule at one time, group by group.

For each group: the queries and the value they gave, the bound, the alert's stored state and
its pending/``for`` progress, the mute windows, silences (id, comment) and inhibition that
matched, the notifiers chosen and every delivery attempt the outbox holds with the
receiver's answer. The same document answers ``GET /api/rules/{name}/explain``.

Reads only: the engine runs without persisting and without a notifier, from the state the
evaluator stored, so explaining never changes what is paged.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from collector.event import ms_to_iso
from collector.store.base import MetricQuery, Store, StoreError
from collector.store.paging import outbox_for
from collector.yamlconf import did_you_mean
from rules import types
from rules.config import RulesConfig
from rules.engine import Engine
from rules.fields import group_labels
from rules.schema import Rule
from rules.silences import Silences, inhibitors, matches_all
from rules.state import FIRING, PENDING, dedup_key

DELIVERIES = 200  # outbox records read per explanation (newest first)


def parse_labels(text: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` -> {k: v, k2: v2}; ValueError naming the bad part."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"--labels: expected label=value, got {part!r}")
        out[name.strip()] = value.strip()
    return out


def _check_labels(rule: Rule, labels: dict[str, str]) -> None:
    """ValueError for a label the rule's alerts never carry (a typo would match no group and
    look like "nothing to evaluate")."""
    known = {*group_labels(dict.fromkeys(rule.group_by, "")), *dict(rule.labels), "rule",
             "severity", *getattr(types.get(rule.type), "EXTRA_LABELS", ())}
    for key in labels:
        if key not in known:
            raise ValueError(f"the alerts of {rule.name!r} carry no label {key!r}; "
                             + (did_you_mean(key, known) or
                                f"they carry {', '.join(sorted(known))}"))


def explain(config: RulesConfig, store: Store, name: str, at_ms: int,
            labels: dict[str, str] | None = None) -> dict:
    """The explanation document; KeyError (with a hint) when no rule has that name."""
    rule = next((r for r in config.rules if r.name == name), None)
    if rule is None:
        raise KeyError(did_you_mean(name, [r.name for r in config.rules])
                       or f"no rule named {name!r}")
    _check_labels(rule, labels or {})
    engine = Engine(config, store, persist=False)
    engine.restore(at_ms)
    stored = {k: a for k, a in engine.alerts.items() if a.rule == name}
    samples, failed, _ = engine.samples([rule], at_ms) if rule.enabled else ({}, {}, 0)
    silences = Silences(store).all(at_ms)
    firing = [(a.key, {**a.labels, "rule": a.rule, "severity": a.severity})
              for a in engine.alerts.values() if a.state == FIRING]
    deliveries = _deliveries(store, name)
    groups: dict[str, dict] = {}
    for sample in samples.get(name, []):
        group = {**group_labels(sample.group), **dict(rule.labels)}
        key = dedup_key(name, group)
        alert = stored.get(key)
        # As the engine decides: an open alert stays on ``current`` (an anomaly held by
        # buckets that bring no recovery, however long ago it fired; a sliding window).
        now = sample.current if sample.current is not None and alert is not None \
            and alert.state in (PENDING, FIRING) else sample
        groups[key] = {"labels": group, "value": now.value, "breaching": now.active,
                       "held": (now.context.get("held") or "its condition still holds")
                       if now.active and not sample.active else None,
                       "context": _plain(now.context)}
    for key, alert in stored.items():
        groups.setdefault(key, {"labels": alert.labels, "value": None, "breaching": False,
                                "held": None, "context": {}})
    out_groups = []
    for key, g in sorted(groups.items(), key=lambda kv: sorted(kv[1]["labels"].items())):
        full = {**g["labels"], "rule": name, "severity": rule.severity}
        if labels and any(full.get(k) != v for k, v in labels.items()):
            continue
        alert = stored.get(key)
        g.update(
            dedup_key=key,
            state=alert.state if alert else "inactive",
            active_since=ms_to_iso(alert.active_since_ms) if alert else None,
            fired=ms_to_iso(alert.fired_ms) if alert and alert.fired_ms else None,
            last_notified=(ms_to_iso(alert.last_notified_ms)
                           if alert and alert.last_notified_ms else None),
            for_progress=_for_progress(rule, alert, at_ms),
            muted=rule.muted(at_ms),
            silences=[{"id": s.id, "comment": s.comment, "by": s.created_by,
                       "active": s.active(at_ms), "until": ms_to_iso(s.ends_ms),
                       "matchers": [str(m) for m in s.matchers]}
                      for s in silences if matches_all(s.matchers, full)],
            inhibited_by=list(inhibitors(key, full, firing, config.inhibit)),
            notifiers=list(config.notifiers_of(rule)),
            deliveries=[d for d in deliveries if d["dedup_key"] == key],
        )
        out_groups.append(g)
    return {
        "rule": name, "type": rule.type, "severity": rule.severity, "enabled": rule.enabled,
        "at": ms_to_iso(at_ms), "window_ms": rule.window_ms, "for_ms": rule.for_ms,
        "bound": _bound(rule), "origin": rule.origin,
        "queries": [_query(q) for q in types.get(rule.type).queries(rule, at_ms)],
        "failed": failed.get(name), "mute_windows": len(rule.mute),
        "groups": out_groups,
    }


def _bound(rule: Rule) -> dict:
    spec = rule.spec
    return {k: getattr(spec, k) for k in ("above", "below", "threshold", "factor")
            if getattr(spec, k, None) is not None}


def _for_progress(rule: Rule, alert, at_ms: int) -> str | None:
    if alert is None or alert.state not in (PENDING, FIRING):
        return None
    held = at_ms - alert.active_since_ms
    return f"{held // 1000}s of {rule.for_ms // 1000}s" if rule.for_ms else "no for: fires at once"


def _query(q: MetricQuery) -> str:
    where = " and ".join(f"{'not ' if f.negate else ''}{f.field} {f.op} {f.value!r}"
                         for f in q.filters) or "everything"
    agg = q.agg.kind + (f"({q.agg.field})" if q.agg.field else "")
    by = f" by {', '.join(q.group_by)}" if q.group_by else ""
    return (f"{agg} of {q.index} where {where}{by} "
            f"from {ms_to_iso(q.start_ms)} to {ms_to_iso(q.end_ms)}")


def _deliveries(store: Store, rule: str) -> list[dict]:
    try:
        records = outbox_for(store).of_rule(rule, DELIVERIES)
    except StoreError as exc:
        return [{"dedup_key": None, "error": f"outbox unreadable: {exc}"}]
    return [{"dedup_key": r["key"], "notifier": r["notifier"], "action": r["action"],
             "state": r["state"], "created": ms_to_iso(r["created_ms"]),
             "attempts": r["attempts"], "last_error": r["last_error"],
             "log": [{"at": ms_to_iso(a["at_ms"]), "ok": a["ok"], "answer": a["answer"]}
                     for a in r["log"]]} for r in records]


def _plain(context: dict) -> dict:
    return {k: v for k, v in context.items() if isinstance(v, str | int | float | bool | None)}


def _not_breaching(context: dict) -> str:
    """Why a group does not breach: too few events to judge (a ratio's ``min_events``), or
    its value within the bound."""
    total, least = context.get("total"), context.get("min_events")
    if isinstance(total, int) and isinstance(least, int) and total < least:
        return f"not judged: {total} events, min_events {least}"
    return "within bound"


def render(doc: dict) -> str:
    """The explanation as text for a person."""
    lines = [f"rule {doc['rule']} ({doc['type']}, {doc['severity']}"
             f"{'' if doc['enabled'] else ', disabled'}) at {doc['at']}  [{doc['origin']}]",
             f"  bound: {doc['bound'] or '-'}; window {doc['window_ms'] // 1000}s; "
             f"for {doc['for_ms'] // 1000}s"]
    lines += [f"  query: {q}" for q in doc["queries"]]
    if doc["failed"]:
        lines.append(f"  NOT EVALUATED: {doc['failed']}")
    if not doc["groups"]:
        lines.append("  no group: the queries found nothing to evaluate (or --labels matched none)")
    for g in doc["groups"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(g["labels"].items()))
        verdict = (f"held {g['state']}: {g['held']}" if g.get("held") else "breaching"
                   if g["breaching"] else _not_breaching(g["context"]))
        lines.append(f"group {{{labels}}}: value {g['value']} {g['context'].get('unit', '')} "
                     f"-> {verdict}; state {g['state']}"
                     + (f" (for: {g['for_progress']})" if g["for_progress"] else ""))
        if g["fired"]:
            lines.append(f"  fired {g['fired']}, last notified {g['last_notified'] or 'never'}")
        for s in g["silences"]:
            lines.append(f"  {'SILENCED' if s['active'] else 'silence (not active)'} by {s['id']}"
                         f" until {s['until']}: {s['comment']!r} ({s['by']})")
        for src in g["inhibited_by"]:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(src.items()) if k != "rule")
            lines.append(f"  INHIBITED by firing {src.get('rule')} {{{shown}}} (rules.inhibit)")
        if g["muted"]:
            lines.append("  MUTED: inside a mute window of the rule")
        lines.append(f"  notifiers: {', '.join(g['notifiers']) or 'none'}")
        for d in g["deliveries"]:
            lines.append(f"  delivery {d['notifier']} {d['action']}: {d['state']} after "
                         f"{d['attempts']} attempt(s)")
            lines += [f"    {a['at']}  {'ok' if a['ok'] else 'FAILED'}  {a['answer']}"
                      for a in d["log"]]
    return "\n".join(lines)


def api_handler(config: RulesConfig, store: Store,
                clock: Callable[[], int]) -> Callable[[str, str], dict]:
    """``GET /api/rules/{name}/explain?at=...&labels=k=v,...`` for ``collector.api``
    (which must not import rules): KeyError for an unknown rule, ValueError for bad
    parameters."""
    from rules.ruletests import to_ms

    def handle(name: str, query: str) -> dict:
        params = dict(urllib.parse.parse_qsl(query))
        at = params.get("at")
        try:
            at_ms = clock() if at in (None, "now") else to_ms(int(at) if at.isdigit() else at)
        except ValueError:
            raise ValueError(f"at: expected ISO-8601, epoch ms or now; got {at!r}") from None
        return explain(config, store, name, at_ms, parse_labels(params.get("labels")))

    return handle
