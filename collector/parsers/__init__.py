"""Parsers, one module per format (see ``collector.parsers._base`` for the module contract).

``FORMATS`` maps each ``--format`` name to its module; modules load on first use so that
``midwatch --help`` stays fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FORMATS: dict[str, str] = {
    "mule": "collector.parsers.mule",
    "mule-json": "collector.parsers.mule_json",
    "boomi": "collector.parsers.boomi",
    "boomi-container": "collector.parsers.boomi_container",
    "biztalk": "collector.parsers.biztalk",
    "ace": "collector.parsers.ace",
    "kafka-broker": "collector.parsers.kafka_broker",
    "kafka-record": "collector.parsers.kafka_record",
    "rabbitmq": "collector.parsers.rabbitmq",
    "apigw": "collector.parsers.apigw",
    "nginx-error": "collector.parsers.nginx_error",
    "envoy": "collector.parsers.envoy",
    "x12": "collector.parsers.x12",
    "edifact": "collector.parsers.edifact",
    "otlp-json": "collector.parsers.otlp_json",
    "json": "collector.parsers.json_lines",
    "text": "collector.parsers.text",
    "ibmmq": "collector.parsers.ibmmq",
    "aws-alb": "collector.parsers.aws_alb",
    "haproxy": "collector.parsers.haproxy",
    "azure": "collector.parsers.azure",
    "java-wrapper": "collector.parsers.java_wrapper",
}

# Order in which auto-detection asks parsers; specific formats before the generic JSON and text
# ones.
DETECT_ORDER: tuple[str, ...] = (
    "x12", "edifact", "mule", "mule-json", "boomi", "boomi-container", "biztalk", "ace",
    "otlp-json", "apigw", "aws-alb", "haproxy", "ibmmq", "azure", "nginx-error", "envoy",
    "kafka-broker", "rabbitmq", "java-wrapper", "json", "text",
)


def get(name: str) -> ModuleType:
    try:
        return importlib.import_module(FORMATS[name])
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ValueError(f"unknown format {name!r}; known formats: auto, {known}") from None
