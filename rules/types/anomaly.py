"""Pages when a series leaves what it normally does at this hour of this weekday.

Each group (``group_by``) x ``metric`` is bucketed (``bucket``: 1m..1h) and learned from
``history`` by ``rules.anomaly.model``; the model is retrained when ``rules.anomaly.schedule``
says (as ``anomaly score`` does; at least ``retrain`` apart once learned) and kept on
disk (``rules.anomaly.persist``), so a restart does not retrain. Every evaluation scores the
last complete bucket of all series at once, with the buckets before it as context: the
alert starts firing on a bucket whose page score (``rules.anomaly.pages``) reaches
``threshold`` -- the same score ``midwatch anomaly score`` prints -- and stays firing while
the buckets after it stay that anomalous or bring no recovery (no data; for a count, no
event), however long that lasts (``Sample.current``). ``direction`` drop | spike | both.
Until a series has ``min_history`` of data it is in ``cold_start`` (context ``state``) and
pages only on gross deviations.

Queries stay pure: the history query is only asked for when the model is due, and the model
cache is consulted the same way by ``queries`` and ``evaluate``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from collector.config_values import Section
from collector.store.base import Agg, Filter, MetricQuery, MetricRow
from collector.store.metric_shape import MAX_BUCKETS, bucket_start
from rules.anomaly import pages, persist, schedule, timings
from rules.anomaly.explain import explain, slot_text
from rules.anomaly.model import (
    DAY_MS,
    Model,
    Scores,
    Settings,
    context_rows,
    empty_run,
    score,
    train,
)
from rules.schema import Rule, Sample
from rules.types import number, window_query

KEYS = ("metric", "bucket", "direction", "threshold", "history", "retrain", "min_history",
        "rebaseline", "holidays", "holiday_mode", "timezone", "label", "model_dir")
CONTEXT = ("score", "page_score", "observed", "expected_low", "expected_high", "state",
           "explanation", "slot", "metric")
UNIT = "events"  # of the alert value (annotation ``unit``)

METRICS = {
    "rate": ("events", Agg("count"), "events"),
    "failure_ratio": ("events", Agg("ratio", where=(Filter("event.outcome", "eq", "failure"),)),
                      "failure ratio"),
    "p95_latency": ("events", Agg("percentile", "event.duration", 95), "p95 latency"),
    "distinct_messages": ("events", Agg("distinct", "midwatch.message_id"), "messages"),
    "stuck": ("traces", Agg("count"), "stuck traces"),
}
# Elasticsearch answers at most 65,536 buckets per search (search.max_buckets).
MAX_SEARCH_BUCKETS = 60_000


@dataclass(frozen=True, slots=True)
class Spec:
    metric: str
    bucket_ms: int
    threshold: float
    history_ms: int
    retrain_ms: int
    settings: Settings
    label: str
    model_dir: str


def parse(s: Section) -> Spec:
    metric = s.choice("metric", tuple(METRICS), "rate")
    bucket = s.duration_ms("bucket", "1h", minimum_ms=60_000)
    if bucket > 3_600_000 or 86_400_000 % bucket:
        raise s.error("bucket", f"expected 1m..1h dividing a day, got {bucket} ms", "e.g. 10m")
    history = s.duration_ms("history", "28d", minimum_ms=bucket)
    if history // bucket > 20 * MAX_BUCKETS:
        raise s.error("history", f"{history // bucket} buckets is too many to learn from",
                      "shorten history or widen bucket")
    min_history = s.duration_ms("min_history", "7d", minimum_ms=0)
    holidays = _holidays(s)
    settings = Settings(
        direction=s.choice("direction", ("drop", "spike", "both"), "both"),
        min_history=max(1, min_history // bucket),
        rebaseline=int(number(s, "rebaseline", Settings().rebaseline, minimum=0)),
        holidays=holidays,
        holiday_mode=s.choice("holiday_mode", ("sunday", "exclude"), "sunday"),
        timezone=_timezone(s),
        max_history=history // bucket + 1,
        # A failure ratio is no count even when it was 0 throughout (non-negative integers:
        # inferred as counts, 0 -> 1.0 was 1.1 Poisson spreads, never a page), nor is a
        # latency in whole ns (inferred as counts, Poisson's spread of a steady 200 ms is
        # 0.007 ms: 205 ms paged).
        counts=metric not in ("failure_ratio", "p95_latency"),
        # A latency (ns) spreads at least 10% of its level and 1 ms, so one constant in
        # training pages at ~30% off it (200 -> 205 ms: no page; 200 -> 600 ms, 3 -> 10 ms:
        # a page), not on any change.
        min_spread={"failure_ratio": 0.001, "p95_latency": 1e6}.get(metric, 0.0),
        level_spread=0.1 if metric == "p95_latency" else 0.0,
    )
    unit = {60_000: "min", 3_600_000: "h"}.get(bucket, f"{bucket // 60_000}min")
    label = s.text("label") or (f"{METRICS[metric][2]}/{unit}" if metric == "rate"
                                else METRICS[metric][2])
    model_dir = s.text("model_dir") or os.environ.get("MIDWATCH_MODEL_DIR") or \
        str(Path.home() / ".cache" / "midwatch" / "anomaly-models")
    return Spec(metric, bucket, float(number(s, "threshold", 0.8, minimum=0.01, maximum=0.999)),
                history, s.duration_ms("retrain", "1d", minimum_ms=bucket), settings, label,
                model_dir)


def _holidays(s: Section) -> frozenset[int]:
    raw = s.raw("holidays", [])
    if not isinstance(raw, list):
        raise s.error("holidays", "expected a list of dates", "e.g. [2026-12-25, 2027-01-01]")
    days = set()
    for item in raw:
        try:
            day = item if isinstance(item, dt.date) else dt.date.fromisoformat(str(item))
        except ValueError:
            raise s.error("holidays", f"expected dates like 2026-12-25, got {item!r}") from None
        days.add((day - dt.date(1970, 1, 1)).days)
    return frozenset(days)


def _timezone(s: Section) -> str:
    name = s.text("timezone") or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise s.error("timezone", f"unknown time zone {name!r}",
                      "an IANA name like Europe/Berlin") from None
    return name


def index(spec: Spec) -> str:
    return METRICS[spec.metric][0]


def _filters(rule: Rule) -> Rule:
    """The stuck metric counts traces marked stuck, on top of the rule's own filters."""
    if rule.spec.metric != "stuck":
        return rule
    return replace(rule, filters=(*rule.filters, Filter("status", "eq", "stuck")))


