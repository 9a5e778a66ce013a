"""Parsers, one module per format (see ``collector.parsers._base`` for the module contract).

``PARSERS`` (``collector.registry``) maps each ``--format`` name to its module, imported on
first use so that ``midwatch --help`` stays fast; a new format is one module plus one line
here, or an entry point in ``midwatch.parsers`` for an installed package (asked only when
named: auto-detection asks the built-in formats, in ``DETECT_ORDER``). Modules whose name
starts with ``_`` are helpers the formats share, not formats.
"""

from __future__ import annotations

from collector.registry import Registry

PARSERS = Registry("format", {
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
    "tibco-bw": "collector.parsers.tibco_bw",
}, required=("NAME", "START", "detect", "parse"), optional=("continues", "GENERIC", "DETECT_FIRST",
                                                                   "DETECT_NEEDS", "claims_taken",
                                                                   "FOREIGN_START",
                                                                   "MAX_RECORD_LINES", "WHOLE", "ENDS",
                                                                   "HIDE"),
    entry_point_group="midwatch.parsers")

# Order in which auto-detection asks parsers; specific formats before the generic JSON and text
# ones.
DETECT_ORDER: tuple[str, ...] = (
    "x12", "edifact", "mule", "mule-json", "boomi", "boomi-container", "biztalk", "ace",
    "otlp-json", "apigw", "aws-alb", "haproxy", "ibmmq", "azure", "nginx-error", "envoy",
    "kafka-broker", "rabbitmq", "tibco-bw", "java-wrapper", "json", "text",
)

