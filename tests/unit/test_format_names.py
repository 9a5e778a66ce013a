"""A format name that is none: ``midwatch parse --format`` and an input's ``format:`` answer
alike, with the format a product name stands for (``mulesoft`` is ``mule``, not the
``mule-json`` edit distance picks), a close name, or the list. A real subprocess for the CLI."""

import subprocess
import sys

import pytest

from collector.config import config_from_doc
from collector.format_names import SYNONYMS, unknown_format
from collector.parsers import PARSERS
from collector.yamlconf import ConfigError, loads

KNOWN = ("auto", *PARSERS.paths())


def parse_cli(fmt: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midwatch", "parse", "--format", fmt,
                           "no-such-file.log"], capture_output=True, text=True, timeout=60)


def config_error(fmt: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_doc(loads(f"inputs:\n  - type: file\n    paths: [a.log]\n    format: {fmt}\n",
                              "mw.yaml"))
    return info.value


@pytest.mark.parametrize(("typed", "hint"), [
    ("mulesoft", "did you mean 'mule'?"),
    ("Mule 4", "did you mean 'mule'?"),
    ("mule4", "did you mean 'mule'?"),
    ("json-logger", "did you mean 'mule-json'?"),
    ("boomi-atom", "did you mean 'boomi' or 'boomi-container'?"),
    ("iib", "did you mean 'ace'?"),
    ("App_Connect", "did you mean 'ace'?"),
    ("websphere-mq", "did you mean 'ibmmq'?"),
    ("kafka", "did you mean 'kafka-broker' or 'kafka-record'?"),
    ("istio", "did you mean 'envoy'?"),
    ("MULE", "did you mean 'mule'?"),           # only the case differs
    ("mule_json", "did you mean 'mule-json'?"),  # only the separator differs
    ("rabbitqm", "did you mean 'rabbitmq'?"),    # a typo: edit distance
])
def test_the_hint_names_the_format_meant(typed, hint):
    assert unknown_format(typed, KNOWN) == (f"unknown format {typed!r}", hint)


def test_nothing_close_lists_every_format():
    message, hint = unknown_format("zzz", KNOWN)
    assert hint == "known: " + ", ".join(KNOWN)


def test_every_synonym_names_real_formats():
    assert {f for formats in SYNONYMS.values() for f in formats} <= set(PARSERS.paths())
    assert not set(SYNONYMS) & set(KNOWN)  # a synonym never hides a real name


def test_cli_and_config_give_the_same_error_and_hint():
    proc = parse_cli("mulesoft")
    assert proc.returncode == 2 and proc.stdout == ""
    # one line, as the command's other usage errors; no argparse usage and choices dump
    assert proc.stderr == ("midwatch parse: --format: unknown format 'mulesoft' "
                           "(did you mean 'mule'?)\n")
    err = config_error("mulesoft")
    assert str(err) == ("mw.yaml:4:5: inputs.0.format: unknown format 'mulesoft' "
                        "(did you mean 'mule'?)")
    assert (err.message, err.hint) == unknown_format("mulesoft", KNOWN)


def test_a_known_format_still_parses():
    proc = subprocess.run([sys.executable, "-m", "midwatch", "parse", "--format", "mule", "-"],
                          input="", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
