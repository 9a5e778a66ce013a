"""YAML merge keys (``<<: *defaults``) in configs, catalogs and rule files: the merged keys are
there, the mapping's own keys override them, and an error in a merged value names the line
where the anchor wrote it (new-team walk: a second input merged from the first was refused as
"unknown input type None", the ``<<`` key having reached the checks as a key of that name)."""

from __future__ import annotations

import pytest

from collector.config import load_config
from collector.yamlconf import ConfigError, loads

_TWO_INPUTS = """\
store: {{kind: sqlite, sqlite: {{path: {db}}}}}
inputs:
  - &mule
    type: file
    name: mule
    paths: [{logs}/mule/*.log]
    multiline_timeout: 3s
  - <<: *mule
    name: boomi
    paths: [{logs}/boomi/*.log]
"""


def test_an_input_merged_from_another_takes_its_keys_and_overrides_its_own(tmp_path):
    cfg_file = tmp_path / "midwatch.yaml"
    cfg_file.write_text(_TWO_INPUTS.format(db=tmp_path / "m.sqlite", logs=tmp_path))
    cfg = load_config(str(cfg_file))
    second = cfg.doc.data["inputs"][1]
    assert second == {"type": "file", "name": "boomi", "paths": [f"{tmp_path}/boomi/*.log"],
                      "multiline_timeout": "3s"}
    assert [i.name for i in cfg.inputs] == ["mule", "boomi"]


def test_a_merged_value_is_placed_at_the_anchors_line():
    """Where a merged key's value was written: an error in it names that line."""
    doc = loads(_TWO_INPUTS.format(db="m.sqlite", logs="/x"), "midwatch.yaml")
    assert doc.where(("inputs", 1, "multiline_timeout")) == (7, 5)
    assert doc.where(("inputs", 1, "name")) == (9, 5)
    assert doc.error(("inputs", 1, "type"), "bad").line == 4


def test_several_merged_mappings_the_first_wins_and_own_keys_win_over_all():
    doc = loads("a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  y: 3\n", "m.yaml")
    assert doc.data["c"] == {"x": 1, "y": 3, "z": 2}
    assert doc.where(("c", "y")) == (5, 3) and doc.where(("c", "z")) == (2, 14)


def test_a_merge_of_a_scalar_is_refused_at_its_line():
    with pytest.raises(ConfigError) as caught:
        loads("a: &a 5\nb:\n  <<: *a\n", "m.yaml")
    assert str(caught.value) == ("m.yaml:1:4: b.<<: a merge key takes a mapping or a list of "
                                 "mappings (anchor a mapping (&defaults) and merge it: "
                                 "<<: *defaults)")


def test_a_duplicate_own_key_is_still_refused():
    with pytest.raises(ConfigError) as caught:
        loads("a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n  x: 3\n", "m.yaml")
    assert (caught.value.line, caught.value.key) == (5, "x")


def test_a_literal_overriding_a_merged_env_secret_is_still_a_literal(monkeypatch):
    """The merged ``${VAR}`` made the key "from the environment"; the mapping's own literal
    that replaces it must be refused as a secret written in YAML."""
    monkeypatch.setenv("WALK4_MERGE_SECRET", "s3cret")
    doc = loads("a: &a {password: '${WALK4_MERGE_SECRET}'}\nb:\n  <<: *a\n  password: plain\n",
                "m.yaml")
    assert str(doc.secret(("a", "password"), doc.data["a"]["password"])) == \
        "Secret(env:a.password)"
    with pytest.raises(ConfigError, match="secrets must not be written in YAML"):
        doc.secret(("b", "password"), doc.data["b"]["password"])


@pytest.mark.parametrize("order", ["[*lit, *env]", "[*env, *lit]"])
def test_of_merged_secrets_only_the_winner_says_whether_it_came_from_env(monkeypatch, order):
    """``<<: [*lit, *env]``: the first source's plain-text password wins, so it must be
    refused as a secret written in YAML (it was taken as ``env:`` while the shadowed
    ``${PW}`` left its mark); ``[*env, *lit]``: the environment's value wins and is one."""
    monkeypatch.setenv("PW", "from-env")
    doc = loads("a: &lit {password: hunter2}\nb: &env {password: '${PW}'}\n"
                f"store: {{<<: {order}}}\n", "m.yaml")
    value = doc.data["store"]["password"]
    if order.startswith("[*lit"):
        assert value == "hunter2"
        with pytest.raises(ConfigError, match="secrets must not be written in YAML"):
            doc.secret(("store", "password"), value)
    else:
        assert value == "from-env"
        assert doc.secret(("store", "password"), value).reveal() == "from-env"


def test_a_shadowed_merged_value_is_not_read():
    """An unset variable in a value another source overrides is no error: never used."""
    doc = loads("c: {<<: [{x: 1}, {x: '${MIDWATCH_TEST_NEVER_SET}'}]}\n", "m.yaml")
    assert doc.data["c"] == {"x": 1}
