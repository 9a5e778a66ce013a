"""``midwatch rules backfill``: what the rules would have done over a past span.

The real ``Engine`` (queries, alert state machine, silences, inhibition, repeat intervals) is
stepped through the span with a clock it is given, over a ``ReplayStore``: reads go to the
real store, writes (alert state, history, silence clean-up) stay in memory, and no dispatcher
is attached, so live state, the outbox and the notifiers are never touched. Each step's
history documents and decided notifications become the timeline.

Speed comes from asking the store once for many steps. Before a chunk of steps is evaluated,
every query the due rules would send is computed (types are pure), and those that only slide
with the clock (a window of ``count``, ``sum``, ``min``, ``max``, ``avg`` or ``ratio``, fixed or
in the uneven buckets of a sliding window, ``MetricQuery.edges_ms``) are answered by one date
histogram per stretch of the chunk at a bucket that divides the step and every window edge;
the window's rows are then summed out of the buckets (``Series``). Other queries
(percentiles, distinct counts, bucketed queries, windows too long for the bucket budget) are
still sent exactly, but batched over the chunk in one ``store.metrics`` call. A histogram
whose group list came back full (``max_groups``: groups may be missing) falls back to the
exact queries, so the answers are the same as a stepped ``rules eval``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from collector.event import ms_to_iso
from collector.store.base import Agg, Filter, MetricQuery, MetricRow, Store, StoreError
from collector.terminal import safe
from rules.config import RulesConfig
from rules.engine import BATCH, Engine, plan
from rules.schema import Rule
from rules.series import Series
from rules.state import FIRING, RESOLVED

# Steps whose queries are prepared together: memory holds one chunk's answers at a time.
# Each chunk's histograms also cover its longest window before it (an absence's 1h15m):
# at 240 one-minute steps that is a third more buckets to parse, at 120 over half more.
CHUNK_STEPS = 240
# A window longer than this many histogram buckets is queried exactly (bucket budget).
MAX_WINDOW_BUCKETS = 360
# One histogram spans at most this many buckets (a 1-minute sliding rule's 2 s buckets over
# a 4-hour chunk make four); a spike's last-week windows get histograms of their own.
MAX_SPAN_BUCKETS = 2000
FOLDABLE = frozenset({"count", "sum", "min", "max", "avg", "ratio"})


class ReplayStore:
    """The engine's view of the store during a backfill: real reads, writes kept here.

    ``answers`` holds the prepared results of the current chunk; a query not among them
    goes to the real store, so a rule whose queries could not be prepared is still exact.
    """

    def __init__(self, store: Store):
        self.store = store
        self.answers: dict[MetricQuery, list[MetricRow]] = {}
        self.history: list[dict] = []  # drained by the replay after every step
        # What the engine wrote (alert state per rule, expired silences deleted: None),
        # laid over the real store's state when read back.
        self.written: dict[str, dict[str, dict | None]] = {}
        self.stored: dict[str, dict[str, dict]] = {}
        self.sent_queries = 0

    def metrics(self, qs: Sequence[MetricQuery]) -> list[list[MetricRow]]:
        found = [self.answers.get(q) for q in qs]  # hashing a query is not free: once each
        missing = list(dict.fromkeys(q for q, rows in zip(qs, found, strict=True)
                                     if rows is None))
        if missing:
            self.sent_queries += len(missing)
            self.answers.update(zip(missing, self.store.metrics(missing), strict=True))
            found = [self.answers[q] for q in qs]
        return found  # type: ignore[return-value]

    def metric(self, q: MetricQuery) -> list[MetricRow]:
        return self.metrics([q])[0]

    def search_events(self, filters: Sequence[Filter], start_ms: int, end_ms: int,
                      limit: int = 100) -> list:
        return self.store.search_events(filters, start_ms, end_ms, limit)

    def get_state(self, namespace: str) -> dict[str, dict]:
        """The store's state as it is now (read once: silences are asked for at every step
        that changes an alert), with the engine's own writes laid over it."""
        if namespace not in self.stored:
            self.stored[namespace] = self.store.get_state(namespace)
        out = dict(self.stored[namespace])
        for key, doc in self.written.get(namespace, {}).items():
            if doc is None:
                out.pop(key, None)
            else:
                out[key] = doc
        return out

    def put_state(self, namespace: str, key: str, doc: dict | None) -> None:
        """Kept in memory only (bounded by the rules and silences there are): a silence
        long expired at a past step must not be deleted from the live store."""
        self.written.setdefault(namespace, {})[key] = doc

    def append_alert_history(self, docs: Sequence[dict]) -> None:
        self.history.extend(docs)


