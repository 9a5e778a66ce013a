"""Redaction keeps identity without keeping the value: card numbers and e-mail addresses become
keyed tokens, so two orders whose IDs are card-like numbers stay two traces (they were merged
into one ``order:[REDACTED:card]`` trace, and one inherited the other's failure)."""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path

import pytest

from collector.config import CollectorSettings, Redaction
from collector.correlation.catalog import empty_catalog
from collector.correlation.correlator import Correlator
from collector.event import DeadLetter, Event
from collector.normalize import normalize, redact_text
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.redaction_key import KEY_FILE, from_state_dir, load_key
from collector.store.base import TraceQuery
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import ConfigError, make_secret

DATA = Path(__file__).resolve().parents[1] / "data" / "json"
KEY = bytes(range(32))
TOKEN = re.compile(r"\[(card|email|redacted):[0-9a-f]{24}\]")


def _parse(path: Path, ctx: ParseContext) -> list[Event]:
    with path.open("rb") as f:
        out = list(parse_stream(f, str(path), "json", ctx))
    assert not [d for d in out if isinstance(d, DeadLetter)]
    return [e for e in out if isinstance(e, Event)]


def test_equal_values_share_a_token_and_different_values_never_do():
    a = redact_text("card 4012888888881881", key=KEY)
    assert a == redact_text("card 4012-8888-8888-1881", key=KEY) \
        == redact_text("card 4012 8888 8888 1881", key=KEY)
    b = redact_text("card 5500000000000004", key=KEY)
    assert a != b and TOKEN.fullmatch(a.split()[1]) and TOKEN.fullmatch(b.split()[1])
    # the domain is case-insensitive, the local part is not
    assert redact_text("jo@Example.COM", key=KEY) == redact_text("jo@example.com", key=KEY)
    assert redact_text("Jo@example.com", key=KEY) != redact_text("jo@example.com", key=KEY)
    # another key, other tokens: nobody without the key can test guesses
    assert redact_text("card 4012888888881881", key=bytes(32)) != a
    assert "4012888888881881" not in a and KEY.hex() not in a


def test_card_like_order_numbers_and_email_correlation_ids_stay_four_traces(tmp_path):
    """Two orders numbered like cards, two messages keyed by e-mail addresses, written as
    logstash-logback-encoder writes them (tests/data/json/SOURCES.md): 4 traces, not 2, and
    each keeps its own outcome."""
    ctx = ParseContext(now_ms=1, redact_key=KEY)
    events = _parse(DATA / "card-like-ids.jsonl", ctx)
    assert len(events) == 8
    raw = " ".join(str(e.ids) + e.message for e in events)
    for secret in ("4012888888881881", "5500000000000004", "jane.doe", "john.roe", "John.Roe"):
        assert secret not in raw
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    try:
        correlator = Correlator(empty_catalog(), store)
        correlator.process(events)
        store.write_events(events)
        correlator.flush()
        traces = store.search_traces(TraceQuery(limit=100))
        assert len(traces) == 4
        by_id = {i: t for t in traces for i in t.ids}
        card_a = redact_text("4012888888881881", key=KEY)
        card_b = redact_text("5500000000000004", key=KEY)
        jane = redact_text("jane.doe@example.com", key=KEY)
        john = redact_text("john.roe@example.com", key=KEY)
        a, b = by_id[f"order:{card_a}"], by_id[f"order:{card_b}"]
        c, d = by_id[f"correlation:{jane}"], by_id[f"correlation:{john}"]
        assert len({a.trace_key, b.trace_key, c.trace_key, d.trace_key}) == 4
        assert (a.hop_count, a.error_count, a.status) == (2, 0, "in_flight")
        assert (b.hop_count, b.error_count, b.status) == (2, 1, "failed")
        assert (c.hop_count, c.error_count) == (2, 0)
        # John's failure logged the address with an upper-case domain: still his trace
        assert (d.hop_count, d.error_count, d.status) == (2, 1, "failed")
        # the message text carries the same token as the ID, so a search for one finds both
        declined = next(e for e in events if e.level == "error" and e.ids[0].startswith("order"))
        assert declined.message == f"card authorisation declined for order {card_b}"
    finally:
        store.close()


