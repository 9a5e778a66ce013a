"""The card pre-check of redaction (``normalize._may_hold_card``) never says no where the
card pattern matches: it only spares the regex scan of text that cannot hold a card, so a
false "no" would let a card number through unmasked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.event import Event
from collector.normalize import _CARD, _may_hold_card, normalize, redact_text
from collector.parsers._base import ParseContext

# Digits (ASCII and of other scripts, which ``\d`` matches too), the separators a card may
# have, and what commonly sits between numbers in logs.
_ALPHABET = st.sampled_from(list("0123456789012345678923456 - -:.,/xa\t\n") + ["٣", "٤", "７"])


@settings(max_examples=3000, deadline=None)
@given(st.text(_ALPHABET, max_size=60))
def test_never_no_where_the_card_pattern_matches(text: str) -> None:
    if _CARD.search(text):
        assert _may_hold_card(text)


@settings(max_examples=500, deadline=None)
@given(st.text(_ALPHABET, max_size=60))
def test_redaction_is_the_regex_alone(text: str) -> None:
    """With or without the pre-check, the same text comes out."""
    from functools import partial

    from collector.normalize import _card_sub
    from collector.parsers._base import PROCESS_KEY

    assert redact_text(text, True, False) == _CARD.sub(partial(_card_sub, PROCESS_KEY), text)


def test_cards_are_caught_in_every_shape_it_lets_through() -> None:
    ctx = ParseContext(now_ms=1)
    for card in ("4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111",
                 "5500 0000 0000 0004", "41 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "378282246310005"):
        ev = normalize(Event(timestamp_ms=1, dataset="d", platform="generic",
                             message=f"paid with {card}.", labels={"x": f"card={card}"}), ctx)
        assert card not in ev.message and "[card:" in ev.message, card
        assert "[card:" in ev.labels["x"], card
    assert not _may_hold_card("2024-03-01 10:15:32,123 63ca828d-d5f4-b3b2-e4b0-6ce60741c7a8")
    assert _may_hold_card("x ٤١١١١١١١١١١١١١١١")  # digits of another script: the regex decides