# ------------------------------------------------------------------ batching queries

def slide_shape(q: MetricQuery) -> MetricQuery | None:
    """The query with its times cleared when its rows can be summed out of time buckets
    (windows of every length of one shape, fixed or sliding, share a histogram); None when
    it must be exact."""
    if q.bucket_ms is not None or q.agg.kind not in FOLDABLE:
        return None
    return replace(q, start_ms=0, end_ms=0, edges_ms=None)


def histogram_bucket(step_ms: int, windows: Iterable[MetricQuery]) -> int | None:
    """A bucket every window's start and end falls on, or None when a window would need more
    than ``MAX_WINDOW_BUCKETS`` of them or buckets under a second."""
    edges = {step_ms}
    longest = 0
    for q in windows:
        edges.update(q.edges_ms or (q.start_ms, q.end_ms))
        longest = max(longest, q.end_ms - q.start_ms)
    bucket = math.gcd(*edges)
    if bucket < 1000 or longest // bucket > MAX_WINDOW_BUCKETS:
        return None
    return bucket


@dataclass
class Prepared:
    """A chunk's answers and what it cost to get them."""

    answers: dict[MetricQuery, list[MetricRow]]
    requests: int  # queries sent to the store (histograms + exact ones)
    folded: int  # window queries answered from histograms


def prepare(store: Store, plans: dict[int, list[MetricQuery]], step_ms: int) -> Prepared:
    """Answer every query of ``plans`` (at_ms -> the due rules' queries) with as few store
    queries as possible. A query whose histogram fails or comes back with a full group list
    is left out: the engine then asks the store for it exactly."""
    slides: dict[MetricQuery, dict[MetricQuery, None]] = {}  # shape -> its windows
    exact: dict[MetricQuery, None] = {}
    for qs in plans.values():
        for q in qs:
            shape = slide_shape(q)
            if shape is None:
                exact[q] = None
            else:
                slides.setdefault(shape, {})[q] = None
    _counts_into_ratios(slides)
    histograms: dict[MetricQuery, list[MetricQuery]] = {}
    for shape, windows in slides.items():
        # one histogram for every window length of the shape; failing that (a day-long
        # lookback beside 5-minute windows), one per length
        by_width: dict[int, list[MetricQuery]] = {}
        for q in windows:
            by_width.setdefault(q.end_ms - q.start_ms, []).append(q)
        for group in [list(windows)] if histogram_bucket(step_ms, windows) else by_width.values():
            for stretch in _stretches(group, histogram_bucket(step_ms, group)):
                bucket = histogram_bucket(step_ms, stretch)
                if bucket is None or len(stretch) == 1:
                    exact.update((q, None) for q in stretch)
                    continue
                h = replace(shape, start_ms=min(q.start_ms for q in stretch),
                            end_ms=max(q.end_ms for q in stretch), bucket_ms=bucket)
                histograms[h] = stretch
    answers: dict[MetricQuery, list[MetricRow]] = {}
    requests, folded = 0, 0
    hist_results = _run(store, list(histograms))
    requests += len(histograms)
    for h, windows in histograms.items():
        rows = hist_results.get(h)
        series = None if rows is None else Series(h, rows)
        if series is None or (h.group_by and len(series.groups) >= h.max_groups):
            exact.update((q, None) for q in windows)
            continue
        for q in windows:
            # a sliding window's rows are only ever summed (``rules.sliding.sums``)
            answers[q] = series.runs(q) if q.edges_ms is not None and q.agg.kind in (  # type: ignore[assignment]
                "count", "ratio") else series.window(q)
        folded += len(windows)
    exact_list = [q for q in exact if q not in answers]
    answers.update(_run(store, exact_list))
    requests += len(exact_list)
    return Prepared(answers, requests, folded)


def _counts_into_ratios(slides: dict[MetricQuery, dict[MetricQuery, None]]) -> None:
    """Count windows join the ratio windows of the same filter and groups: a ratio
    histogram's rows carry the counts, and each histogram less is one less to parse (a
    third of a day's backfill CPU is parsing 10-second histograms)."""
    ratios: dict[MetricQuery, MetricQuery] = {}
    for shape in slides:
        if shape.agg.kind == "ratio":
            ratios.setdefault(replace(shape, agg=Agg("count")), shape)
    for shape in [s for s in slides if s in ratios]:
        slides[ratios[shape]].update(slides.pop(shape))


