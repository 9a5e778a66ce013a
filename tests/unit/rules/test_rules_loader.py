"""Rule files: every mistake reported with file:line:column, key and a hint; filters, time
windows and templates as documented."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.store.base import Filter
from midwatch.cli import main
from rules.fields import FieldError
from rules.filters import from_query
from rules.loader import load_rules
from rules.templates import TemplateError, compile_template, duration
from rules.timewindows import TimeWindow

PACKS = Path(__file__).parents[3] / "rules" / "packs"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(text)
    return p


def _errors(tmp_path: Path, text: str, notifiers=None) -> list[str]:
    return [str(e) for e in load_rules([_write(tmp_path, text)], notifiers).errors]


BAD = """\
rules:
  - name: a
    type: ratio
    filter: {midwatch.flw: o2c}
    where: {event.outcome: failure}
    above: 0.05
  - name: b
    type: thresold
  - name: c
    type: threshold
    above: 1
    window: 5x
  - name: d
    type: threshold
    above: 1
    group_by: [midwatch.flow, midwatch.ids]
  - name: e
    type: threshold
    above: 1
    notify: [pagerdty]
  - name: f
    type: threshold
    above: 1
    group_by: [midwatch.flow]
    annotations: {summary: "{{ labels.flw }} {{ count }}"}
  - name: g
    type: ratio
    where: {event.outcome: failure}
    above: 5
"""


def test_every_error_has_position_key_and_hint(tmp_path):
    errors = _errors(tmp_path, BAD, notifiers={"pagerduty"})
    f = str(tmp_path / "rules.yaml")
    assert errors == [
        f"{f}:4:14: rules.0.filter.midwatch.flw: unknown field 'midwatch.flw' in events "
        "(did you mean 'midwatch.flow'?)",
        f"{f}:8:5: rules.1.type: unknown rule type 'thresold' (did you mean 'threshold'?)",
        f"{f}:12:5: rules.2.window: expected a duration like 30s, 5m, 2h, 1d; got '5x'",
        f"{f}:16:31: rules.3.group_by.1: cannot group by 'midwatch.ids': it is an array field "
        "(group by a keyword field such as midwatch.flow)",
        f"{f}:20:14: rules.4.notify.0: unknown notifier 'pagerdty' (did you mean 'pagerduty'?)",
        f"{f}:25:19: rules.5.annotations.summary: unknown label 'flw' in {{{{ labels.flw }}}} "
        "(did you mean 'flow'?)",
        f"{f}:29:5: rules.6.above: a ratio is between 0 and 1, got 5 (5% is 0.05)",
    ]


def test_duplicate_names_and_type_checks(tmp_path):
    errors = _errors(tmp_path, """\
rules:
  - {name: a, type: threshold, above: 1}
  - {name: a, type: threshold, above: 2}
  - {name: s, type: absence, group_by: [midwatch.flow]}
  - {name: l, type: latency, source: hop, above_sla: true}
  - {name: u, type: absence, unless_all_silent: true}
""")
    assert "rule name already used" in errors[0]
    assert "rules.2.expected: which groups should be active?" in errors[1]
    assert "rules.3.above_sla: SLAs belong to traces (use source: trace)" in errors[2]
    assert "rules.4.unless_all_silent: needs group_by" in errors[3]


def test_the_same_name_in_two_files_is_refused_naming_the_first(tmp_path):
    """Two files, one rule name: they would share alert state and silences, each resolving
    the other's alerts, so the second is refused with the place of the first."""
    (tmp_path / "a.yaml").write_text("rules:\n  - {name: late-acks, type: threshold, above: 1}\n")
    (tmp_path / "b.yaml").write_text("rules:\n  - {name: ok, type: threshold, above: 1}\n"
                                     "  - {name: late-acks, type: threshold, above: 5}\n")
    loaded = load_rules([tmp_path])
    assert [(r.name, r.origin.split(":")[0]) for r in loaded.rules] == [
        ("late-acks", str(tmp_path / "a.yaml")), ("ok", str(tmp_path / "b.yaml"))]
    assert [str(e) for e in loaded.errors] == [
        f"{tmp_path / 'b.yaml'}:3: late-acks: rule name already used at {tmp_path / 'a.yaml'}:2"
        " (rule names must be unique: they key alert state and silences)"]


