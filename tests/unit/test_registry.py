"""The shared component registry: lazy built-ins, did-you-mean errors, conformance."""

import pytest

from collector.registry import BUILTIN, Registry


def test_builtin_is_imported_on_first_use_and_checked_against_its_contract():
    reg = Registry("thing", {"json": "json", "csv": "csv"}, required=("loads", "dumps"))
    assert reg.names() == ["csv", "json"]
    assert reg.get("json").__name__ == "json"
    assert reg.missing("json") == []
    assert reg.missing("csv") == ["loads", "dumps"]
    assert reg.origin("csv") == BUILTIN
    assert "json" in reg and "yaml" not in reg


def test_unknown_name_suggests_the_closest_and_lists_the_known():
    reg = Registry("parser", {"mule": "json", "boomi": "csv"})
    with pytest.raises(KeyError) as err:
        reg.get("mulle")
    assert "unknown parser 'mulle'; did you mean 'mule'? known: boomi, mule" in str(err.value)
