"""The EDI partner scorecard: documents each way, acknowledgement rate and latency,
rejections with their 997/999/TA1/CONTRL error codes in words, overdue acknowledgements."""

from __future__ import annotations

from collector.parsers import edifact, x12
from collector.store.base import Agg, Filter
from collector.tracequery import duration_text
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.scope import Scope, by_key, pct, ratio

_EDI = Filter("midwatch.platform", "eq", "edi")
_PARTNER = Filter("partner", "exists")


def code_words(error_type: str, code: str) -> str:
    """``5: one or more segments in error``: the code lists the parsers know (AK5/IK5, AK9,
    TA105, CONTRL 0085), so the scorecard reads like the partner's own documentation."""
    # The parsers own these tables; reading them here keeps one copy of each.
    if error_type == "x12.TA1":
        words = x12._TA1_NOTES.get(code)
    elif error_type.startswith("x12."):
        words = x12._SET_ERRORS.get(code) or x12._GROUP_ERRORS.get(code)
    else:
        words = edifact._SYNTAX_ERRORS.get(code)
    return f"{code}: {words}" if words else code


def section(s: Scope) -> ReportSection:
    actions, statuses, p50, p95, codes = s.run([
        s.query("events", s.period, filters=[_EDI], group_by=["midwatch.partner", "event.action"],
                max_groups=500),
        s.query("traces", s.period, filters=[_PARTNER], group_by=["partner", "status"],
                time_field="started_at", max_groups=500),
        *[s.query("traces", s.period, agg=Agg("percentile", "duration_ms", q=q),
                  filters=[_PARTNER, Filter("status", "eq", "acknowledged")],
                  group_by=["partner"], time_field="started_at") for q in (50, 95)],
        s.query("events", s.period, filters=[_EDI, Filter("error.code", "exists")],
                group_by=["midwatch.partner", "error.type", "error.code"], max_groups=500),
    ])
    if not actions and not statuses:
        return ReportSection(
            "EDI partners",
            empty="no EDI traffic in this period (no X12 or EDIFACT "
                  "interchange was collected)")
    docs: dict[str, dict[str, int]] = {}
    for r in actions:
        docs.setdefault(r.group["midwatch.partner"], {})[r.group["event.action"]] = r.count
    traces: dict[str, dict[str, int]] = {}
    for r in statuses:
        traces.setdefault(r.group["partner"], {})[r.group["status"]] = r.count
    top_codes: dict[str, list[tuple[int, str]]] = {}
    for r in codes:
        for code in str(r.group["error.code"]).split(","):
            top_codes.setdefault(r.group["midwatch.partner"], []).append(
                (r.count, code_words(r.group["error.type"], code.strip())))
    q50, q95 = by_key(p50, "partner"), by_key(p95, "partner")
    rows, ack_rates, partners = [], [], sorted(set(docs) | set(traces), key=str)
    for partner in partners:
        d, t = docs.get(partner, {}), traces.get(partner, {})
        total = sum(t.values())
        acked, rejected = t.get("acknowledged", 0), t.get("rejected", 0)
        ack_rates.append(ratio(acked, total))
        lat = "-"
        if partner in q50:
            lat = (f"{duration_text(_int(q50[partner].value))} / "
                   f"{duration_text(_int(q95[partner].value))}")
        worst = sorted(top_codes.get(partner, []), reverse=True)[:3]
        rows.append((str(partner), f"{d.get('sent', 0):,}", f"{d.get('received', 0):,}",
                     pct(ratio(acked, total)), lat, pct(ratio(rejected, total)),
                     "; ".join(f"{w} ({n})" for n, w in worst) or "-",
                     str(t.get("stuck", 0))))
    chart = Chart("Acknowledgement rate per partner", "bar", tuple(map(str, partners)),
                  (("acknowledged", tuple(ack_rates)),), percent=True)
    summary = ("Documents sent and received (EDI events), and per traced document: the share "
               "acknowledged, time to the acknowledgement (p50 / p95), the share rejected with "
               "the partner's most common error codes, and acknowledgements overdue (stuck).")
    return ReportSection("EDI partners", summary, (Table(
        ("partner", "sent", "received", "acknowledged", "ack time p50 / p95", "rejected",
         "most common error codes", "overdue"), tuple(rows)),), (chart,))


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)
