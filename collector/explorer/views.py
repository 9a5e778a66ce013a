"""The explorer's pages: plain values (Traces, Events, Funnels) in, escaped HTML out.

Pure functions, no store and no HTTP: ``routes`` reads the store and picks the view, so a
view is tested by calling it with hostile values and looking at the markup. Every value from
a log line goes through ``markup.esc``/``tag``/``render``.
"""

from __future__ import annotations

import shlex
import urllib.parse
from collections.abc import Sequence

from collector.event import Event, ms_to_iso, to_doc
from collector.explorer import queries, waterfall
from collector.explorer.markup import Safe, esc, join, render, tag
from collector.trace import STATUSES, Trace
from collector.tracequery import Reconciliation, duration_text, not_found_hint

# Outcome -> CSS class of a bar; anything else is drawn as unknown.
_OUTCOMES = {"success": "ok", "failure": "fail"}


def trace_url(key: str) -> str:
    return "/traces/" + urllib.parse.quote(key, safe="")


def page(title: str, body: Safe, search: str = "") -> Safe:
    return render("layout.html", title=title, body=body, search=search)


def status_badge(status: str) -> Safe:
    return tag("span", status.replace("_", " "), class_=f"badge st-{status}")


def when(ms: int | None) -> Safe:
    if ms is None:
        return esc("-")
    iso = ms_to_iso(ms)
    return tag("time", iso.replace("T", " ").removesuffix("Z"), datetime=iso)


# ------------------------------------------------------------------ lists


def trace_table(traces: Sequence[Trace]) -> Safe:
    if not traces:
        return tag("p", "No traces match.", class_="empty")
    rows = []
    for t in traces:
        status = status_badge(t.status) + (esc(" ") + tag("span", "SLA", class_="badge sla",
                                                          title="SLA breached")
                                           if t.sla_breached else "")
        rows.append(tag("tr", join([
            tag("td", tag("a", t.trace_key, href=trace_url(t.trace_key), class_="key")),
            tag("td", t.flow), tag("td", t.partner or "-"), tag("td", Safe(status)),
            tag("td", when(t.started_ms)), tag("td", duration_text(t.duration_ms), class_="num"),
            tag("td", t.hop_count, class_="num"),
            tag("td", t.stages[-1] if t.stages else "-")]), class_="row"))
    head = join(tag("th", h, scope="col") for h in
                ("Trace", "Flow", "Partner", "Status", "Started (UTC)", "Duration", "Hops",
                 "Last stage"))
    return tag("div", tag("table", tag("thead", tag("tr", head)) + tag("tbody", join(rows)),
                          class_="traces"), class_="scroll")


def _select(name: str, label: str, options: Sequence[str], chosen: str | None) -> Safe:
    opts = [tag("option", "any", value="")]
    opts += [tag("option", o.replace("_", " "), value=o, selected=o == chosen) for o in options]
    return tag("label", esc(label) + tag("select", join(opts), name=name))


def _field(name: str, label: str, value: str | None, placeholder: str) -> Safe:
    return tag("label", esc(label) + Safe(f'<input name="{esc(name)}" value="{esc(value or "")}"'
                                          f' placeholder="{esc(placeholder)}">'))


def list_page(page_: queries.Page, params: dict[str, str], flows: Sequence[str],
              platforms: Sequence[str]) -> Safe:
    form = tag("form", join([
        _select("flow", "Flow", flows, params.get("flow")),
        _select("status", "Status", STATUSES, params.get("status")),
        _field("partner", "Partner", params.get("partner"), "GLOBEX"),
        _select("platform", "Platform", platforms, params.get("platform")),
        _field("since", "Since", params.get("since"), "1h or 2026-12-06T18:00:00Z"),
        _field("until", "Until", params.get("until"), "now"),
        _field("signature", "Error signature", params.get("signature"), "signature hash"),
        tag("button", "Filter", type="submit"),
    ]), method="get", action="/traces", class_="filters")
    parts = [tag("h1", "Traces"), form, trace_table(page_.traces)]
    if not page_.scanned_all:
        parts.append(tag("p", f"Only the latest {queries.SCAN_LIMIT} traces were scanned for "
                              "the platform or signature filter; narrow the time range.",
                         class_="note"))
    if page_.next_until_ms is not None:
        nxt = {k: v for k, v in params.items() if v and k != "before"}
        nxt["before"] = str(page_.next_until_ms)
        parts.append(tag("a", "Older traces →", href="/traces?" + urllib.parse.urlencode(nxt),
                         class_="next", rel="next"))
    return page("Traces", join(parts))


