"""Redaction end to end: files with card numbers, emails and a configured sensitive field (and a
line no parser reads, kept raw as a dead letter) go through the real collector service into
the real Elasticsearch; afterwards every document of every midwatch index is read back (and
searched) for them."""

from __future__ import annotations

import re
from pathlib import Path

import es_support
import orjson
from service_runner import Running, es_config

from collector.config import config_from_doc
from collector.yamlconf import loads

# Luhn-valid test PANs (Visa, Mastercard with dashes, Amex, Discover) and other secrets.
PANS = ("4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117")
IBAN = "DE89370400440532013000"
EMAIL = "jane.doe@example.com"
NOT_A_PAN = "4111111111111112"  # fails Luhn: an order number, kept


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _write_inputs(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [
        {"timestamp": "2024-05-01T10:00:00Z", "level": "info", "order_id": "4711",
         "message": f"payment for order 4711 with card {PANS[0]} accepted",
         "card": PANS[1], "iban": IBAN, "ref": NOT_A_PAN},
        {"timestamp": "2024-05-01T10:00:01Z", "level": "error", "order_id": "4712",
         "message": f"declined {PANS[2]} for {EMAIL}", "iban": IBAN, "ref": "r-2"},
    ]
    (logs / "payments.jsonl").write_text(
        "".join(orjson.dumps(x).decode() + "\n" for x in lines)
        + f"not json: card {PANS[3]} of {EMAIL}\n")  # a dead letter, stored with its raw line
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("timestamp: timestamp\nlevel: level\nmessage: message\n"
                       "ids: {order: order_id}\nlabels: {card: card, iban: iban, ref: ref}\n")
    return mapping


def _all_documents(es, prefix: str) -> list[dict]:
    resp = es_support.search(es, index=f"{prefix}*", size=1000, query={"match_all": {}})
    return [hit["_source"] for hit in resp["hits"]["hits"]]


def test_cards_emails_and_configured_fields_never_reach_elasticsearch(tmp_path, es, es_url,
                                                                      es_index_prefix):
    mapping = _write_inputs(tmp_path)
    prefix = f"{es_index_prefix}mw"
    inputs = (f"  - {{type: file, name: pay, paths: ['{tmp_path}/logs/*.jsonl'], "
              f"format: json, mapping: '{mapping}'}}")
    extra = "correlation: {sweep_interval: 100ms}\n"
    es_config(tmp_path, es_url, prefix, inputs, extra)  # writes midwatch.yaml
    config = _with_redaction(tmp_path / "midwatch.yaml")
    running = Running(config)
    running.wait_for(lambda: running.indexed() >= 2, what="2 events indexed")
    assert running.finish() == 0

    docs = _all_documents(es, prefix)
    events = [d for d in docs if d.get("event", {}).get("dataset")]
    assert len(events) == 2, docs
    (dead,) = [d for d in docs if "raw" in d]
    # tokens, not one mask: the same address is the same token in the dead letter and the event
    card, email = re.fullmatch(r"not json: card (\[card:[0-9a-f]{24}\]) of "
                               r"(\[email:[0-9a-f]{24}\])", dead["raw"]).groups()
    stored = orjson.dumps(docs).decode()
    stored_digits = _digits(stored)
    for pan in PANS:
        assert _digits(pan) not in stored_digits, f"card {pan} reached the store"
    assert IBAN not in stored and EMAIL not in stored
    # what was there instead, so the test proves redaction rather than a lost field
    by_order = {d["midwatch"]["message_id"]: d for d in events}
    first = by_order["order:4711"]
    pan0 = re.fullmatch(r"payment for order 4711 with card (\[card:[0-9a-f]{24}\]) accepted",
                        first["message"]).group(1)
    pan1 = first["labels"]["card"]
    assert re.fullmatch(r"\[card:[0-9a-f]{24}\]", pan1) and len({pan0, pan1, card}) == 3
    assert first["labels"]["iban"] == "[REDACTED]"
    assert first["labels"]["ref"] == NOT_A_PAN
    declined = re.fullmatch(r"declined (\[card:[0-9a-f]{24}\]) for (\S+)",
                            by_order["order:4712"]["message"])
    assert declined[2] == email and declined[1] not in (pan0, pan1, card)
    # and a full-text search for the numbers finds nothing
    for needle in (_digits(PANS[0]), IBAN, "jane.doe"):
        # settled: a search some shards did not answer would find nothing without looking
        hits = es_support.search(es, index=f"{prefix}*",
                                 query={"query_string": {"query": f"*{needle}*"}})
        assert hits["hits"]["total"]["value"] == 0, needle


def _with_redaction(path: Path):
    """That config with ``collector.redaction.fields`` set (es_config has no knob for it)."""
    text = path.read_text().replace(
        "collector:\n", "collector:\n  redaction: {fields: [labels.iban]}\n", 1)
    path.write_text(text)
    return config_from_doc(loads(text, str(path)))