def _query(rule: Rule, start_ms: int, end_ms: int) -> MetricQuery:
    idx, agg, _ = METRICS[rule.spec.metric]
    time_field = "started_at" if idx == "traces" else "@timestamp"
    q = window_query(_filters(rule), end_ms, agg, index=idx, start_ms=start_ms, end_ms=end_ms,
                     time_field=time_field)
    return replace(q, bucket_ms=rule.spec.bucket_ms)


def _end(rule: Rule, at_ms: int) -> int:
    """End of the last complete bucket: a half-filled bucket would look like a drop."""
    return bucket_start(at_ms, rule.spec.bucket_ms)


def _context_buckets(rule: Rule) -> int:
    return context_rows(rule.spec.settings, rule.spec.bucket_ms) + 1


# Rules whose last evaluation met groups their model has not learned (a new flow, partner or
# service beside learned ones), so the next evaluation past ``retrain`` learns them instead of
# waiting for the schedule (up to history/4, a week by default). A model of no series follows
# the schedule alone, as ``anomaly score`` does. At most one entry a rule.
_NEWCOMERS: dict[str, bool] = {}


def retain(names: set[str]) -> None:
    """A reload: models and newcomer marks of rules no longer loaded leave memory."""
    persist.retain(names)
    for name in [n for n in _NEWCOMERS if n not in names]:
        del _NEWCOMERS[name]