def matches_page(any_id: str, traces: Sequence[Trace]) -> Safe:
    if not traces:
        body = join([tag("h1", "No trace found"),
                     tag("p", Safe(f"No trace knows the ID {tag('code', any_id)}. IDs are typed "
                                   "like <code>order:4711</code>; a bare value matches any "
                                   "type.")),
                     *([tag("p", "Hint: " + hint)] if (hint := not_found_hint(any_id)) else [])])
        return page("Not found", body, any_id)
    body = join([tag("h1", f"{len(traces)} traces share this ID"),
                 tag("p", Safe(f"The ID {tag('code', any_id)} belongs to several message "
                               "journeys; pick one.")), trace_table(traces)])
    return page("Several traces", body, any_id)


# ------------------------------------------------------------------ the trace page


def _summary(t: Trace) -> Safe:
    facts = [("Flow", tag("a", t.flow, href="/flows/" + urllib.parse.quote(t.flow, safe=""))),
             ("Partner", esc(t.partner or "-")), ("Started", when(t.started_ms)),
             ("Ended", when(t.ended_ms)), ("Duration", esc(duration_text(t.duration_ms))),
             ("SLA", esc(duration_text(t.sla_ms) + (" — breached" if t.sla_breached else ""))),
             ("Hops", esc(t.hop_count)), ("Errors", esc(t.error_count)),
             ("Retries", esc(t.retry_count))]
    if t.dead_lettered:
        facts.append(("Dead-lettered", esc("yes")))
    return tag("dl", join(tag("div", tag("dt", k) + tag("dd", v)) for k, v in facts),
               class_="facts")


def _waterfall(t: Trace) -> Safe:
    lay = waterfall.layout(t)
    rows = []
    for bar, hop in zip(lay.bars, t.hops, strict=True):
        cls = ["bar", _OUTCOMES.get(bar.outcome, "unknown")]
        if bar.gap:
            cls.append("gap")
        marks = []
        if bar.retry:
            marks.append(tag("span", "retry", class_="badge retry"))
        if bar.gap:
            marks.append(tag("span", f"gap {duration_text(bar.wait_ms)}", class_="badge gapb"))
        label = join([tag("span", hop.stage or hop.action or "-", class_="stage"),
                      tag("span", " · ".join(x for x in (hop.service, hop.platform) if x),
                          class_="svc")])
        wait = "" if bar.index == 0 else f"+{duration_text(bar.wait_ms)}"
        title = f"{hop.stage or '-'} {hop.outcome} {wait}".strip()
        rows.append(tag("li", join([
            tag("a", label, href=f"#hop-{bar.index}", class_="lbl"),
            tag("div", join([tag("span", "", class_=" ".join(cls), title=title,
                                 style=f"left:{bar.left_pct}%;width:{bar.width_pct}%"),
                             *marks]), class_="track"),
            tag("span", wait or "start", class_="wait")]),
            class_="wrow", data_outcome=hop.outcome, data_stage=hop.stage or ""))
    axis = join(tag("span", "+" + duration_text(ms), class_="tick", style=f"left:{pos}%")
                for pos, ms in lay.ticks)
    extra = []
    if lay.deadline_pct is not None:
        extra.append(tag("div", tag("div", tag("span", f"SLA {duration_text(t.sla_ms)}"),
                                    class_="deadline", style=f"left:{lay.deadline_pct}%",
                                    title="SLA deadline"), class_="lane"))
    note = []
    if lay.deadline_off_axis:
        note.append(tag("p", f"SLA deadline at +{duration_text(t.sla_ms)}, beyond this axis.",
                        class_="note"))
    if t.hop_count > len(t.hops):
        note.append(tag("p", f"Showing the first and last {len(t.hops)} of {t.hop_count} hops.",
                        class_="note"))
    return join([tag("h2", "Waterfall", id="waterfall"),
                 tag("div", join([tag("div", axis, class_="axis"), *extra,
                                  tag("ol", join(rows), class_="waterfall",
                                      data_hops=len(t.hops))]), class_="wf"), *note])


