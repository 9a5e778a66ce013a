"""Anomaly rule settings are validated with file:line errors like every other rule key."""

from __future__ import annotations

from collector.yamlconf import loads
from rules.config import load_rules_config


def _load(tmp_path, extra: str, group: str = "midwatch.flow"):
    path = tmp_path / "r.yaml"
    path.write_text(f"rules:\n  - name: vol\n    type: anomaly\n    group_by: [{group}]\n"
                    + extra)
    return load_rules_config(loads(f"rules:\n  paths: [{path}]\n"))


def test_defaults_and_derived_settings(tmp_path):
    cfg = _load(tmp_path, "    bucket: 10m\n    min_history: 2d\n    holidays: [2026-12-25]\n"
                          "    timezone: Europe/Berlin\n")
    assert not cfg.errors
    spec = cfg.rules[0].spec
    assert spec.metric == "rate" and spec.bucket_ms == 600_000 and spec.threshold == 0.8
    assert spec.settings.min_history == 2 * 144  # buckets
    assert spec.settings.holidays == frozenset({20_812})  # 2026-12-25 as an epoch day
    assert spec.label == "events/10min" and spec.settings.timezone == "Europe/Berlin"


def test_bad_settings_name_file_line_and_key(tmp_path):
    for extra, words in (("    bucket: 7m\n", "bucket"), ("    bucket: 2h\n", "bucket"),
                         ("    metric: volume\n", "metric"),
                         ("    timezone: Mars/Olympus\n", "timezone"),
                         ("    holidays: [christmas]\n", "holidays"),
                         ("    threshold: 2\n", "threshold")):
        cfg = _load(tmp_path, extra)
        assert cfg.errors, extra
        text = str(cfg.errors[0])
        assert "r.yaml:" in text and words in text, text


def _rule(tmp_path, extra: str = "", group: str = "midwatch.flow"):
    cfg = _load(tmp_path, f"    model_dir: {tmp_path / 'models'}\n" + extra, group)
    assert not cfg.errors, cfg.errors
    return cfg.rules[0]


def test_every_metric_queries_fields_the_store_knows(tmp_path):
    from collector.store.metric_shape import validate
    from rules.types import anomaly

    for metric in anomaly.METRICS:
        group = "flow" if metric == "stuck" else "midwatch.flow"  # traces vs events fields
        rule = _rule(tmp_path, f"    metric: {metric}\n", group)
        qs = anomaly.queries(rule, AT)
        assert len(qs) > 1  # no model yet: scoring + history
        for q in qs:
            validate(q)  # raises naming the unknown field or aggregation


def test_searches_stay_under_elasticsearch_max_buckets(tmp_path):
    from rules.types import anomaly

    rule = _rule(tmp_path, "    bucket: 1m\n    history: 7d\n    max_groups: 10000\n")
    for q in anomaly.queries(rule, AT):
        buckets = (q.end_ms - q.start_ms) // q.bucket_ms
        assert q.max_groups * (buckets + 1) <= 65_536


def test_a_group_born_after_training_is_in_cold_start(tmp_path):
    from collector.store.base import MetricRow
    from rules.anomaly import persist
    from rules.types import anomaly

    persist.forget()
    rule = _rule(tmp_path, "    bucket: 1h\n    history: 14d\n    min_history: 1d\n")
    hour = 3_600_000
    end = AT - AT % hour
    history = [MetricRow({"midwatch.flow": "o2c"}, 10.0, 10, t)
               for t in range(end - hour - 14 * 24 * hour, end - hour, hour)]
    now = [MetricRow({"midwatch.flow": f}, 10.0, 10, t) for f in ("o2c", "billing")
           for t in range(end - 19 * hour, end, hour)]
    samples = anomaly.evaluate(rule, AT, _now(rule, end, now) + _answers(rule, end, history))
    states = {s.group["midwatch.flow"]: s.context["state"] for s in samples}
    assert states == {"o2c": "learned", "billing": "cold_start"}
    assert not any(s.active for s in samples)


def _now(rule, end: int, rows: list) -> list[list]:
    """The scored context as the store answers it: the rule's ``rows``, then the
    collector's ingest, events in every bucket (other flows keep it busy)."""
    from collector.store.base import MetricRow
    from rules.types import anomaly

    k = len(anomaly._scoring_spans(rule, end))
    return [rows] + [[]] * (k - 1) + [
        [MetricRow({}, 100.0, 100, t) for t in range(q.start_ms, q.end_ms, q.bucket_ms)]
        for q in anomaly._ingest_queries(rule, anomaly._context_start(rule, end), end)]


