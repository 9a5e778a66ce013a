"""The known-issues knowledge base: what the team already knows about a recurring error, so
the next on-call engineer starts from the workaround instead of from zero.

Entries live in YAML files (``knowledge: {paths: [...]}`` in the config), validated like the
rules, with file:line:column errors::

    known_issues:
      - id: KI-12
        title: SAP gateway refuses connections during its nightly restart
        match:                           # every key given must hold (lists: any value)
          signature: d59d5c080076d65e    # midwatch.signature
          template: "(?i)connection refused.*sap-gw"   # regex on the masked message template
          error_class: connection
          flow: order-to-cash
          platform: boomi
          partner: GLOBEX
        symptoms: Boomi "Orders to ERP" fails with Connection refused for ~10 minutes.
        impact: Orders reach SAP up to 15 minutes late; none are lost (Boomi retries).
        workaround: Nothing to do if it clears by 02:20; else restart the SAP gateway.
        fix: {description: Move the restart to the maintenance window, status: in_progress,
              ticket: SAP-1234}
        runbook_url: https://wiki.example.com/runbooks/sap-gw
        owner: integration-team
        links: [https://jira.example.com/browse/SAP-1234]

Only failed events (outcome failure, or carrying an error signature) are matched, and an entry
must name at least one of signature, template or error_class: matching by flow alone would
file every failure of the flow under one issue. The first matching entry wins (file order).
A matched event carries the issue's id in ``labels.known_issue``, which the rules, the trace
view, the report and ``midwatch known-issues list`` read.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.config_values import Section
from collector.correlation.catalog import without_placeholders
from collector.event import Event
from collector.store.base import Store
from collector.trace import Trace
from collector.yamlconf import Doc, load

LABEL = "known_issue"
KEYS = ("id", "title", "match", "symptoms", "impact", "workaround", "fix", "runbook_url", "owner",
        "links")
MATCH_KEYS = ("signature", "template", "error_class", "flow", "platform", "partner")
FIX_KEYS = ("description", "status", "ticket")
FIX_STATUSES = ("open", "in_progress", "fixed", "wont_fix")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class KnownIssue:
    id: str
    title: str
    # (field, allowed values) for exact keys; the template regex apart
    exact: tuple[tuple[str, frozenset[str]], ...]
    template: re.Pattern | None
    symptoms: str = ""
    impact: str = ""
    workaround: str = ""
    fix: str = ""
    fix_status: str = "open"
    fix_ticket: str = ""
    runbook_url: str = ""
    owner: str = ""
    links: tuple[str, ...] = ()
    origin: str = ""

    def matches(self, values: dict[str, str | None], template: str | None) -> bool:
        if self.template is not None and not (template and self.template.search(template)):
            return False
        return all(values.get(key) in allowed for key, allowed in self.exact)


def _event_values(ev: Event) -> dict[str, str | None]:
    return {"signature": ev.signature, "error_class": ev.error_class, "flow": ev.flow,
            "platform": ev.platform, "partner": ev.partner}


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    issues: tuple[KnownIssue, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.issues)

    def get(self, issue_id: str) -> KnownIssue | None:
        return next((k for k in self.issues if k.id == issue_id), None)

    def match(self, values: dict[str, str | None], template: str | None) -> KnownIssue | None:
        return next((k for k in self.issues if k.matches(values, template)), None)

    def annotate(self, events: Iterable[Event]) -> int:
        """Label each failed event with its known issue; returns how many were matched."""
        n = 0
        for ev in events:
            if ev.outcome != "failure" and ev.signature is None:
                continue
            found = self.match(_event_values(ev), ev.labels.get("signature_template"))
            if found is not None:
                ev.labels[LABEL] = found.id
                n += 1
        return n


def _values(s: Section, key: str) -> frozenset[str] | None:
    raw = s.raw(key)
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else [raw]
    if not items or any(isinstance(v, dict | list) or v is None for v in items):
        raise s.error(key, "expected a value or a list of values")
    return frozenset(str(v) for v in items)


def _issue(doc: Doc, path: tuple, data: Any) -> KnownIssue:
    s = Section(doc, path, data, KEYS)
    issue_id = s.text("id", required=True)
    if not _ID.match(issue_id):
        raise s.error("id", f"id {issue_id!r} has characters other than letters, digits, ., _ "
                      "and -", "e.g. KI-12")
    if not s.has("match"):
        raise s.error("match", "is required: which events this issue explains",
                      "e.g. match: {signature: d59d5c080076d65e}")
    m = s.sub("match", MATCH_KEYS)
    exact = tuple((k, v) for k in MATCH_KEYS if k != "template" and (v := _values(m, k)))
    template = None
    if m.has("template"):
        try:
            template = re.compile(str(m.raw("template")))
        except re.error as exc:
            raise m.error("template", f"not a regular expression: {exc}") from None
    if template is None and not any(k in ("signature", "error_class") for k, _ in exact):
        raise m.error("signature" if not m.data else next(iter(m.data)),
                      "a known issue needs signature, template or error_class in its match",
                      "matching by flow, platform or partner alone would file every failure "
                      "there under this issue")
    fix = s.sub("fix", FIX_KEYS)
    status = fix.choice("status", FIX_STATUSES, "open")
    links = s.raw("links", [])
    if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
        raise s.error("links", "expected a list of URLs")
    for key in ("runbook_url",):
        url = s.text(key, "")
        if url and not url.startswith(("http://", "https://")):
            raise s.error(key, f"expected an http(s) URL, got {url!r}")
    line, _ = doc.where(path)
    return KnownIssue(
        issue_id, s.text("title", required=True), exact, template,
        s.text("symptoms", ""), s.text("impact", ""), s.text("workaround", ""),
        fix.text("description", ""), status, fix.text("ticket", ""), s.text("runbook_url", ""),
        s.text("owner", ""), tuple(links), f"{doc.file}:{line}",
    )


def load_file(path: str, seen: dict[str, str]) -> list[KnownIssue]:
    """The entries of one file; ``seen`` (id -> file:line) catches an id defined twice."""
    doc = load(path)
    top = Section(doc, (), doc.data, ("known_issues",))
    raw = top.raw("known_issues")
    if not isinstance(raw, list):
        raise top.error("known_issues", "expected a list of known issues",
                        "known_issues: [{id: KI-1, title: ..., match: {...}}]")
    out = []
    for i, item in enumerate(raw):
        issue = _issue(doc, ("known_issues", i), item)
        if issue.id in seen:
            raise doc.error(("known_issues", i, "id"), f"known issue {issue.id!r} is defined "
                            "twice", f"first at {seen[issue.id]}")
        seen[issue.id] = issue.origin
        out.append(issue)
    return out


def load_knowledge(paths: Sequence[str], base_dir: str = ".") -> KnowledgeBase:
    """Every entry of the files (globs, relative to ``base_dir``); ConfigError at the first
    mistake, naming file, line and key."""
    issues: list[KnownIssue] = []
    seen: dict[str, str] = {}
    for pattern in paths:
        full = pattern if os.path.isabs(pattern) else os.path.join(base_dir, pattern)
        for file in sorted(glob.glob(full)) or [full]:  # a missing plain path: load() says so
            issues += load_file(file, seen)
    return KnowledgeBase(tuple(issues))


def from_config(doc: Doc) -> KnowledgeBase:
    """The config's ``knowledge: {paths: [...]}`` (paths relative to the config file)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    if data.get("knowledge") is None:
        return KnowledgeBase()
    s = Section(doc, ("knowledge",), data["knowledge"], ("paths",))
    base = str(Path(doc.file).parent) if doc.file and not doc.file.startswith("<") else "."
    return load_knowledge(s.str_list("paths", required=True), base)