def _first_seen(t: Trace, events: Sequence[Event]) -> dict[str, Event]:
    """Each of the trace's IDs -> the earliest loaded event that carried it."""
    first: dict[str, Event] = {}
    for ev in events:
        for i in ev.ids:
            if i in t.ids and i not in first:
                first[i] = ev
    return first


def _id_graph(t: Trace, events: Sequence[Event]) -> Safe:
    first = _first_seen(t, events)
    hop_of = {h.event_id: n for n, h in enumerate(t.hops)}
    by_event: dict[str, list[str]] = {}
    for i in t.ids:
        ev = first.get(i)
        by_event.setdefault(ev.id if ev else "", []).append(i)
    items = []
    for ev in events:
        if ev.id not in by_event:
            continue
        n = hop_of.get(ev.id)
        where = (tag("a", f"hop {n + 1}", href=f"#hop-{n}") if n is not None
                 else esc("an event"))
        items.append(tag("li", join([
            tag("span", Safe(f"{where} — {esc(ev.stage or ev.action or ev.dataset)} "
                             f"({esc(ev.platform)})"), class_="on"),
            tag("span", join(tag("a", i, href=trace_url(i), class_="id") for i in
                             by_event[ev.id]), class_="ids")])))
    if "" in by_event:
        items.append(tag("li", join([tag("span", "joined on an event not loaded", class_="on"),
                                     tag("span", join(tag("code", i, class_="id")
                                                      for i in by_event[""]), class_="ids")])))
    return join([tag("h2", "IDs and where they joined", id="ids"),
                 tag("ol", join(items), class_="idgraph")])