def _answers(rule, end: int, history: list) -> list[list]:
    """The history rows as the store answers them: one list per search the rule asks."""
    from rules.types import anomaly

    last = end - rule.spec.bucket_ms
    return [[r for r in history if a <= r.bucket_ms < b]
            for a, b in anomaly._spans(rule, last - rule.spec.history_ms, last)]


AT = 1_774_350_030_000  # Tuesday 2026-03-24 11:00:30 UTC


def test_a_newcomer_is_learned_a_retrain_interval_later_not_at_the_weekly_schedule(tmp_path):
    """A flow born after training asks for a retrain once ``retrain`` (1d) has passed, not
    when the schedule next would (history/4: a week for 28 days of history)."""
    from collector.store.base import MetricRow
    from rules.anomaly import persist
    from rules.types import anomaly

    persist.forget()
    rule = _rule(tmp_path, "    bucket: 1h\n    history: 28d\n    min_history: 1d\n")
    hour = 3_600_000
    end = AT - AT % hour
    history = [MetricRow({"midwatch.flow": "o2c"}, 10.0, 10, t)
               for t in range(end - hour - 28 * 24 * hour, end - hour, hour)]
    anomaly.evaluate(rule, AT, _now(rule, end, []) + _answers(rule, end, history))  # o2c alone
    model = persist.cached(rule, rule.spec.model_dir)
    later = AT + 25 * hour
    assert not anomaly._due(rule, model, later - later % hour)  # schedule: not for a week
    now = [MetricRow({"midwatch.flow": f}, 10.0, 10, t) for f in ("o2c", "billing")
           for t in range(end - 19 * hour, end, hour)]
    anomaly.evaluate(rule, AT, _now(rule, end, now))  # scores with the cached model
    assert not anomaly._due(rule, model, end + 2 * hour)  # newcomer, but not a day yet
    assert anomaly._due(rule, model, later - later % hour)  # a day on: learn billing


def test_a_failure_ratio_that_never_failed_pages_when_everything_fails(tmp_path):
    """Four weeks without a failure, then a bucket where half or all messages fail: a page.
    The ratio is no count, but a series of zeros looked like one (non-negative integers) and
    was scored on the square-root scale with Poisson's spread, where 0 -> 1.0 is 1.1
    spreads: 0.60, never a page (before the fix). Without a spread at all, every failure
    would page; a failure ratio's least spread is one in a thousand, so that alone does
    not."""
    from collector.store.base import MetricRow
    from rules.anomaly import persist
    from rules.types import anomaly

    rule = _rule(tmp_path, "    metric: failure_ratio\n    bucket: 1h\n    history: 28d\n"
                           "    min_history: 1d\n")
    hour = 3_600_000
    end = AT - AT % hour
    history = [MetricRow({"midwatch.flow": "o2c"}, 0.0, 100, t)
               for t in range(end - hour - 28 * 24 * hour, end - hour, hour)]
    start = end - anomaly._context_buckets(rule) * hour
    for ratio, pages in ((1.0, True), (0.5, True), (0.001, False)):
        persist.forget()
        now = [MetricRow({"midwatch.flow": "o2c"}, ratio if t == end - hour else 0.0, 100, t)
               for t in range(start, end, hour)]
        [sample] = anomaly.evaluate(rule, AT, _now(rule, end, now) + _answers(rule, end, history))
        assert sample.active is pages, (ratio, sample.context)


def test_a_firing_latency_alert_is_held_through_a_bucket_without_events(tmp_path):
    """p95 latency 5x its usual, then an hour without a message (no latency at all), then
    5x again. No data is no recovery: before the fix the empty hour gave no sample (the
    engine resolved the alert) and broke the firing run, and the next slow hour, part of
    the same episode, did not page again: the incident read resolved while it went on."""
    import numpy as np

    from collector.store.base import MetricRow
    from rules.anomaly import persist
    from rules.types import anomaly

    rule = _rule(tmp_path, "    metric: p95_latency\n    bucket: 1h\n    history: 28d\n"
                           "    min_history: 1d\n    direction: spike\n")
    hour = 3_600_000
    end = AT - AT % hour
    rng = np.random.default_rng(5)
    ms = 1e6  # event.duration is in ns
    history = [MetricRow({"midwatch.flow": "o2c"}, (100 + 5 * rng.standard_normal()) * ms, 50, t)
               for t in range(end - hour - 28 * 24 * hour, end - hour, hour)]
    start = end - anomaly._context_buckets(rule) * hour
    slow = {end - 4 * hour: 500 * ms, end - 3 * hour: 520 * ms, end - 2 * hour: None,
            end - hour: 510 * ms}

    def judged(until: int) -> list:
        persist.forget()
        now = [MetricRow({"midwatch.flow": "o2c"}, slow.get(t, 100 * ms), 50, t)
               for t in range(start, until, hour) if t not in slow or slow[t] is not None]
        return anomaly.evaluate(rule, until + 30_000, _now(rule, until, now)
                                + _answers(rule, until, [r for r in history if r.bucket_ms
                                                         < until - hour]))

    fired = judged(end - 2 * hour)
    assert [s.active for s in fired] == [True]
    held = judged(end - hour)
    assert [s.active for s in held] == [True], held  # the empty hour: still firing
    assert [s.active for s in judged(end)] == [True]


