"""The answer to a format name that is not one: what the person most likely meant.

People type the product they run (``mulesoft``, ``iib``, ``boomi-atom``), not midwatch's
format name, and edit distance guesses wrong for those (``mulesoft`` is closer to
``mule-json`` than to ``mule``). So a table of product and platform names comes first, edit
distance only after it, and the full list only when neither finds anything. ``midwatch
parse --format`` and an input's ``format:`` key both answer through ``unknown_format`` so a
mistake reads the same wherever it is made.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Names people use for a platform or product -> the formats that read its logs, likeliest
# first (docs/formats.md says which format reads what). Keys are lower case, words joined by
# "-" (``_normal`` folds what was typed the same way).
SYNONYMS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("mulesoft", "mule4", "mule-4", "mule3", "mule-ee", "mule-runtime",
                     "anypoint"), ("mule",)),
    **dict.fromkeys(("json-logger", "mule-json-logger", "cloudhub"), ("mule-json",)),
    **dict.fromkeys(("boomi-atom", "dell-boomi", "atomsphere", "boomi-process"),
                    ("boomi", "boomi-container")),
    **dict.fromkeys(("atom", "molecule", "boomi-molecule"), ("boomi-container", "boomi")),
    **dict.fromkeys(("iib", "ibm-iib", "app-connect", "appconnect", "app-connect-enterprise",
                     "ibm-ace", "wmb", "message-broker", "integration-bus"), ("ace",)),
    **dict.fromkeys(("mq", "ibm-mq", "websphere-mq", "mqseries"), ("ibmmq",)),
    **dict.fromkeys(("bts", "ms-biztalk", "biztalk-server"), ("biztalk",)),
    **dict.fromkeys(("kafka", "apache-kafka"), ("kafka-broker", "kafka-record")),
    **dict.fromkeys(("kafka-connect", "kraft", "strimzi", "zookeeper"), ("kafka-broker",)),
    **dict.fromkeys(("rabbit", "rabbit-mq", "amqp"), ("rabbitmq",)),
    **dict.fromkeys(("nginx", "kong", "openresty"), ("apigw", "nginx-error")),
    **dict.fromkeys(("apache", "httpd", "traefik", "squid", "iis", "api-gateway",
                     "access-log", "aws-api-gateway"), ("apigw",)),
    **dict.fromkeys(("alb", "elb", "nlb", "clb", "aws-elb"), ("aws-alb",)),
    **dict.fromkeys(("istio", "emissary", "ambassador"), ("envoy",)),
    **dict.fromkeys(("logic-apps", "logicapps", "apim", "api-management"), ("azure",)),
    **dict.fromkeys(("otlp", "otel", "opentelemetry"), ("otlp-json",)),
    **dict.fromkeys(("edi", "ansi-x12", "hipaa"), ("x12", "edifact")),
    **dict.fromkeys(("un-edifact",), ("edifact",)),
    **dict.fromkeys(("jsonl", "ndjson", "json-lines"), ("json",)),
    **dict.fromkeys(("log", "plain", "log4j", "logback", "syslog"), ("text",)),
    **dict.fromkeys(("tanuki", "wrapper"), ("java-wrapper",)),
    **dict.fromkeys(("tibco", "bw", "bw5", "bw6", "bwce", "businessworks"), ("tibco-bw",)),
}


def _normal(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def unknown_format(value: str, known: Iterable[str]) -> tuple[str, str]:
    """(message, hint) for a ``format`` that names no parser; ``known`` lists those that do.

    The hint is a synonym's format, else a close name, else the list of ``known``."""
    message = f"unknown format {value!r}"
    known = list(known)
    typed = _normal(value)
    meant = [f for f in SYNONYMS.get(typed, ()) if f in known]
    if not meant and typed in known:
        meant = [typed]  # only case or separators differ: MULE, mule_json
    if not meant:
        meant = difflib.get_close_matches(typed, known, n=1, cutoff=0.6)
    if meant:
        return message, "did you mean " + " or ".join(repr(f) for f in meant) + "?"
    return message, "known: " + ", ".join(known)