def issue_doc(issue: KnownIssue) -> dict:
    """What the trace view and the API show of an issue."""
    doc = {"id": issue.id, "title": issue.title, "workaround": issue.workaround,
           "runbook_url": issue.runbook_url, "owner": issue.owner,
           "fix": {"description": issue.fix, "status": issue.fix_status, "ticket": issue.fix_ticket},
           "links": list(issue.links)}
    return {k: v for k, v in doc.items() if v}


def trace_known_issues(store: Store, trace: Trace, kb: KnowledgeBase) -> list[dict]:
    """The known issues the trace's events were filed under, in the order they occurred (an
    id no longer in the knowledge base is shown bare). Its own events: those of its hops
    (an envelope or placeholder ID it holds finds other messages' events too)."""
    hops = {h.event_id for h in trace.hops}
    ids = dict.fromkeys(ev.labels[LABEL] for ev in store.trace_events(without_placeholders(trace))
                        if LABEL in ev.labels and (not hops or ev.id in hops))
    return [issue_doc(found) if (found := kb.get(i)) else {"id": i} for i in ids]


def render_known_issues(docs: list[dict]) -> str:
    """Lines under ``midwatch trace``'s hop table."""
    lines = []
    for d in docs:
        lines.append(f"known issue {d['id']}" + (f": {d['title']}" if d.get("title") else ""))
        if d.get("workaround"):
            lines.append(f"  workaround: {d['workaround']}")
        if d.get("runbook_url"):
            lines.append(f"  runbook:    {d['runbook_url']}")
        if d.get("fix"):
            fix = d["fix"]
            lines.append(f"  fix:        {fix.get('description', '-')} ({fix['status']}"
                         + (f", {fix['ticket']})" if fix.get("ticket") else ")"))
    return "\n".join(lines)
