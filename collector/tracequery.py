"""Questions people ask of traces, and the text that answers them.

``midwatch trace``/``traces``/``reconcile`` print what these functions build; keeping the
formatting here (pure, over plain Trace values) lets the CLI stay a shell and lets tests check
the exact text without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from collector.correlation.catalog import Catalog
from collector.correlation.id_forms import canonical_id
from collector.event import ms_to_iso
from collector.store.base import Store, TraceQuery
from collector.terminal import safe
from collector.trace import Trace
from collector.yamlconf import did_you_mean

# The most traces one reconciliation reads; beyond it the answer says it is partial.
RECONCILE_LIMIT = 10_000
# The most traces one ID lookup lists (an envelope ID shared by a whole interchange).
MAX_MATCHES = 50
MAX_CELL = 60


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Messages of a flow that reached ``from_stage`` in the window, split by whether they
    also reached ``to_stage``."""

    flow: str
    from_stage: str
    to_stage: str
    since_ms: int
    reached_both: int
    missing: list[Trace]
    truncated: bool

    @property
    def reached_from(self) -> int:
        return self.reached_both + len(self.missing)

    def to_doc(self) -> dict:
        return {
            "flow": self.flow, "from": self.from_stage, "to": self.to_stage,
            "since": ms_to_iso(self.since_ms), "reached_from": self.reached_from,
            "reached_both": self.reached_both, "missing_count": len(self.missing),
            "truncated": self.truncated,
            "missing": [{"trace_key": t.trace_key, "ids": t.ids, "status": t.status,
                         "last_stage": t.stages[-1] if t.stages else None,
                         "last_seen": ms_to_iso(t.last_seen_ms)} for t in self.missing],
        }


class UnknownName(ValueError):
    """A flow or stage the catalog does not have; the message names the choices."""


def check_names(catalog: Catalog, flow: str, stages: dict[str, str]) -> None:
    """Refuse a flow or stage (``stages``: option -> name) the catalog does not define: a
    typo would otherwise be answered as "0 reached", or report every message as missing."""
    if flow not in catalog.flows:
        known = sorted(catalog.flows)
        listed = f"the catalog's flows: {', '.join(known)}" if known else "the catalog has none"
        raise UnknownName(f"--flow {flow}: no such flow in the catalog; {_hint(flow, known)}"
                          f"{listed}")
    names = [s.name for s in catalog.flows[flow].stages]
    for option, stage in stages.items():
        if stage not in names:
            raise UnknownName(f"{option} {stage}: flow {flow} has no such stage; "
                              f"{_hint(stage, names)}its stages: {', '.join(names)}")


def _hint(word: str, choices: list[str]) -> str:
    close = did_you_mean(word, choices)
    return f"{close} " if close else ""


def reconcile(store: Store, flow: str, from_stage: str, to_stage: str,
              since_ms: int) -> Reconciliation:
    reached = store.search_traces(TraceQuery(flow=flow, stage=from_stage, since_ms=since_ms,
                                             limit=RECONCILE_LIMIT))
    missing = [t for t in reached if to_stage not in t.stages]
    missing.sort(key=lambda t: (t.started_ms, t.trace_key))
    return Reconciliation(flow, from_stage, to_stage, since_ms,
                          reached_both=len(reached) - len(missing), missing=missing,
                          truncated=len(reached) >= RECONCILE_LIMIT)


# ------------------------------------------------------------------ text


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else safe(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def table(headers: list[str], rows: list[list[object]]) -> str:
    """Columns padded to their widest cell; the last column is left ragged."""
    cells = [headers, *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers) - 1)]
    lines = []
    for r in cells:
        lines.append("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)),
                                r[-1]]).rstrip())
    return "\n".join(lines)


