"""slo_burn rules and slos: entries: mistakes name file, line and key; the defaults are the
SRE workbook's window sets; the burn rate is computed from one bucketed aggregation."""

from __future__ import annotations

import pytest

from collector.store.base import MetricRow
from collector.yamlconf import ConfigError, loads
from rules.loader import parse_rule
from rules.slo import load_slos
from rules.types import slo_burn

MIN = 60_000


def _rule(body: str):
    doc = loads(f"rules:\n  - {{name: r, type: slo_burn, {body}}}\n", "r.yaml")
    return parse_rule(doc, ("rules", 0), doc.data["rules"][0], None)


def test_defaults_are_the_workbook_window_sets():
    rule = _rule("flow: o2c, objective: 99.9, group_by: [flow]")
    assert rule.spec.windows == slo_burn.DEFAULT_WINDOWS
    assert rule.spec.bucket_ms == 5 * MIN and rule.spec.objective.objective == pytest.approx(0.999)
    (q,) = slo_burn.queries(rule, 1_709_546_400_000)
    assert (q.index, q.time_field, q.bucket_ms) == ("traces", "last_seen", 5 * MIN)
    assert q.end_ms - q.start_ms == 3 * 24 * 60 * MIN  # the longest window, once


@pytest.mark.parametrize(("body", "message"), [
    ("flow: o2c", "objective: is required"),
    ("flow: o2c, objective: 100", "100 would leave no error budget"),
    ("flow: o2c, objective: 99, windows: [{long: 5m, short: 1h, burn_rate: 2}]",
     "the short window must be shorter"),
    ("flow: o2c, objective: 99, windows: [{long: 1h, short: 5m}]", "burn_rate: is required"),
    ("probe: api, flow: o2c, objective: 99", "an availability objective is about a probe"),
    ("sli: sla, probe: api, objective: 99", "an sla objective is about a flow"),
])
def test_rule_mistakes_name_file_line_and_key(body, message):
    with pytest.raises(ConfigError) as info:
        _rule(body)
    assert "r.yaml:2:" in str(info.value) and message in str(info.value)


def test_duplicate_slo_names_are_refused():
    doc = loads("slos:\n  - {name: a, flow: x, objective: 99}\n  - {name: a, flow: y, "
                "objective: 99}\n", "mw.yaml")
    with pytest.raises(ConfigError, match=r"mw.yaml:3:.*SLO 'a' is defined twice"):
        load_slos(doc)


def test_burn_rates_come_from_the_buckets_of_one_query():
    rule = _rule("flow: o2c, objective: 99, min_events: 1, group_by: [flow], "
                 "windows: [{long: 1h, short: 5m, burn_rate: 14.4}]")
    at = 1_709_546_400_000
    # 12 buckets of 5 min, 10 messages each; the last two hold 3 and 2 failures
    rows = [MetricRow({"flow": "o2c"}, 1 - bad / 10, 10, at - (12 - i) * 5 * MIN)
            for i, bad in enumerate([0] * 10 + [3, 2])]
    (sample,) = slo_burn.evaluate(rule, at, [rows])
    # 5 bad of 120 over 1h = 4.2 % = 4.2x of a 1 % budget: below 14.4, though 5m burns at 20x
    assert not sample.active and sample.value == pytest.approx(4.17)
    assert sample.context["burn_rates"] == "1h 4.2x / 5m 20.0x (>= 14.4x)"
