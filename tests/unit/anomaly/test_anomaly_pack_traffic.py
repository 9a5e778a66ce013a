"""The shipped anomaly pack on four weeks of hourly integration traffic (issue 20's case).

Weekdays 08-18 ~40 orders an hour with Poisson noise, nights ~8, weekends ~5; on a Sunday
03:00 a burst of 60, on a Tuesday 10:00 a drop to 3. The rule (``pack:anomaly`` as shipped)
is evaluated every hour of the three weeks after its first week, as ``midwatch run`` would,
against a real SQLite store: it must page on those two hours and on no other -- in
particular not on normal Monday and Saturday business hours, which the detector before
issue 20 paged on.
"""

from __future__ import annotations

import numpy as np
import pytest

from collector.event import Event, event_id
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.anomaly import persist
from rules.config import load_rules_config
from rules.engine import Engine

HOUR = 3_600_000
DAY = 24 * HOUR
START = 1_772_409_600_000  # Monday 2026-03-02 00:00 UTC
SPIKE = START + 20 * DAY + 3 * HOUR  # Sunday 2026-03-22 03:00
DROP = START + 22 * DAY + 10 * HOUR  # Tuesday 2026-03-24 10:00
END = START + 28 * DAY


def hourly_counts(seed: int = 20) -> dict[int, int]:
    rng = np.random.default_rng(seed)
    out = {}
    for at in range(START, END, HOUR):
        hour, weekday = (at % DAY) // HOUR, ((at // DAY) + 3) % 7 < 5
        level = (40 if 8 <= hour < 18 else 8) if weekday else 5
        out[at] = int(rng.poisson(level))
    out[SPIKE], out[DROP] = 60, 3
    return out


def _received(tag: str, counts) -> list[Event]:
    """o2c's orders received: ``n`` spread over the hour starting at ``at``, per (at, n)."""
    events = []
    for at, n in counts:
        for i in range(n):
            ts = at + i * (HOUR // (n + 1))
            events.append(Event(ts, "mule.log", "mulesoft", "order received", outcome="success",
                                level="info", id=event_id(tag, f"o2c-{ts}-{i}"),
                                flow="o2c", stage="api.received", message_id=f"o2c-{ts}-{i}"))
    return events


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "traffic.sqlite")
    s.setup()
    events = _received("traffic", hourly_counts().items())
    assert s.write_events(events).written == len(events)
    s.refresh()
    yield s
    s.close()