def _flat(doc: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _flat(value, name + ".")
        elif isinstance(value, list):
            out.append((name, ", ".join(map(str, value))))
        else:
            out.append((name, value))
    return out


def ack_words(ev: Event) -> Safe | None:
    """An EDI acknowledgement (X12 997/999/TA1, EDIFACT CONTRL) in words, else None."""
    kind = ev.labels.get("x12_ack_type") or (
        "CONTRL" if "edifact_ack_action" in ev.labels else None)
    if kind is None:
        return None
    if ev.action == "rejected":
        verdict = "rejected"
    else:
        verdict = "accepted" if ev.outcome == "success" else "accepted with errors"
    lines = [tag("p", Safe(f"{tag('strong', kind)} acknowledgement: {esc(verdict)}"))]
    if ev.message:
        lines.append(tag("p", ev.message))
    if ev.error_message:
        lines.append(tag("p", ev.error_message, class_="err"))
    return tag("div", join(lines), class_="ack")


def _hop_details(t: Trace, events: Sequence[Event]) -> Safe:
    by_id = {ev.id: ev for ev in events}
    parts = [tag("h2", "Hops", id="hops")]
    for n, hop in enumerate(t.hops):
        ev = by_id.get(hop.event_id)
        head = join([tag("span", f"{n + 1}.", class_="n"), status_badge(hop.outcome),
                     tag("span", hop.stage or "-", class_="stage"),
                     tag("span", " · ".join(x for x in (hop.service, hop.platform) if x),
                         class_="svc"), when(hop.timestamp_ms)])
        body: list[Safe] = []
        if hop.error_class or hop.error_message or (ev and ev.signature):
            err = [("class", hop.error_class), ("message", hop.error_message)]
            if ev is not None:
                err += [("type", ev.error_type), ("code", ev.error_code),
                        ("signature", ev.signature),
                        ("template", ev.labels.get("signature_template"))]
            body.append(tag("dl", join(tag("div", tag("dt", k) + tag("dd", v))
                                       for k, v in err if v), class_="error"))
        if ev is None:
            body.append(tag("p", "The event of this hop is not in the store any more.",
                            class_="note"))
        else:
            ack = ack_words(ev)
            if ack is not None:
                body.append(ack)
            body.append(tag("h3", "Message"))
            body.append(tag("pre", ev.message or "-", class_="raw"))
            if ev.original:
                body.append(tag("h3", "Source line"))
                body.append(tag("pre", ev.original, class_="raw source"))
            rows = join(tag("tr", tag("th", k, scope="row") + tag("td", v))
                        for k, v in _flat(to_doc(ev, original=False)) if k != "message")
            body.append(tag("h3", "Parsed fields"))
            body.append(tag("div", tag("table", rows, class_="fields"), class_="scroll"))
        parts.append(tag("details", tag("summary", head) + join(body), id=f"hop-{n}",
                         class_="hop", open=hop.outcome == "failure"))
    return join(parts)


def trace_page(t: Trace, events: Sequence[Event]) -> Safe:
    command = f"midwatch trace {shlex.quote(t.trace_key)}"
    link = trace_url(t.trace_key)
    tools = tag("div", join([
        tag("code", command, id="cmd"),
        tag("button", "Copy command", type="button", data_copy="#cmd", class_="copy"),
        tag("a", "Permalink", href=link, class_="permalink", rel="bookmark"),
    ]), class_="tools")
    head = tag("h1", Safe(f"{status_badge(t.status)} {tag('span', t.trace_key, class_='key')}"))
    body = join([head, tools, _summary(t), _waterfall(t), _id_graph(t, events),
                 _hop_details(t, events)])
    return page(f"Trace {t.trace_key}", tag("article", body, class_="trace",
                                            data_trace_key=t.trace_key))


# ------------------------------------------------------------------ flows


def flows_page(rows: Sequence[tuple[str, int]], since: str) -> Safe:
    items = join(tag("li", tag("a", name, href="/flows/" + urllib.parse.quote(name, safe="")
                                + "?" + urllib.parse.urlencode({"since": since}))
                     + esc(f" — {count} traces")) for name, count in rows)
    body = join([tag("h1", "Flows"), tag("p", f"Traces seen in the last {since}."),
                 tag("ul", items, class_="flows") if rows else tag("p", "No traces yet.",
                                                                    class_="empty")])
    return page("Flows", body)


def flow_page(f: queries.Funnel, since: str, stuck: Sequence[Trace],
              recon: Reconciliation | None) -> Safe:
    top = max([n for _, n in f.stages] or [1])
    quoted = urllib.parse.quote(f.flow, safe="")
    rows = []
    for i, (stage, n) in enumerate(f.stages):
        nxt = f.stages[i + 1][0] if i + 1 < len(f.stages) else None
        missing = ""
        if nxt is not None:
            q = urllib.parse.urlencode({"since": since, "from": stage, "to": nxt})
            missing = tag("a", f"reached {stage} but not {nxt}", href=f"/flows/{quoted}?{q}#recon")
        rows.append(tag("tr", join([
            tag("th", stage, scope="row"), tag("td", n, class_="num"),
            tag("td", tag("span", "", class_="fbar", style=f"width:{round(100 * n / top, 1)}%"),
                class_="fcell"), tag("td", missing)])))
    funnel = tag("table", tag("tbody", join(rows)), class_="funnel") if rows else \
        tag("p", "No traces of this flow in the range.", class_="empty")
    statuses = join(Safe(f"{status_badge(s)} {esc(n)} ") for s, n in sorted(f.statuses.items()))
    form = tag("form", join([_field("since", "Since", since, "1d"),
                             tag("button", "Show", type="submit")]), method="get",
               class_="filters")
    parts = [tag("h1", f"Flow {f.flow}"), form,
             tag("p", Safe(f"{esc(f.traces)} traces seen in the last {esc(since)}: {statuses}")),
             tag("h2", "Stage funnel"), funnel]
    if f.truncated:
        parts.append(tag("p", f"Only the latest {queries.SCAN_LIMIT} traces were counted.",
                         class_="note"))
    if recon is not None:
        parts += [tag("h2", f"Reached {recon.from_stage} but not {recon.to_stage}", id="recon"),
                  tag("p", f"{recon.reached_from} reached {recon.from_stage}, "
                           f"{recon.reached_both} also reached {recon.to_stage}, "
                           f"{len(recon.missing)} did not."),
                  trace_table(recon.missing)]
    parts += [tag("h2", "Stuck now", id="stuck"), trace_table(stuck)]
    return page(f"Flow {f.flow}", join(parts))


# ------------------------------------------------------------------ other


def message_page(title: str, text: str) -> Safe:
    return page(title, join([tag("h1", title), tag("p", text)]))


def login_page(next_path: str, problem: str | None) -> Safe:
    return page("Sign in", render("login.html", next=next_path, problem=problem or "",
                                  hidden="" if problem else "hidden"))