def test_a_busy_flow_that_stops_dead_stays_firing_until_traffic_returns(tmp_path):
    """~60 orders an hour by day, ~6 at night; on a Tuesday at 09:00 none any more. It
    pages at 09:00; at night 0 against ~6 is no longer rare enough to stay at the
    threshold, and after 15 empty hours 0 is taken as the new level, so the alert resolved
    at 18:00 and the dead flow never paged again (before the fix). An empty bucket is no
    recovery: the alert stays firing until an order arrives."""
    import numpy as np

    from collector.store.base import MetricRow
    from rules.anomaly import persist
    from rules.types import anomaly

    rule = _rule(tmp_path, "    bucket: 1h\n    history: 28d\n    min_history: 7d\n")
    hour, day = 3_600_000, 86_400_000
    tuesday = AT - AT % day  # 2026-03-24 00:00 UTC
    stop = tuesday + 9 * hour
    rng = np.random.default_rng(8)

    def count(t: int) -> int:
        busy = 8 <= (t % day) // hour < 18 and ((t // day) + 3) % 7 < 5
        return 0 if t >= stop else int(rng.poisson(60 if busy else 6))

    counts = {t: count(t) for t in range(stop - 29 * day, stop + 2 * day, hour)}
    rows = [MetricRow({"midwatch.flow": "o2c"}, float(n), n, t) for t, n in counts.items() if n]
    persist.forget()
    history = anomaly._spans(rule, stop - 28 * day, stop)
    anomaly.evaluate(rule, stop + hour, _now(rule, stop + hour, []) + [  # learn from before the stop
        [r for r in rows if a <= r.bucket_ms < b] for a, b in history])
    for at in (stop + hour, stop + 10 * hour, stop + 16 * hour, stop + 24 * hour):
        start = anomaly._context_start(rule, at)
        [sample] = anomaly.evaluate(rule, at + 30_000, _now(
            rule, at, [r for r in rows if start <= r.bucket_ms < at]))
        assert sample.value == 0 and sample.active, (at - stop) // hour


def test_a_model_that_could_not_be_saved_is_not_evicted_from_memory(tmp_path):
    """model_dir not writable (a read-only home in a container) and more anomaly rules than
    the in-memory cache holds: the oldest model was evicted with no file behind it, so its
    rule's next scoring-only evaluation found no model and returned no samples (the engine
    resolved its open alerts; the pass after retrained and paged them again)."""
    from dataclasses import replace

    import numpy as np

    from rules.anomaly import persist
    from rules.anomaly.model import HOUR_MS, Settings, train

    (tmp_path / "file").write_text("")
    unwritable = str(tmp_path / "file" / "models")  # under a file: mkdir fails
    model = train(np.arange(48, dtype=np.int64) * HOUR_MS, np.ones((1, 48)), Settings())
    persist.forget()
    rules = [replace(_rule(tmp_path), name=f"vol-{i}") for i in range(persist.CACHE_SIZE + 1)]
    for rule in rules:
        persist.save(rule, unwritable, model)
    assert [persist.cached(rule, unwritable) is model for rule in rules] == [True] * len(rules)