def test_configured_id_redaction_tokens_each_id_instead_of_one_mask():
    ctx = ParseContext(redact_fields=("midwatch.ids",), redact_key=KEY)
    one = normalize(Event(0, "t", "generic", ids=["order:4711", "customer:C-1"]), ctx)
    two = normalize(Event(0, "t", "generic", ids=["order:4712"]), ctx)
    assert one.ids[0].startswith("order:[redacted:") and one.ids[1].startswith("customer:")
    assert one.ids[0] != two.ids[0] and one.message_id == one.ids[0]
    assert "4711" not in "".join(one.ids)


def test_dead_letters_carry_the_same_tokens_as_events():
    ctx = ParseContext(redact_key=KEY)
    (dead,) = list(parse_stream(io.BytesIO(b"not json: 4012888888881881\n"), "x", "json", ctx))
    assert dead.raw == f"not json: {redact_text('4012888888881881', key=KEY)}"


def test_install_key_is_created_once_private_and_reused(tmp_path):
    key = from_state_dir(tmp_path / "var")
    path = tmp_path / "var" / KEY_FILE
    assert len(key) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert from_state_dir(tmp_path / "var") == key
    path.write_text("not hex\n")
    with pytest.raises(ValueError, match="not a redaction key"):
        from_state_dir(tmp_path / "var")


def test_a_configured_key_is_used_and_a_short_one_refused(tmp_path):
    long = make_secret("k" * 40, "env:MIDWATCH_REDACTION_KEY")
    settings = CollectorSettings(state_dir=str(tmp_path), redaction=Redaction(key=long))
    assert load_key(settings, "m.yaml") == b"k" * 40
    assert not (tmp_path / KEY_FILE).exists()
    short = CollectorSettings(redaction=Redaction(key=make_secret("short", "env:K")))
    with pytest.raises(ConfigError, match="collector.redaction.key.*at least 32") as err:
        load_key(short, "m.yaml")
    assert "short" not in str(err.value).replace("is 5 characters", "")


def test_the_key_never_shows_in_a_context_repr():
    assert KEY.hex() not in repr(ParseContext(redact_key=KEY))
    assert repr(KEY) not in repr(ParseContext(redact_key=KEY))



def test_a_key_written_literally_in_yaml_is_refused():
    from collector.config import config_from_doc
    from collector.yamlconf import loads

    with pytest.raises(ConfigError, match="secrets must not be written in YAML"):
        config_from_doc(loads("collector: {redaction: {key: " + "k" * 40 + "}}\n", "m.yaml"))


def test_collectors_starting_together_agree_on_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: from_state_dir(tmp_path / "var"), range(32)))
    assert len(keys) == 1 and os.listdir(tmp_path / "var") == [KEY_FILE]


def test_trace_finds_a_redacted_id_by_the_value_people_know(tmp_path, capsys):
    """The analyst has the order number; the store holds its token: ``midwatch trace``
    tokenizes the ID with the config's key before looking it up."""
    from midwatch.cli import main

    config = tmp_path / "midwatch.yaml"
    config.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {tmp_path / 'm.sqlite'}}}\n"
                      f"collector:\n  state_dir: {tmp_path / 'var'}\n")
    key = from_state_dir(tmp_path / "var")
    events = _parse(DATA / "card-like-ids.jsonl", ParseContext(now_ms=1, redact_key=key))
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    correlator = Correlator(empty_catalog(), store)
    correlator.process(events)
    store.write_events(events)
    correlator.flush()
    store.close()
    for typed in ("order:5500000000000004", "5500 0000 0000 0004", "correlation:john.roe@example.com"):
        assert main(["trace", typed, "-c", str(config)]) == 0, typed
        out = capsys.readouterr().out
        assert out.startswith("trace     ") and "status    failed" in out
        assert "5500000000000004" not in out and "john.roe" not in out
    assert main(["trace", "order:4111111111111111", "-c", str(config)]) == 1