def _due(rule: Rule, model: Model | None, end_ms: int) -> bool:
    """No model, or ``schedule.due`` for one of its series: the schedule ``anomaly score``
    and ``evaluate`` retrain on, per series from its history (``Model.history``: buckets
    since its first data; a model of no series is one learned from no rows). A model learned from the buckets before the one
    scored at ``end_ms`` has scored no rows since; one learned from after it (a replay, a
    test) fewer than none."""
    if model is None:
        return True
    spec: Spec = rule.spec
    if (_NEWCOMERS.get(rule.name) and len(model.keys)
            and end_ms - model.trained_to_ms > spec.retrain_ms):
        return True
    since = (end_ms - model.trained_to_ms) // spec.bucket_ms - 2
    learned = np.unique(model.history[model.history > 0])
    return any(schedule.due(int(rows), since, spec.settings, spec.retrain_ms // spec.bucket_ms)
               for rows in (learned if len(learned) else [0]))


def _spans(rule: Rule, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) cut so that groups x buckets of each search stays under Elasticsearch's
    search.max_buckets (terms buckets count too) and the store's MAX_BUCKETS."""
    per = max(1, min(MAX_BUCKETS, MAX_SEARCH_BUCKETS // max(rule.max_groups, 1) - 1))
    step = per * rule.spec.bucket_ms
    return [(t, min(t + step, end)) for t in range(start, end, step)]


def _scoring_spans(rule: Rule, end: int) -> list[tuple[int, int]]:
    return _spans(rule, _context_start(rule, end), end)


def _training_spans(rule: Rule, end: int) -> list[tuple[int, int]]:
    """Learn from what came before the scored bucket, so it cannot vouch for itself."""
    last = end - rule.spec.bucket_ms
    return _spans(rule, last - rule.spec.history_ms, last)


def _ingest_queries(rule: Rule, start: int, stop: int) -> list[MetricQuery]:
    """Every event the collector ingested over [start, stop), per bucket (no filter, no
    group): in which buckets the collector was down. Cut by ``MAX_BUCKETS`` alone, not by the
    rule's ``max_groups``, so the queries are identical for every anomaly rule of a bucket
    size (and context) and the engine sends them once."""
    step = MAX_BUCKETS * rule.spec.bucket_ms
    return [MetricQuery("events", a, min(a + step, stop), Agg("count"),
                        bucket_ms=rule.spec.bucket_ms, max_groups=1)
            for a in range(start, stop, step)]


def _context_start(rule: Rule, end: int) -> int:
    return end - _context_buckets(rule) * rule.spec.bucket_ms


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    """The scored context (the rule's searches, then the collector's ingest); the history
    and its ingest when the model is due."""
    spec: Spec = rule.spec
    end = _end(rule, at_ms)
    qs = [_query(rule, a, b) for a, b in _scoring_spans(rule, end)]
    qs += _ingest_queries(rule, _context_start(rule, end), end)
    if _due(rule, persist.cached(rule, spec.model_dir), end):
        spans = _training_spans(rule, end)
        qs += [_query(rule, a, b) for a, b in spans]
        qs += _ingest_queries(rule, spans[0][0], spans[-1][1])
    return qs


def _matrix(rule: Rule, rows: list[MetricRow], times: np.ndarray,
            keys: list[tuple] | None = None) -> tuple[list[tuple], np.ndarray, np.ndarray]:
    """(keys, values[S, T], answered[S, T]): a count series is 0 in a bucket without events
    once it has started (before its first event it did not exist: NaN); other metrics are
    NaN there. ``answered``: the answer held a row of the group for the bucket.

    Training reads ~1M rows: one cheap pass per row attribute, group keys made text once
    per distinct group (``group_key`` semantics), the matrix filled by numpy."""
    counting = METRICS[rule.spec.metric][1].kind == "count"
    index = {int(t): i for i, t in enumerate(times)}
    raw = [tuple(map(r.group.get, rule.group_by)) for r in rows]
    text = {k: tuple("" if v is None else str(v) for v in k) for k in set(raw)}
    cols = np.fromiter((index.get(r.bucket_ms, -1) for r in rows), np.int64, len(rows))
    vals = np.fromiter((np.nan if r.value is None else r.value for r in rows), float, len(rows))
    ok = (cols >= 0) & ~np.isnan(vals)
    if keys is None:
        keys = list(dict.fromkeys(text[k] for k, good in zip(raw, ok, strict=True) if good))
    position = {k: i for i, k in enumerate(keys)}
    where = np.fromiter((position.get(text[k], -1) for k in raw), np.int64, len(rows))
    ok &= where >= 0
    values = np.full((len(keys), len(times)), np.nan)
    values[where[ok], cols[ok]] = vals[ok]
    answered = ~np.isnan(values)
    if counting:
        started = np.cumsum(np.nan_to_num(values) > 0, axis=1) > 0
        values = np.where(started, np.nan_to_num(values), np.nan)
    return keys, values, answered


def _cut_out(rule: Rule, spans: list[tuple[int, int]], times: np.ndarray,
             answered: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """(judged keys, times): True where an answer that came back full (``max_groups``
    groups of ``answered``, each search capped on its own) left the judged group out.
    Uncounted is not 0: a small flow that a busier one pushed out of the answer is still
    sending, and as a run of empty buckets it paged as an outage. There it is no data, as
    spike and absence skip such a group (an open alert of it is judged alone by the
    engine). ``answered`` and ``judged``: ``_matrix``'s, of the answer's groups and of the
    groups judged (a model's)."""
    out = np.zeros(judged.shape, dtype=bool)
    if not rule.group_by or not len(judged):
        return out
    for start, stop in spans:
        cols = (times >= start) & (times < stop)
        if np.count_nonzero(answered[:, cols].any(axis=1)) >= rule.max_groups:
            out[np.ix_(~judged[:, cols].any(axis=1), cols)] = True
    return out


def _outages(times: np.ndarray, ingested: list[MetricRow], bucket_ms: int) -> np.ndarray:
    """(T,) buckets in which the collector ingested no event at all while, in at least half
    of the other weeks, it did at that time of the week: the collector was down, so no
    flow's 0 there says anything. Learned as 0, two dead Tuesday mornings in four weeks
    halved the expected level (and their deviations made the tails heavier), so a real
    drop there no longer paged. A time the whole platform is quiet every week (a night) is
    no outage and is learned. ``ingested``: ``_ingest_queries``' rows (none: no outage)."""
    live = _live(times, ingested)
    slot = (times // bucket_ms) % (7 * DAY_MS // bucket_ms)
    weeks = np.bincount(slot, minlength=7 * DAY_MS // bucket_ms)
    alive = np.bincount(slot, weights=live, minlength=len(weeks))
    return ~live & (alive[slot] > 0) & (alive[slot] >= 0.5 * (weeks[slot] - 1))


def _live(times: np.ndarray, ingested: list[MetricRow]) -> np.ndarray:
    """(T,) buckets in which the collector ingested at least one event."""
    return np.isin(times, [r.bucket_ms for r in ingested if r.value])


def _train(rule: Rule, end: int, results: list[list[MetricRow]]) -> Model:
    spec: Spec = rule.spec
    last = end - spec.bucket_ms
    times = np.arange(bucket_start(last - spec.history_ms, spec.bucket_ms), last,
                      spec.bucket_ms, dtype=np.int64)
    spans = _training_spans(rule, end)
    rows = [r for chunk in results[:len(spans)] for r in chunk]
    ingested = [r for chunk in results[len(spans):] for r in chunk]
    keys, values, answered = _matrix(rule, rows, times)
    values[_cut_out(rule, spans, times, answered, answered)] = np.nan
    values[:, _outages(times, ingested, spec.bucket_ms)] = np.nan
    with timings.timed("train", rule.name, len(keys)):
        model = train(times, values, spec.settings, keys=keys)
    persist.save(rule, spec.model_dir, model)
    _NEWCOMERS.pop(rule.name, None)
    return model


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    end = _end(rule, at_ms)
    spans = _scoring_spans(rule, end)
    k = len(spans)
    m = k + len(_ingest_queries(rule, _context_start(rule, end), end))
    now = [r for chunk in results[:k] for r in chunk]
    ingested = [r for chunk in results[k:m] for r in chunk]
    model = _train(rule, end, results[m:]) if len(results) > m else \
        persist.cached(rule, spec.model_dir)
    if model is None:
        return []
    n = _context_buckets(rule)
    times = np.arange(end - n * spec.bucket_ms, end, spec.bucket_ms, dtype=np.int64)
    seen, seen_values, answered = _matrix(rule, now, times)
    row_of = {k: i for i, k in enumerate(seen)}
    rows = np.array([row_of.get(k, -1) for k in model.keys], dtype=np.int64)
    values = np.full((len(model.keys), n), np.nan)
    values[rows >= 0] = seen_values[rows[rows >= 0]]
    judged = np.zeros(values.shape, dtype=bool)
    judged[rows >= 0] = answered[rows[rows >= 0]]
    if METRICS[spec.metric][1].kind == "count":
        values = np.nan_to_num(values)  # a flow gone silent has no rows at all: zeros
    values[_cut_out(rule, spans, times, answered, judged)] = np.nan  # not judged
    # The collector ingested nothing at all: no flow's 0 says anything about the flow (a
    # Kafka or store outage paged every flow as a drop, 50 flows 50 pages, where
    # midwatch-collector-stalled pages once). No data: neither fires nor resolves. Where
    # the collector is idle every week (a night), no flow expects events, so no drop could
    # page there either.
    live = _live(times, ingested)
    values[:, ~live] = np.nan
    with timings.timed("score", rule.name, len(model.keys)):
        scored = score(model, times, values, threshold=spec.threshold)
        holds = _no_recovery(rule, scored)
        on = pages.firing(scored.score, scored.raw, spec.threshold, holds)
    # What keeps an alert that is already firing (the engine's state, however long ago it
    # started): the last bucket still that anomalous, or no recovery (no data; no event).
    stays = (scored.raw[:, -1] >= spec.threshold) | holds[:, -1]
    runs, expected_events = empty_run(model, times, values)
    slot = slot_text(int(times[-1]), spec.settings.timezone)
    out = []
    for i, key in enumerate(model.keys):
        value = float(scored.observed[i, -1])
        held = np.isnan(value)
        if held and not (on[i] or stays[i]):
            continue
        if held:  # no data: a firing alert holds on the last value seen, if any
            last_seen = scored.observed[i][~np.isnan(scored.observed[i])]
            value = float(last_seen[-1]) if len(last_seen) else value
        cold = bool(scored.cold[i])
        low, high = float(scored.expected_low[i, -1]), float(scored.expected_high[i, -1])
        if np.isnan(value):
            text = f"{spec.label}: no data in the last {n} buckets"
        else:
            text = explain(spec.label, value, low, high, int(times[-1]), model, i,
                           spec.bucket_ms, (int(runs[i]), float(expected_events[i])))
            if held:
                text += ", no data in the last bucket" + (
                    "" if live[-1] else " (the collector ingested no event at all)")
        observed = None if np.isnan(value) else value
        sample = Sample(dict(zip(rule.group_by, key, strict=True)), observed, bool(on[i]), {
            "score": round(float(scored.raw[i, -1]), 4),
            "page_score": round(float(scored.score[i, -1]), 4), "observed": observed,
            "expected_low": low, "expected_high": high,
            "state": "cold_start" if cold else "learned", "explanation": text, "slot": slot,
            "metric": spec.label})
        current = replace(sample, active=bool(on[i] or stays[i]))
        if stays[i] and not on[i]:  # for ``rules explain``: why an open alert is kept
            current = replace(current, context={**sample.context, "held": _held(
                rule, float(scored.observed[i, -1]), float(scored.raw[i, -1]), live[-1])})
        out.append(replace(sample, current=current))
    known = set(model.keys)
    unknown = [k for k in seen if k not in known]
    if unknown:
        _NEWCOMERS[rule.name] = True
    return out + _newcomers(rule, unknown, seen_values, row_of, slot)


def _held(rule: Rule, observed: float, raw: float, live: bool) -> str:
    """Why the last bucket keeps an open alert firing that it would not start."""
    if not live:
        return "no data: the collector ingested no event at all in the last bucket"
    if np.isnan(observed):
        return "no data in the last bucket: no recovery"
    if raw < rule.spec.threshold:
        return "no event in the last bucket: no recovery until traffic is back"
    return f"the last bucket is still anomalous (score {raw:.3f} >= {rule.spec.threshold})"


def _no_recovery(rule: Rule, scored: Scores) -> np.ndarray:
    """(S, T) buckets that do not end a firing alert: no data (a latency or ratio in an hour
    without messages), and for a count not spikes alone, no event at all after a drop. A
    busy flow that stopped dead fired at 09:00 and resolved at 18:00, where 0 against a
    night's ~6 is less rare, and then took 0 as its new level: it never paged again.
    Resolved means traffic is back. An alert that fired on a spike resolves on the first
    bucket below the threshold, events or none (a batch flow idle after its 02:00 burst
    held the burst's alert for a day)."""
    empty = np.isnan(scored.observed)
    direction = rule.spec.settings.direction
    if METRICS[rule.spec.metric][1].kind == "count" and direction != "spike":
        zero = scored.observed == 0
        if direction == "both":
            zero &= ~_after_spike(scored, rule.spec.threshold)
        empty |= zero
    return empty


def _after_spike(scored: Scores, threshold: float) -> np.ndarray:
    """(S, T) whether the last bucket up to t at or above the threshold (the one that fired
    or kept the alert) was above its expected range's middle. None in the scored context:
    not a spike (a flow stopped days ago is held as the drop it was). Each anomalous bucket
    is coded 2 x (its column + 1) + (1 if a spike), others 0: the running maximum is the last
    anomalous bucket's code (4x less CPU than indexing back into the columns)."""
    cols = np.arange(2, 2 * scored.raw.shape[1] + 2, 2, dtype=np.int32)
    spike = scored.observed > (scored.expected_low + scored.expected_high) / 2
    code = ((scored.raw >= threshold) & ~np.isnan(scored.observed)) * (cols + spike)
    return (np.maximum.accumulate(code, axis=1) & 1).astype(bool)


def _newcomers(rule: Rule, keys: list[tuple], values: np.ndarray, row_of: dict,
               slot: str) -> list[Sample]:
    """Groups born since the last training: in cold start until the next one learns them."""
    label = rule.spec.label
    out = []
    for key in keys:
        value = float(values[row_of[key], -1])
        if np.isnan(value):
            continue
        out.append(Sample(dict(zip(rule.group_by, key, strict=True)), value, False, {
            "score": 0.0, "observed": value, "expected_low": None, "expected_high": None,
            "state": "cold_start", "explanation": f"{label} {value:g}: still learning",
            "slot": slot, "metric": label}))
    return out
