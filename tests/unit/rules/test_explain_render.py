"""``rules explain`` in words: a group that does not breach says why (too few events to
judge, or within the bound), not "within bound" for a value above it."""

from rules.explain import render


def _doc(value: float, context: dict, breaching: bool = False) -> dict:
    return {"rule": "r", "type": "ratio", "severity": "error", "enabled": True,
            "at": "2026-12-06T21:20:00Z", "origin": "r.yaml:1", "bound": {"above": 0.05},
            "window_ms": 600_000, "for_ms": 0, "queries": [], "failed": None,
            "groups": [{"labels": {"flow": "o2c"}, "value": value, "breaching": breaching,
                        "context": context, "state": "inactive", "for_progress": None,
                        "fired": None, "silences": [], "inhibited_by": [], "muted": False,
                        "notifiers": [], "deliveries": []}]}


def test_too_few_events_is_said_not_called_within_bound():
    text = render(_doc(0.105, {"total": 19, "min_events": 20}))
    assert "value 0.105  -> not judged: 19 events, min_events 20; state inactive" in text


def test_a_value_inside_the_bound_is_within_it():
    assert "-> within bound; state inactive" in render(_doc(0.01, {"total": 50,
                                                                    "min_events": 20}))
    assert "-> breaching; state inactive" in render(_doc(0.2, {"total": 50}, breaching=True))


def test_a_label_the_rule_never_carries_is_an_error_with_a_hint(tmp_path):
    import pytest

    from collector.yamlconf import loads
    from rules.config import load_rules_config
    from rules.explain import _check_labels

    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - {name: r, type: threshold,"
                    " above: 5, group_by: [midwatch.flow]}\n")
    (rule,) = load_rules_config(loads(f"rules:\n  paths: [{path}]\n")).rules
    _check_labels(rule, {"flow": "o2c", "severity": "error"})
    with pytest.raises(ValueError, match="carry no label 'flw'; did you mean 'flow'"):
        _check_labels(rule, {"flw": "o2c"})