def _stretches(windows: list[MetricQuery], bucket: int | None) -> list[list[MetricQuery]]:
    """The windows split where one histogram would span more than ``MAX_SPAN_BUCKETS``
    (a spike's last-week windows lie a week before the others), oldest first."""
    if bucket is None:
        return [windows]
    out: list[list[MetricQuery]] = []
    start = 0
    for q in sorted(windows, key=lambda q: q.start_ms):
        if not out or (q.end_ms - start) // bucket > MAX_SPAN_BUCKETS:
            out.append([])
            start = q.start_ms
        out[-1].append(q)
    return out


def _run(store: Store, qs: list[MetricQuery]) -> dict[MetricQuery, list[MetricRow]]:
    """Batched like the engine; a refused batch is left unanswered (the engine retries it
    query by query and reports the rule that fails, as a live evaluation would)."""
    out: dict[MetricQuery, list[MetricRow]] = {}
    for i in range(0, len(qs), BATCH):
        chunk = qs[i:i + BATCH]
        try:
            out.update(zip(chunk, store.metrics(chunk), strict=True))
        except (StoreError, ValueError):
            continue
    return out


# ------------------------------------------------------------------ the replay

@dataclass(frozen=True, slots=True)
class Change:
    """One line of the timeline: an alert moved (pending, firing, resolved), was kept from
    paging (``suppressed_by``), failed to evaluate, or was (re)sent to ``notified``."""

    at_ms: int
    rule: str
    event: str  # pending, firing, resolved, inactive, suppressed, notified, eval_failed
    labels: dict[str, str]
    value: float | None = None
    severity: str = ""
    notified: tuple[str, ...] = ()
    detail: str = ""

    def to_doc(self) -> dict[str, Any]:
        return {"at": ms_to_iso(self.at_ms), "rule": self.rule, "event": self.event,
                "labels": self.labels, "value": self.value, "severity": self.severity,
                "notified": list(self.notified), "detail": self.detail}


@dataclass
class RuleSummary:
    rule: str
    evaluations: int = 0
    fired: int = 0
    resolved: int = 0
    suppressed: int = 0
    failed: int = 0
    pages: dict[str, int] = field(default_factory=dict)  # notifier -> notifications
    firing_at_end: int = 0

    def to_doc(self) -> dict[str, Any]:
        return {"rule": self.rule, "evaluations": self.evaluations, "fired": self.fired,
                "resolved": self.resolved, "suppressed": self.suppressed,
                "failed_evaluations": self.failed, "pages": dict(sorted(self.pages.items())),
                "firing_at_end": self.firing_at_end}


@dataclass
class Report:
    start_ms: int
    end_ms: int
    step_ms: int
    steps: int = 0
    timeline: list[Change] = field(default_factory=list)
    summary: dict[str, RuleSummary] = field(default_factory=dict)
    store_queries: int = 0  # queries sent to the store, all steps together
    engine_queries: int = 0  # queries the engine asked for, all steps together
    folded: int = 0  # of these, answered from histograms

    def to_doc(self) -> dict[str, Any]:
        return {"from": ms_to_iso(self.start_ms), "to": ms_to_iso(self.end_ms),
                "step_ms": self.step_ms, "steps": self.steps,
                "store_queries": self.store_queries, "engine_queries": self.engine_queries,
                "folded_queries": self.folded,
                "timeline": [c.to_doc() for c in self.timeline],
                "summary": [s.to_doc() for s in self.summary.values()]}


def steps(start_ms: int, end_ms: int, step_ms: int) -> range:
    """Evaluation times from ``start_ms`` to ``end_ms`` inclusive."""
    return range(start_ms, end_ms + 1, step_ms)


def select(config: RulesConfig, names: Sequence[str] | None) -> RulesConfig:
    """The config with only the named rules (KeyError naming the unknown ones), no sample
    message IDs (one search per page, and nobody reads them here) and the engine's rules."""
    rules = config.rules
    if names:
        known = {r.name for r in rules}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise KeyError(", ".join(unknown))
        rules = [r for r in rules if r.name in set(names)]
    return replace(config, rules=rules, max_examples=0)


def backfill(config: RulesConfig, store: Store, start_ms: int, end_ms: int, step_ms: int,
             rule_names: Sequence[str] | None = None) -> Report:
    if step_ms < 1000:
        raise ValueError(f"step must be at least 1s, got {step_ms} ms")
    if end_ms < start_ms:
        raise ValueError(f"--to ({ms_to_iso(end_ms)}) is before --from ({ms_to_iso(start_ms)})")
    replay = ReplayStore(store)
    engine = Engine(select(config, rule_names), replay, dispatcher=None, persist=True,  # type: ignore[arg-type]
                    share_windows=False)
    report = Report(start_ms, end_ms, step_ms,
                    summary={r.name: RuleSummary(r.name) for r in engine.rules})
    times = steps(start_ms, end_ms, step_ms)
    for i in range(0, len(times), CHUNK_STEPS):
        chunk = times[i:i + CHUNK_STEPS]
        prepared = prepare(store, _plans(engine.rules, dict(engine.last_run), chunk,
                                         config.interval_ms), step_ms)
        replay.answers = prepared.answers
        report.store_queries += prepared.requests
        report.folded += prepared.folded
        for at in chunk:
            outcome = engine.evaluate(at)
            report.steps += 1
            report.engine_queries += outcome.queries
            _record(report, at, replay.history, outcome.notified, engine, outcome.failed_rules)
            replay.history.clear()
    report.store_queries += replay.sent_queries
    for alert in engine.alerts.values():
        if alert.state == FIRING:
            report.summary[alert.rule].firing_at_end += 1
    return report