def test_unsaved_models_are_bounded_by_size_with_a_warning_naming_model_dir(tmp_path, caplog):
    """model_dir not writable and many anomaly rules: every model was held in memory for
    good (``_unsaved`` is never evicted), without bound; then at most 32 of them, 1-5 GB of
    10k-series models. Now at most MAX_UNSAVED_BYTES of arrays, the least recently used
    dropped with a warning that names model_dir."""
    import logging
    from dataclasses import replace

    import numpy as np

    from rules.anomaly import persist
    from rules.anomaly.model import HOUR_MS, Settings, train

    (tmp_path / "file").write_text("")
    unwritable = str(tmp_path / "file" / "models")
    small = train(np.arange(48, dtype=np.int64) * HOUR_MS, np.ones((1, 48)), Settings())
    # ~10k series' worth of slots (zeros: nothing is touched, so nothing is resident)
    model = replace(small, center=np.zeros((50_000, 168)), scale=np.zeros((50_000, 168)))
    fits = persist.MAX_UNSAVED_BYTES // persist.size(model)
    assert 2 <= fits < 32  # fewer than the old cap of models
    persist.forget()
    rules = [replace(_rule(tmp_path), name=f"vol-{i}") for i in range(fits + 3)]
    with caplog.at_level(logging.WARNING, logger="midwatch.rules"):
        for rule in rules:
            persist.save(rule, unwritable, model)
    held = [persist.cached(rule, unwritable) is model for rule in rules]
    assert held == [False] * 3 + [True] * fits
    dropped = [r.getMessage() for r in caplog.records if "dropped the model" in r.getMessage()]
    assert len(dropped) == 3 and all(unwritable in m and "make model_dir writable" in m
                                     for m in dropped), dropped
    assert "rule vol-0," in dropped[0]
    persist.forget()


def test_a_reload_lets_go_of_the_models_of_removed_and_renamed_rules(tmp_path):
    """A rule removed or renamed by a hot reload kept its model in memory for the life of
    the process (unsaved ones were never evicted at all): the engine's reconfigure now
    tells the anomaly type which rules are loaded, and the others' models go."""
    import numpy as np

    from collector.store.sqlite import SQLiteStore
    from rules.anomaly import persist
    from rules.anomaly.model import HOUR_MS, Settings, train
    from rules.engine import Engine

    (tmp_path / "file").write_text("")
    unwritable = str(tmp_path / "file" / "models")

    def config(*names: str):
        path = tmp_path / "r.yaml"
        path.write_text("rules:\n" + "".join(
            f"  - name: {n}\n    type: anomaly\n    group_by: [midwatch.flow]\n"
            f"    model_dir: {unwritable}\n" for n in names))
        cfg = load_rules_config(loads(f"rules:\n  paths: [{path}]\n"))
        assert not cfg.errors, cfg.errors
        return cfg

    model = train(np.arange(48, dtype=np.int64) * HOUR_MS, np.ones((1, 48)), Settings())
    persist.forget()
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    try:
        before = config("vol-a", "vol-b")
        engine = Engine(before, store)
        for rule in before.rules:
            persist.save(rule, unwritable, model)
        engine.reconfigure(config("vol-b", "vol-c"), AT)  # vol-a removed (or renamed vol-c)
        kept = {r.name: persist.cached(r, unwritable) is model for r in before.rules}
        assert kept == {"vol-a": False, "vol-b": True}
    finally:
        store.close()


def test_a_constant_integer_latency_pages_on_a_real_change_not_on_a_few_percent(tmp_path):
    """p95 latency (ns) exactly 200 ms for four weeks: whole numbers, so it was inferred as
    a count, whose Poisson spread at 2e8 is 0.007 ms: 205 ms paged. A latency is never a
    count, and its spread is at least 10% of its level and 1 ms."""
    from collector.store.base import MetricRow
    from rules.anomaly import persist
    from rules.types import anomaly

    rule = _rule(tmp_path, "    metric: p95_latency\n    bucket: 1h\n    history: 28d\n"
                           "    min_history: 1d\n")
    hour, ms = 3_600_000, 1_000_000
    end = AT - AT % hour
    start = end - anomaly._context_buckets(rule) * hour
    for level, last, pages in ((200 * ms, 205 * ms, False), (200 * ms, 194 * ms, False),
                               (200 * ms, 600 * ms, True), (3 * ms, 10 * ms, True),
                               (3 * ms, 4 * ms, False)):
        history = [MetricRow({"midwatch.flow": "o2c"}, float(level), 50, t)
                   for t in range(end - hour - 28 * 24 * hour, end - hour, hour)]
        now = [MetricRow({"midwatch.flow": "o2c"}, float(last if t == end - hour else level),
                         50, t) for t in range(start, end, hour)]
        persist.forget()
        [sample] = anomaly.evaluate(rule, AT, _now(rule, end, now)
                                    + _answers(rule, end, history))
        assert sample.active is pages, (level / ms, last / ms, sample.context)
