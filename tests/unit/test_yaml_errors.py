"""A YAML syntax error names where the unclosed construct began, not only where the parser
gave up: a ``{`` left open is reported at the end of the file, lines away from the typo
(new-user walk-through of issue 26)."""

from __future__ import annotations

import pytest

from collector.yamlconf import ConfigError, loads


def test_an_unclosed_flow_mapping_names_where_it_opened():
    text = "rules:\n  - name: x\n    labels: {team: ops\n  - name: y\n"
    with pytest.raises(ConfigError) as caught:
        loads(text, "r.yaml")
    err = caught.value
    assert (err.file, err.line) == ("r.yaml", 4)
    assert "flow mapping" in str(err) and "line 3, column 13" in str(err)


def test_an_error_without_context_keeps_the_plain_message():
    with pytest.raises(ConfigError) as caught:
        loads("a:\n\t- b\n", "t.yaml")
    assert "cannot start any token" in str(caught.value)
    assert "while" not in str(caught.value)


def test_a_tab_used_as_indentation_says_to_use_spaces():
    """Walk-through: a rule file indented with a tab got only PyYAML's "found character '\\t'
    that cannot start any token", which does not say what to do."""
    with pytest.raises(ConfigError) as caught:
        loads("rules:\n  - name: x\n\ttype: threshold\n", "r.yaml")
    err = caught.value
    assert (err.file, err.line) == ("r.yaml", 3)
    assert str(err) == ("r.yaml:3:1: invalid YAML: found character '\\t' that cannot start any "
                        "token (YAML indents with spaces only: replace the tab with spaces)")
