"""Input options for a site's own layouts: ``log_format`` and ``date_order``."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import config_from_doc
from collector.yamlconf import ConfigError, loads

EXAMPLE = Path(__file__).parents[2] / "deploy" / "midwatch.example.yaml"


def cfg(text: str):
    return config_from_doc(loads(text, "mw.yaml"))


def test_log_format_and_date_order_reach_the_input():
    (inp,) = cfg("inputs:\n  - type: file\n    paths: [a.log]\n    format: apigw\n"
                 "    log_format: '$host $remote_addr - $remote_user [$time_local] \"$request\" "
                 "$status $body_bytes_sent'\n    date_order: dmy\n").inputs
    assert inp.log_format.startswith("$host $remote_addr")
    assert inp.date_order == "dmy"
    (plain,) = cfg("inputs:\n  - {type: file, paths: [a.log]}\n").inputs
    assert (plain.log_format, plain.date_order) == (None, "auto")


@pytest.mark.parametrize("line, message", [
    ("{type: file, paths: [a.log], log_format: '$remote_addr'}",
     "mw.yaml:2:34: inputs.0.log_format: log_format is read by the formats apigw, haproxy, "
     "envoy, not 'auto'"),
    ("{type: file, paths: [a.log], format: apigw, log_format: 'no variables'}",
     "inputs.0.log_format: no variable in log_format 'no variables'"),
    ("{type: file, paths: [a.log], date_order: ydm}", "inputs.0.date_order: expected one of"),
])
def test_mistakes_name_line_and_key(line, message):
    with pytest.raises(ConfigError) as info:
        cfg(f"inputs:\n  - {line}\n")
    assert message in str(info.value)


def test_example_config_documents_both_options():
    text = EXAMPLE.read_text()
    assert "# log_format: '$host $remote_addr" in text and "# date_order: auto" in text


def test_the_file_input_parses_with_its_layout(tmp_path):
    """The options reach the parse context the input's reader (and parse worker) gets."""
    from collector.metrics import Registry
    from collector.service.service import build_inputs

    config = cfg(f"collector: {{checkpoint_dir: {tmp_path}}}\ninputs:\n"
                 f"  - {{type: file, paths: [{tmp_path}/a.log], format: haproxy, "
                 f"log_format: '%ci:%cp [%tr] %ST %{{+Q}}r', date_order: mdy}}\n")
    (inp,) = build_inputs(config, Registry())
    assert inp.ctx.log_format == "%ci:%cp [%tr] %ST %{+Q}r"
    assert inp.ctx.date_order == "mdy"
