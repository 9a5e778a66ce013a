"""Conformance: every component a registry names has its kind's contract.

One ``collector.registry.Registry`` per kind (inputs, parsers, probes, exporters); a module
missing a contract name fails here by name rather than at run time in someone's deployment.
Plug-ins installed through entry points are checked the same way, since ``names()`` lists them.
"""

from __future__ import annotations

import pkgutil
import re
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from collector.exporters import EXPORTERS
from collector.inputs import INPUTS
from collector.parsers import DETECT_ORDER, PARSERS
from collector.probes import PROBES

REGISTRIES = {"input": INPUTS, "format": PARSERS, "probe kind": PROBES, "exporter": EXPORTERS}
CASES = [(kind, name) for kind, reg in REGISTRIES.items() for name in reg.names()]


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}:{n}" for k, n in CASES])
def test_every_component_has_the_contract_names(kind, name):
    assert REGISTRIES[kind].missing(name) == []


def test_each_registry_names_its_built_in_components():
    assert INPUTS.names() == ["file", "http", "kafka", "otlp", "stdin", "syslog"]
    assert PROBES.names() == ["elasticsearch", "http", "kafka", "rabbitmq", "tls"]
    assert EXPORTERS.names() == ["otlp"]
    # Auto-detection asks built-in formats only; kafka-record is named, never guessed.
    assert set(PARSERS.names()) - set(DETECT_ORDER) == {"kafka-record"}


@pytest.mark.parametrize("name", PARSERS.names())
def test_a_parser_declares_its_optional_names_with_their_types(name):
    """``continues``, ``GENERIC``, ``DETECT_FIRST``, ``DETECT_NEEDS``, ``claims_taken``,
    ``FOREIGN_START`` (the part of ``START`` that heads other loggers' records),
    ``MAX_RECORD_LINES`` (a record's line cap, for formats written a segment a line) and
    ``WHOLE`` (a line without its newline that is a whole record), ``ENDS`` (where a record
    ends inside a line another follows on), ``HIDE`` (the stored raw text with the format's
    credentials masked) are optional parts of the
    parser contract; the parse core reads them with ``getattr``, so a misspelt or mistyped
    one would be silently ignored."""
    module = PARSERS.get(name)
    assert module.NAME == name
    assert PARSERS.optional == ("continues", "GENERIC", "DETECT_FIRST", "DETECT_NEEDS",
                                "claims_taken", "FOREIGN_START", "MAX_RECORD_LINES", "WHOLE",
                                "ENDS", "HIDE")
    if hasattr(module, "HIDE"):
        assert callable(module.HIDE) and module.HIDE("no credentials") == "no credentials"
    if hasattr(module, "DETECT_FIRST"):
        assert isinstance(module.DETECT_FIRST, str) and module.DETECT_FIRST
    if hasattr(module, "DETECT_NEEDS"):
        assert isinstance(module.DETECT_NEEDS, dict) and module.DETECT_NEEDS
        for first, needles in module.DETECT_NEEDS.items():
            assert first in getattr(module, "DETECT_FIRST", first), first
            assert isinstance(needles, tuple) and needles and all(
                isinstance(n, str) and n for n in needles), needles
    if hasattr(module, "claims_taken"):
        assert callable(module.claims_taken)
    if hasattr(module, "FOREIGN_START"):
        assert isinstance(module.FOREIGN_START, re.Pattern) and module.START is not None
    if hasattr(module, "continues"):
        assert callable(module.continues)
    if hasattr(module, "GENERIC"):
        assert isinstance(module.GENERIC, bool)
    if hasattr(module, "MAX_RECORD_LINES"):
        assert isinstance(module.MAX_RECORD_LINES, int) and module.MAX_RECORD_LINES > 0
    if hasattr(module, "WHOLE"):
        assert isinstance(module.WHOLE, re.Pattern)
    if hasattr(module, "ENDS"):
        assert isinstance(module.ENDS, re.Pattern)


def _modules(package: str) -> set[str]:
    path = Path(__file__).resolve().parents[2] / package.replace(".", "/")
    return {m.name for m in pkgutil.iter_modules([str(path)])}


def test_every_parser_module_is_a_registered_format_or_a_helper():
    """A format module nobody registered is dead code; a helper says so with its ``_``."""
    registered = {path.rsplit(".", 1)[1] for path in PARSERS.paths().values()}
    shared = {"logformat"}  # the log_format language: read by inputs' config too
    unregistered = _modules("collector.parsers") - registered - shared
    assert sorted(m for m in unregistered if not m.startswith("_")) == []


@pytest.mark.parametrize("name", INPUTS.names())
def test_an_input_reads_every_key_it_accepts_into_its_config(name):
    """``KEYS`` (what the config accepts) and the ``Config`` fields (what the input gets) are
    one list: a key is a field, a duration key the field with ``_ms``, ``tls`` the
    ``tls_cert``/``tls_key`` pair."""
    module = INPUTS.get(name)
    assert is_dataclass(module.Config)
    names = {f.name for f in fields(module.Config)} - {"name", "type"}
    expected = set()
    for key in module.KEYS:
        if key == "tls":
            expected |= {"tls_cert", "tls_key"}
        elif key in names:
            expected.add(key)
        else:
            expected.add(f"{key}_ms")
    assert names == expected
    assert module.Config.__dataclass_fields__["type"].default == name