@pytest.mark.timeout(300)
def test_pack_pages_on_the_drop_and_the_spike_and_nothing_else(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(tmp_path / "models"))
    persist.forget()
    cfg = load_rules_config(loads("rules:\n  paths: [pack:anomaly]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, store)
    pages, summaries = [], {}
    # Every hour from the second week on, 30 s after the hour's bucket closed.
    for bucket in range(START + 7 * DAY, END, HOUR):
        outcome = engine.evaluate(bucket + HOUR + 30_000)
        assert not outcome.failed_rules
        for alert in outcome.alerts:
            if alert.moved == "firing":
                pages.append(bucket)
                summaries[bucket] = alert.annotations["summary"]
    assert pages == [SPIKE, DROP], [(p - START) / HOUR for p in pages]
    # Every page explains itself against the hour of the week, and the expected range holds
    # the normal values and not the anomaly.
    drop = summaries[DROP]
    assert drop.startswith("o2c: events/h 3, expected ") and "for Tue 10:00" in drop, drop
    low, high = map(float, drop.split("expected ")[1].split(" for")[0].split("-"))
    assert 3 < low < 30 < 50 < high, drop
    spike = summaries[SPIKE]
    assert spike.startswith("o2c: events/h 60, expected ") and "for Sun 03:00" in spike, spike
    low, high = map(float, spike.split("expected ")[1].split(" for")[0].split("-"))
    assert low <= 5 <= high < 60, spike


STOP = START + 22 * DAY + 10 * HOUR  # Tuesday 2026-03-24 10:00: the flow stops
BACK = STOP + 10 * DAY  # Friday 2026-04-03 10:00: it sends again


@pytest.fixture
def retired_store(tmp_path):
    """The pack's traffic, none from STOP to BACK, then the same again for a day; another
    flow, ping, sends one event every hour throughout, so the collector is running (a bucket
    in which it ingested nothing at all is no data for every flow)."""
    s = _silent_between(tmp_path / "retired.sqlite", STOP, BACK)
    yield s
    s.close()


def _silent_between(path, stop: int, back: int) -> SQLiteStore:
    """``retired_store``'s traffic with o2c silent from ``stop`` to ``back``."""
    s = SQLiteStore(path)
    s.setup()
    counts = hourly_counts()
    events = [Event(at, "mule.log", "mulesoft", "ping", outcome="success", level="info",
                    id=event_id("retired", f"ping-{at}"), flow="ping", stage="api.received",
                    message_id=f"ping-{at}") for at in range(START, back + DAY, HOUR)]
    for at in [t for t in range(START, back + DAY, HOUR) if not stop <= t < back]:
        n = counts[START + (at - START) % (28 * DAY)]  # four weeks over again
        for i in range(n):
            ts = at + i * (HOUR // (n + 1))
            events.append(Event(ts, "mule.log", "mulesoft", "order received", outcome="success",
                                level="info", id=event_id("retired", f"o2c-{ts}-{i}"),
                                flow="o2c", stage="api.received", message_id=f"o2c-{ts}-{i}"))
    assert s.write_events(events).written == len(events)
    s.refresh()
    return s


@pytest.mark.timeout(300)
def test_a_flow_that_stops_stays_firing_until_it_sends_again(retired_store, tmp_path,
                                                              monkeypatch):
    """A flow that stops pages once and its alert stays firing, through the night, the
    next retrain (history/4: a week) and the scored context (~120 buckets), until an
    event arrives. Before, the empty buckets held the alert only while its page lay in the
    scored context or until the model was retrained on the empty week: it resolved with
    traffic still 0."""
    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(tmp_path / "models"))
    persist.forget()
    cfg = load_rules_config(loads("rules:\n  paths: [pack:anomaly]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, retired_store)
    moves = []
    for bucket in [*range(STOP - 2 * HOUR, STOP + 3 * HOUR, HOUR),
                   *range(STOP + 3 * HOUR, BACK - DAY, 6 * HOUR),
                   *range(BACK - DAY, BACK + 3 * HOUR, HOUR)]:
        outcome = engine.evaluate(bucket + HOUR + 30_000)
        assert not outcome.failed_rules
        moves += [((bucket - STOP) // HOUR, a.moved) for a in outcome.alerts if a.moved]
    assert moves == [(0, "firing"), ((BACK - STOP) // HOUR, "resolved")], moves


@pytest.mark.timeout(300)
def test_a_spike_followed_by_silence_resolves_on_the_first_quiet_bucket(tmp_path, monkeypatch):
    """The Sunday 03:00 burst of 60 (5 expected), then o2c sends nothing for two hours. The
    pack watches both directions; no event is no recovery from a drop only: the spike's
    alert resolves at 04:00. Before, the empty hours held the spike's alert firing until
    traffic came back (a batch flow idle between bursts: until its next burst)."""
    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(tmp_path / "models"))
    persist.forget()
    cfg = load_rules_config(loads("rules:\n  paths: [pack:anomaly]\n"))
    store = _silent_between(tmp_path / "spiked.sqlite", SPIKE + HOUR, SPIKE + 3 * HOUR)
    engine = Engine(cfg, store)
    moves = []
    for bucket in range(SPIKE - 2 * HOUR, SPIKE + 3 * HOUR, HOUR):
        outcome = engine.evaluate(bucket + HOUR + 30_000)
        assert not outcome.failed_rules
        moves += [((bucket - SPIKE) // HOUR, a.moved) for a in outcome.alerts if a.moved]
    store.close()
    assert moves == [(0, "firing"), (1, "resolved")], moves


DST_MONDAY = START + 28 * DAY  # 2026-03-30: Europe/Berlin moved to UTC+2 on Sunday


@pytest.fixture
def berlin_store(tmp_path):
    """Business hours in Berlin: weekdays 08-18 local ~40 orders an hour, else 8 (weekends
    5), four weeks before the DST change and two days after it."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    s = SQLiteStore(tmp_path / "berlin.sqlite")
    s.setup()
    rng = np.random.default_rng(7)
    zone = ZoneInfo("Europe/Berlin")
    counts = []
    for at in range(START, DST_MONDAY + 2 * DAY, HOUR):
        local = dt.datetime.fromtimestamp(at / 1000, tz=zone)
        level = (40 if 8 <= local.hour < 18 else 8) if local.weekday() < 5 else 5
        counts.append((at, int(rng.poisson(level))))
    events = _received("berlin", counts)
    assert s.write_events(events).written == len(events)
    s.refresh()
    yield s
    s.close()


@pytest.mark.timeout(300)
def test_the_pack_follows_local_hours_across_a_dst_change(berlin_store, tmp_path,
                                                          monkeypatch):
    """Berlin business traffic, the first two weekdays after the change to summer time.
    Learned in UTC (the pack had no timezone), 08:00 local came an hour early: the ramp-up
    paged as a spike and the evening as a drop. MIDWATCH_TIMEZONE sets the pack's."""
    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MIDWATCH_TIMEZONE", "Europe/Berlin")
    persist.forget()
    cfg = load_rules_config(loads("rules:\n  paths: [pack:anomaly]\n"))
    assert not cfg.errors, cfg.errors
    assert cfg.rules[0].spec.settings.timezone == "Europe/Berlin"
    engine = Engine(cfg, berlin_store)
    pages = []
    for bucket in range(DST_MONDAY, DST_MONDAY + 2 * DAY, HOUR):
        outcome = engine.evaluate(bucket + HOUR + 30_000)
        assert not outcome.failed_rules
        pages += [(bucket - DST_MONDAY) // HOUR for a in outcome.alerts if a.moved == "firing"]
    assert pages == [], pages


@pytest.mark.timeout(300)
def test_a_stopped_flow_resolves_once_its_whole_history_is_silent(retired_store, tmp_path):
    """The one end of a stopped flow's alert besides traffic (and the rule's removal): no
    event in the whole ``history`` (here 7d), after which the next retrain (at most
    history/4 later) no longer learns the flow and its alert resolves."""
    rules = tmp_path / "short.yaml"
    rules.write_text(f"""\
rules:
  - name: short-history
    type: anomaly
    bucket: 1h
    history: 7d
    min_history: 1d
    group_by: [midwatch.flow]
    window: 1h
    model_dir: {tmp_path / "models"}
""")
    persist.forget()
    cfg = load_rules_config(loads(f"rules:\n  paths: [{rules}]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, retired_store)
    moves = []
    for bucket in [*range(STOP - HOUR, STOP + 2 * HOUR, HOUR),
                   *range(STOP + 2 * HOUR, BACK - HOUR, 3 * HOUR)]:
        outcome = engine.evaluate(bucket + HOUR + 30_000)
        assert not outcome.failed_rules
        moves += [((bucket - STOP) // HOUR, a.moved) for a in outcome.alerts if a.moved]
    assert [m for _, m in moves] == ["firing", "resolved"], moves
    assert moves[0][0] == 0 and 7 * 24 <= moves[1][0] <= 7 * 24 + 42 + 3, moves


@pytest.mark.timeout(300)
def test_rules_explain_says_a_stopped_flows_alert_is_held_and_why(retired_store, tmp_path,
                                                                   monkeypatch):
    """Six days after o2c stopped, its alert fires on (no event is no recovery), but its
    page lies beyond the scored context: ``rules explain`` read the group as not
    breaching, "within bound; state firing", while the engine held it."""
    from rules.explain import explain, render

    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(tmp_path / "models"))
    persist.forget()
    cfg = load_rules_config(loads("rules:\n  paths: [pack:anomaly]\n"))
    engine = Engine(cfg, retired_store)
    for bucket in (STOP, STOP + 6 * DAY):
        engine.evaluate(bucket + HOUR + 30_000)
    doc = explain(cfg, retired_store, "flow-volume-anomaly", STOP + 6 * DAY + HOUR + 60_000,
                  {"flow": "o2c"})
    [group] = doc["groups"]
    assert group["state"] == "firing" and group["breaching"], group
    assert "-> held firing: no event in the last bucket: no recovery until traffic is back" \
        in render(doc), render(doc)