def test_cli_validate_exit_codes(tmp_path, capsys):
    assert main(["rules", "validate", str(_write(tmp_path, BAD))]) == 1
    err = capsys.readouterr().err
    # Without -c the notifier names are not checked: six errors, one line each.
    assert err.count("\n") == 6 and "did you mean 'midwatch.flow'?" in err
    assert main(["rules", "validate", str(PACKS)]) == 0
    shipped = len(load_rules([PACKS]).rules)  # packs grow; every one of their rules must load
    assert shipped >= 16
    assert f"{shipped} rules valid, 0 error(s)" in capsys.readouterr().out


def test_packs_pass_their_rule_tests(capsys):
    tests = sorted(str(p) for p in (PACKS / "tests").glob("*.yaml"))
    # every shipped pack has its rule test
    assert [Path(t).name for t in tests] == sorted(p.name for p in PACKS.glob("*.yaml"))
    assert len(tests) >= 8
    assert main(["rules", "test", *tests]) == 0
    assert f"{len(tests)} passed, 0 failed" in capsys.readouterr().out


def test_rule_tests_keep_anomaly_models_in_their_temp_dir(tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(models))
    assert main(["rules", "test", str(PACKS / "tests" / "anomaly.yaml")]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert not models.exists()
    assert os.environ["MIDWATCH_MODEL_DIR"] == str(models)  # restored after the test run


def test_rule_test_failure_prints_a_diff(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text(
        "rules: [{name: many, type: threshold, above: 1, group_by: [midwatch.flow]}]\n")
    t = tmp_path / "t.yaml"
    t.write_text("""\
rule_files: [r.yaml]
input:
  events:
    - {"@timestamp": 2024-03-04T10:00:00Z, repeat: 3, midwatch: {flow: o2c}}
evaluations:
  - at: 2024-03-04T10:01:00Z
    alerts:
      - {rule: many, labels: {flow: inv}, state: firing}
""")
    assert main(["rules", "test", str(t)]) == 1
    out = capsys.readouterr().out
    assert f"{t}:6: at 2024-03-04T10:01:00.000Z:" in out
    assert '  missing:    many {flow="inv"} firing' in out
    assert '  unexpected: many {flow="o2c"} firing' in out


def test_query_string_subset():
    assert from_query("events", 'midwatch.flow:o2c AND NOT log.level:(info OR debug) '
                                'event.duration:[100 TO *] -message:"a b" service.name:ord* '
                                '_exists_:error.code') == (
        Filter("midwatch.flow", "eq", "o2c"),
        Filter("log.level", "in", ("info", "debug"), negate=True),
        Filter("event.duration", "range", (100, None)),
        Filter("message", "eq", "a b", negate=True),
        Filter("service.name", "prefix", "ord"),
        Filter("error.code", "exists"),
    )
    with pytest.raises(FieldError, match="character 19"):
        from_query("events", "midwatch.flow:o2c OR midwatch.flow:inv")
    with pytest.raises(FieldError) as exc:
        from_query("events", "midwatch.flw:o2c")
    assert exc.value.hint == "did you mean 'midwatch.flow'?"


def test_templates_render_helpers_and_refuse_unknowns():
    t = compile_template("{{ labels.flow }}: {{ ratio | percent }} in {{ window | duration }}, "
                         "ids {{ message_ids | top(2) }}, {{ missing_value }}",
                         ["ratio", "window", "message_ids", "missing_value"], ["flow"])
    assert t.render({"labels": {"flow": "o2c"}, "ratio": 0.1234, "window": 5_400_000,
                     "message_ids": ["a", "b", "c"]}) == "o2c: 12.3% in 1h 30m, ids a, b, -"
    assert duration(500) == "500ms" and duration(90_061_000) == "1d 1h"
    with pytest.raises(TemplateError, match="unknown helper 'percnt'"):
        compile_template("{{ ratio | percnt }}", ["ratio"], [])
    with pytest.raises(TemplateError, match="cannot read"):
        compile_template("{{ ratio.__class__() }}", ["ratio"], [])


def test_time_windows_business_hours_and_quiet_days():
    from datetime import date

    w = TimeWindow(days=frozenset(range(5)), hours=((8 * 60, 18 * 60),),
                   timezone="Europe/Berlin", except_dates=frozenset({date(2024, 3, 5)}))
    monday_0900_berlin = 1_709_539_200_000  # 2024-03-04T08:00Z
    assert w.contains(monday_0900_berlin)
    assert not w.contains(monday_0900_berlin + 10 * 3_600_000)  # 19:00 Berlin
    assert not w.contains(monday_0900_berlin + 86_400_000)  # the quiet day
    assert not w.contains(monday_0900_berlin + 5 * 86_400_000)  # Saturday
    night = TimeWindow(hours=((22 * 60, 6 * 60),))
    assert night.contains(1_709_593_200_000) and not night.contains(1_709_546_400_000)


STUCK_SLA_PAST_LOOKBACK = """\
rules:
  - name: edi-997-missing
    type: stuck
    filter: {platforms: edi}
    group_by: [partner]
    sla: 30d
    lookback: 3d
    annotations: {summary: "{{ count }} to {{ labels.partner }} without 997"}
"""


def test_a_stuck_rule_whose_sla_outlasts_its_lookback_names_both_once(tmp_path):
    """Walk-through: raising a stuck rule's sla past its lookback was refused as "empty time
    window: start_ms 1699740800000 >= end_ms 1697408000000", plus "unknown label 'partner'"
    although group_by names it."""
    f = str(tmp_path / "rules.yaml")
    assert _errors(tmp_path, STUCK_SLA_PAST_LOOKBACK) == [
        f"{f}:6:5: rules.0.sla: sla 30d is not shorter than lookback 3d: no trace can be both "
        "(set lookback (default 1d) longer than sla)"]


def test_a_group_by_typo_is_not_reported_again_as_an_unknown_label(tmp_path):
    text = STUCK_SLA_PAST_LOOKBACK.replace("[partner]", "[partnr]").replace("30d", "2h")
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and "rules.0.group_by.0: unknown field 'partnr' in traces" in errors[0]


def test_annotation_errors_are_reported_beside_a_spec_or_group_by_error(tmp_path):
    """With the groups unknown (a settings or group_by error) only the labels of the
    annotations go unchecked: a misspelt variable or helper was reported only once the other
    error was fixed (review E item 10)."""
    f = str(tmp_path / "rules.yaml")
    spec_error = STUCK_SLA_PAST_LOOKBACK.replace("{{ count }}", "{{ cnt }}")
    assert _errors(tmp_path, spec_error) == [
        f"{f}:6:5: rules.0.sla: sla 30d is not shorter than lookback 3d: no trace can be both "
        "(set lookback (default 1d) longer than sla)",
        f"{f}:8:19: rules.0.annotations.summary: unknown variable 'cnt' in {{{{ cnt }}}} "
        "(did you mean 'count'?)"]
    group_error = (STUCK_SLA_PAST_LOOKBACK.replace("[partner]", "[partnr]").replace("30d", "2h")
                   .replace("{{ count }}", "{{ count | numbr }}"))
    errors = _errors(tmp_path, group_error)
    assert len(errors) == 2 and "rules.0.group_by.0: unknown field 'partnr'" in errors[0]
    assert errors[1].startswith(f"{f}:8:19: rules.0.annotations.summary: unknown helper 'numbr'")
