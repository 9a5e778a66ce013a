"""A rule naming an event label in another case than parsers store it is refused at load.

Parsers store label keys lower case (``collector.parsers._fields.label_key``: the Mule MDC
``orderId=100075`` becomes ``labels.orderid``). Found on a first-day walk-through: a rule
filtering on ``labels.orderId``, as the log line spells it, loaded, validated and never
matched: a page lost without a word."""

from __future__ import annotations

from midwatch.cli import main

RULE = """rules:
  - name: orders-by-number
    type: threshold
    filter: {{midwatch.platform: mulesoft, {field}: "100075"}}
    group_by: [{group}]
    above: 0
    window: 1d
    severity: warning
"""


def _validate(tmp_path, capsys, field: str, group: str = "midwatch.flow") -> tuple[int, str]:
    path = tmp_path / "mine.yaml"
    path.write_text(RULE.format(field=field, group=group))
    code = main(["rules", "validate", str(path)])
    return code, capsys.readouterr().err


def test_a_label_key_in_another_case_is_refused_with_the_stored_one(tmp_path, capsys):
    code, err = _validate(tmp_path, capsys, "labels.orderId")
    assert code == 1
    assert "mine.yaml:4" in err and "labels.orderId" in err and "labels.orderid" in err
    code, err = _validate(tmp_path, capsys, "labels.orderid", group="labels.MuleFlow")
    assert code == 1
    assert "mine.yaml:5" in err and "labels.mule_flow" not in err and "labels.muleflow" in err


def test_stored_label_keys_and_dotted_probe_labels_still_load(tmp_path, capsys):
    assert _validate(tmp_path, capsys, "labels.orderid", group="labels.mule_flow")[0] == 0
    assert _validate(tmp_path, capsys, "labels.probe.metric")[0] == 0
