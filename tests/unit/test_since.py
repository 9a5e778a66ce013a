"""One ``since`` grammar for the API, the explorer and the CLI: the same values mean the same
time everywhere, and a wrong one gets the same explanation everywhere."""

from __future__ import annotations

import pytest

from collector.api import search_query
from collector.explorer.queries import BadQuery, parse_time
from collector.httpserver import HttpError
from collector.since import parse_since
from midwatch.commands.trace import _Fail, _since

NOW = 1_780_000_000_000  # 2026-05-28T20:26:40Z
HOUR = 3_600_000


@pytest.mark.parametrize(("text", "ms"), [
    ("1h", NOW - HOUR),
    ("90s", NOW - 90_000),
    ("1.5d", NOW - 36 * HOUR),
    ("250ms", NOW - 250),
    ("999999999w", 0),  # further back than 1970: from the start
    ("2026-01-31", 1_769_817_600_000),
    ("2026-01-31T12:00:00Z", 1_769_860_800_000),
    ("2026-01-31T13:00:00+01:00", 1_769_860_800_000),
    ("2026-01-31T12:00:00.250Z", 1_769_860_800_250),
    ("2016-12-31T23:59:60Z", 1_483_228_799_000),  # a leap second: the second before it
    ("0001-01-01T00:00:00Z", 0),
])
def test_durations_and_rfc3339_times(text, ms):
    assert parse_since(text, NOW) == ms


@pytest.mark.parametrize("text", [
    "soon", "", " 1h", "1h ", "1 h", "1H", "-1h", "1e3h", "9" * 10 + "s", "1.2345h",
    "2026-01-31T12:00", "2026-01-31T12:00:00", "2026-01-31 12:00:00Z", "2026-13-45",
    "2026-02-30T00:00:00Z", "99999-01-01", "yesterday",
])
def test_anything_else_is_refused_saying_what_is_expected(text):
    with pytest.raises(ValueError, match=r"^expected a duration like 1h \(at most 9 digits\) "
                                         r"or a time like 2026-01-31T12:00:00Z \(RFC 3339\), "
                                         r"got "):
        parse_since(text, NOW)


@pytest.mark.parametrize("text", ["6h", "2026-01-31T12:00:00Z", "2026-01-31", "soon",
                                  "2026-01-31T12:00"])
def test_api_explorer_and_cli_agree(text):
    """Each front end answers with the one parser's value, or its message under its own
    name for the value (``since``, ``--since``)."""
    try:
        expected: int | str = parse_since(text, NOW)
    except ValueError as exc:
        expected = str(exc)
    try:
        api = search_query(f"since={text}", NOW).since_ms
    except HttpError as exc:
        assert exc.status == 400
        api = str(exc.message).removeprefix("since: ")
    try:
        explorer: int | str = parse_time("since", text, NOW)
    except BadQuery as exc:
        explorer = str(exc).removeprefix("since: ")
    assert api == explorer == expected
    if isinstance(expected, str):
        with pytest.raises(_Fail, match="^--since: expected a duration"):
            _since(text)
    elif "T" in text or "-" in text:  # a time does not depend on when the CLI runs
        assert _since(text) == expected