def _plans(rules: Sequence[Rule], last_run: dict[str, int], chunk: Sequence[int],
           interval_ms: int) -> dict[int, list[MetricQuery]]:
    """The queries the engine will ask at each step of the chunk (its due rules' queries,
    planned as the engine plans them: ``rules.engine.plan``)."""
    plans: dict[int, list[MetricQuery]] = {}
    for at in chunk:
        qs: list[MetricQuery] = []
        for rule in rules:
            last = last_run.get(rule.name)
            if rule.interval_ms is not None and last is not None and at - last < rule.interval_ms:
                continue
            qs += plan(rule, at, last, interval_ms)
            last_run[rule.name] = at
        plans[at] = qs
    return plans


def _record(report: Report, at: int, history: Sequence[dict], notified: Sequence[tuple],
            engine: Engine, failed: dict[str, str]) -> None:
    sent: dict[str, list[str]] = {}
    for name, n in notified:
        sent.setdefault(n.key, []).append(name)
    for rule in engine.rules:
        if rule.name not in failed and (rule.interval_ms is None
                                        or engine.last_run.get(rule.name) == at):
            report.summary[rule.name].evaluations += 1
    seen: set[str] = set()
    for doc in history:
        summary = report.summary[doc["rule"]]
        key = doc.get("dedup_key", "")
        state = doc["state"]
        if state == "eval_failed":
            summary.failed += 1
            report.timeline.append(Change(at, doc["rule"], state, {}, detail=doc.get("error", "")))
            continue
        suppressed = doc.get("suppressed_by")
        if suppressed:
            summary.suppressed += 1
            report.timeline.append(Change(at, doc["rule"], "suppressed", doc["labels"],
                                          doc.get("value"), doc.get("severity", ""),
                                          detail=suppressed))
            continue
        names = tuple(sent.get(key, ())) if key not in seen else ()
        seen.add(key)
        summary.fired += state == FIRING
        summary.resolved += state == RESOLVED
        report.timeline.append(Change(at, doc["rule"], state, doc["labels"], doc.get("value"),
                                      doc.get("severity", ""), names))
    for name, n in notified:
        report.summary[n.rule].pages[name] = report.summary[n.rule].pages.get(name, 0) + 1
        if n.key not in seen:  # a firing alert paged now: its silence ended, repeat_interval
            seen.add(n.key)
            report.timeline.append(Change(at, n.rule, "notified", n.labels, n.value,
                                          n.severity, tuple(sent[n.key])))


def render(report: Report) -> str:
    """The timeline, one line per change, then a line per rule (for people; ``--json`` for
    programs). Rule names, labels and error texts are shown with control characters escaped."""
    lines = [f"backfill {ms_to_iso(report.start_ms)} .. {ms_to_iso(report.end_ms)} every "
             f"{report.step_ms // 1000}s: {report.steps} evaluations, {report.store_queries} "
             f"store queries for {report.engine_queries} rule queries"]
    for c in report.timeline:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(c.labels.items()))
        to = f" -> {', '.join(c.notified)}" if c.notified else ""
        detail = f" ({c.detail})" if c.detail else ""
        lines.append(safe(f"{ms_to_iso(c.at_ms)} {c.event:<10} {c.severity or '-':<8} "
                          f"{c.rule} {{{labels}}} value={c.value}{to}{detail}"))
    lines.append("rule: evaluations, fired, resolved, suppressed, failed, pages per notifier, "
                 "firing at the end")
    for s in report.summary.values():
        pages = ", ".join(f"{k}={v}" for k, v in sorted(s.pages.items())) or "no pages"
        lines.append(safe(f"{s.rule}: {s.evaluations} evaluations, {s.fired} fired, "
                          f"{s.resolved} resolved, {s.suppressed} suppressed, {s.failed} failed, "
                          f"{pages}, {s.firing_at_end} firing at the end"))
    return "\n".join(lines)