def duration_text(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def render_trace(t: Trace) -> str:
    status = t.status + (" (SLA breached)" if t.sla_breached else "")
    if t.dead_lettered:
        status += " (dead-lettered)"
    head = [
        f"trace     {safe(t.trace_key)}",
        f"flow      {safe(t.flow)}" + (f"   partner {safe(t.partner)}" if t.partner else ""),
        f"status    {status}",
        f"started   {ms_to_iso(t.started_ms)}   duration {duration_text(t.duration_ms)}"
        + (f"   SLA {duration_text(t.sla_ms)}" if t.sla_ms else ""),
        f"hops      {t.hop_count}   errors {t.error_count}   retries {t.retry_count}",
        f"ids       {safe(', '.join(t.ids))}",
    ]
    if t.hop_count > len(t.hops):
        head.append(f"          (showing the first and last {len(t.hops)} of {t.hop_count} hops)")
    rows = [[ms_to_iso(h.timestamp_ms), h.stage, h.service, h.platform, h.outcome,
             "" if h.latency_ms is None else "+" + duration_text(h.latency_ms),
             h.error_message or ""] for h in t.hops]
    hops = table(["TIME", "STAGE", "SERVICE", "PLATFORM", "OUTCOME", "LATENCY", "ERROR"], rows)
    return "\n".join(head) + "\n\n" + hops


def not_found_hint(any_id: str) -> str:
    """What to try when a lookup found nothing. X12 and EDIFACT control numbers are stored
    with their sender and receiver (a partner's ISA13 00000100 is not another partner's), so
    the bare number a partner quotes finds nothing; say how to ask for it instead."""
    value = any_id.strip()
    if value.isascii() and value.isdigit():
        return (f"an X12/EDIFACT control number goes with its partners: "
                f"SENDER>RECEIVER:{value} (ISA13, GS06 or UNB 0020), a transaction "
                f"SENDER>RECEIVER:GS06:ST02 (UNB:UNH), e.g. ACMECORP>GLOBEX:{value}; "
                f"`midwatch traces --partner NAME` lists a partner's messages")
    return ""


def find_by_id(store: Store, any_id: str, limit: int) -> tuple[str, list[Trace]]:
    """The traces an ID names (``Store.find_traces``) and the form of the ID that named them:
    one holding a UUID in a form no source wrote is asked again in the canonical form
    (``collector.correlation.id_forms.canonical_id``), which the traces hold."""
    found = store.find_traces(any_id, limit=limit)
    other = None if found else canonical_id(any_id.strip())
    if other is None:
        return any_id, found
    return other, store.find_traces(other, limit=limit)


def one_named(any_id: str, traces: list[Trace]) -> Trace | None:
    """The trace ``any_id`` names alone: the one whose key it is (a key is a permalink, also
    when a later message reused that ID, whose trace then holds it too), else the only
    match; None when it names several (an envelope ID, a reused ID given by value)."""
    wanted = any_id.strip()
    exact = [t for t in traces if t.trace_key == wanted]
    if exact:
        return exact[0]
    return traces[0] if len(traces) == 1 else None


def matches_doc(any_id: str, traces: list[Trace], *, full: bool) -> dict:
    """Several traces for one ID (CLI --json and the API's 300 answer): the ID, how many (at
    most MAX_MATCHES, ``truncated`` beyond), and each trace, whole or as its summary with
    the link that names it alone."""
    shown = traces[:MAX_MATCHES]
    docs = []
    for t in shown:
        doc = t.to_doc()
        if not full:
            doc.pop("hops")
            doc["href"] = f"/api/traces/{quote(t.trace_key, safe='')}"
        docs.append(doc)
    return {"id": any_id, "count": len(shown), "truncated": len(traces) > MAX_MATCHES,
            "matches": docs}


def render_matches(any_id: str, traces: list[Trace]) -> str:
    """Every trace an ID belongs to, each in full, after a line saying how many."""
    shown = traces[:MAX_MATCHES]
    more = " (the most recently seen; narrow with a typed ID)" \
        if len(traces) > MAX_MATCHES else ""
    head = f"{len(shown)} traces have the ID {any_id}{more}:"
    return "\n\n".join([head, *(render_trace(t) for t in shown)])


def render_traces(traces: list[Trace]) -> str:
    rows = [[t.trace_key, t.flow, t.partner, t.status + ("*" if t.sla_breached else ""),
             ms_to_iso(t.started_ms), duration_text(t.duration_ms), t.hop_count,
             t.stages[-1] if t.stages else None] for t in traces]
    text = table(["TRACE", "FLOW", "PARTNER", "STATUS", "STARTED", "DURATION", "HOPS",
                  "LAST STAGE"], rows)
    if any(t.sla_breached for t in traces):
        text += "\n* SLA breached"
    return text


def render_reconciliation(r: Reconciliation) -> str:
    lines = [
        f"flow {safe(r.flow)}: since {ms_to_iso(r.since_ms)}, {r.reached_from} reached "
        f"{safe(r.from_stage)}, {r.reached_both} also reached {safe(r.to_stage)}, "
        f"{len(r.missing)} did not",
    ]
    if r.truncated:
        lines.append(f"(only the latest {RECONCILE_LIMIT} traces were compared; narrow --since)")
    if r.missing:
        rows = [[t.trace_key, t.status, t.stages[-1] if t.stages else None,
                 ms_to_iso(t.last_seen_ms), ", ".join(i for i in t.ids if i != t.trace_key)]
                for t in r.missing]
        lines += ["", table(["TRACE", "STATUS", "LAST STAGE", "LAST SEEN", "OTHER IDS"], rows)]
    return "\n".join(lines)
