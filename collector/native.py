"""The native fast path (``native/``, the ``midwatch_native`` extension), when it is installed.

The pure-Python parsers and ``collector.normalize`` are the reference. The extension takes a
batch of lines of a format it knows, frames them into records as the parser's ``START`` does,
and returns, per record, the finished event the Python path would make (byte for byte:
fields, event ID, original) or None; a None line goes through the Python path unchanged.
Error classes and signatures are ``collector.normalize.classify``'s, called from there. So the fast path may only ever be faster, never different: the
differential tests (tests/unit/test_native_diff.py) run both on every fixture and on
generated lines.

Its tables (JSON aliases, typed-ID names, level and outcome words) are handed over from the
Python modules here, so there is one definition of each. It is used only where the context
has nothing it does not reproduce: no JSON mapping, no configured redaction fields, the
default tokens key being irrelevant because lines that might hold a card or an email are
declined anyway.

``MIDWATCH_NATIVE=0`` turns it off (the reference path alone, for a comparison or a
suspected difference); ``available()`` says whether it is loaded, and CI asserts that it is,
so a broken build fails there instead of passing as a silent slowdown.
"""

from __future__ import annotations

import os
from dataclasses import fields
from datetime import UTC
from functools import cache, lru_cache, partial

from collector.event import LEVELS, Event
from collector.normalize import (
    _LEVELS,
    MAX_ID,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_ORIGINAL,
    classify,
    normalize_level,
)
from collector.parsers._base import ParseContext
from collector.parsers._fields import MAX_LABEL_VALUE
from collector.parsers._request import STATUS_CLASS

try:
    import midwatch_native as _ext
except ImportError:  # not built here: the Python path does all the work
    _ext = None

# The build this module reads (native/src/lib.rs ABI): a stale one (not rebuilt after a
# change of native/) is left unused, and CI's test that the fast path is loaded fails.
ABI = 11
# Formats the extension reads: JSON lines, NGINX access lines, Mule runtime lines.
FORMATS = ("json", "apigw", "mule")
# Turned off by MIDWATCH_NATIVE=0 or ``use(False)`` (the bench's reference runs).
_on = os.environ.get("MIDWATCH_NATIVE", "1") != "0"


def use(on: bool) -> bool:
    """Turn the fast path on or off for parsers and envelope readers created from now on;
    returns the setting before."""
    global _on
    before, _on = _on, on
    filebeat_docs.cache_clear()
    filebeat_runs.cache_clear()
    syslog_runs.cache_clear()
    needles.cache_clear()
    return before


def available() -> bool:
    """Whether the extension is loaded and matches this Event."""
    return _reader("json") is not None


def _level_words() -> dict[str, str]:
    """Every level word, and every one- and two-digit number, as ``normalize_level`` reads
    it; anything else is "info" there too."""
    words = set(LEVELS) | set(_LEVELS)
    words |= {str(n) for n in range(100)} | {f"{n:02d}" for n in range(10)}
    return {w: normalize_level(w) for w in words}


@cache
def _reader(fmt: str, utc_default: bool = True):
    """The extension's reader of a format, built once; None without the extension or for an
    extension built for another Event (it must never fill the wrong slots). ``utc_default``:
    the context's default zone is UTC (else Mule times without a zone are declined)."""
    if (_ext is None or getattr(_ext, "ABI", None) != ABI
            or tuple(f.name for f in fields(Event)) != tuple(_ext.EVENT_FIELDS)):
        return None
    from collector.parse import MAX_RECORD_LINES  # the parse core imports this module

    limits = (min(MAX_ORIGINAL, MAX_MESSAGE), min(MAX_NAME, MAX_ID), MAX_LABEL_VALUE,
              MAX_RECORD_LINES)
    if fmt == "apigw":
        return _ext.access_lines(Event, limits, _access_failure)
    if fmt == "mule":
        return _ext.mule_lines(Event, limits, utc_default, classify)
    from collector.parsers import json_lines  # on first use, like the parsers themselves

    return _ext.json_lines(json_lines._ALIASES, json_lines._DEFAULT_ID_KINDS, _level_words(),
                           json_lines._OUTCOMES, Event, limits)


def _access_failure(ev: Event) -> None:
    """The native access-log reader's finish of a 4xx/5xx: the error class its status
    says, as ``_request.request_event`` sets it before normalize, then ``classify``."""
    ev.error_class = STATUS_CLASS.get(int(ev.error_code))
    classify(ev)


@cache
def filebeat_docs():
    """``unwrap(texts) -> [Shipped | None]``: the Filebeat envelope of each delivered message
    as ``collector.envelopes.filebeat.match`` reads its nested fields, None where the Python
    path must decode the message; None when the fast path is off or not built."""
    if not _on or _reader("json") is None:
        return None
    from collector.envelopes.shipped import Shipped, text_ms

    if tuple(f.name for f in fields(Shipped))[:6] != ("line", "shipper", "host", "path",
                                                      "offset", "created_ms"):
        return None
    return _ext.filebeat_docs(Shipped, text_ms).unwrap


@cache
def filebeat_runs():
    """``runs(texts) -> [(shipper, host, path, lines, created, offsets) | None]``: the documents
    ``filebeat_docs`` reads, consecutive ones of one file as one run
    (``collector.envelopes.shipped.Run``); None as for ``filebeat_docs``, and for a build
    from before runs."""
    unwrap = filebeat_docs()
    return getattr(unwrap.__self__, "runs", None) if unwrap is not None else None


@cache
def syslog_runs():
    """``runs(frames) -> [(shipper, host, path, lines, created, offsets, app)] | None``: a
    syslog read's frames (``collector.inputs.syslog_frames``; bytes as read, or text) as
    ``collector.envelopes.shipped.runs`` groups ``collector.envelopes.syslog.match_all``'s
    answer; None for a read with a frame the native reader declines (RFC 3164, escapes,
    a header not in printable ASCII, bytes that are not valid UTF-8). None when the fast path is off, not built, or built
    before this reader."""
    if not _on or _reader("json") is None or not hasattr(_ext, "syslog_frames"):
        return None
    from collector.envelopes.shipped import text_ms

    return _ext.syslog_frames(text_ms).runs


@lru_cache(maxsize=64)
def needles(strings: tuple[str, ...]):
    """A finder of ``strings`` (``collector.detect_prefilter``): ``held(texts) -> [bool]``,
    whether each text holds any of them, in one native pass over them all; ``holds(text)``
    of one. None when the fast path is off or not built, or by a build without it."""
    if not _on or _reader("json") is None or not hasattr(_ext, "Needles"):
        return None
    return _ext.Needles(list(strings))


def batch_parser(fmt: str, ctx: ParseContext):
    """``parse(lines, id_head, ingested_ms, time_min, time_max) -> [Event | False | None]``
    for this format and context, or None when the fast path does not apply: the JSON
    mapping, the input's own access-log layout and redaction fields are the Python path's.
    ``lines``: ``collector.linesplit.Line`` tuples. Per line, the event of the record it
    starts; False for a line that record goes on over (a Mule stack trace); None: the Python
    path's. A record is taken only whole (every line terminated, none cut), and, where
    records span lines, only where the next record starts within the batch."""
    if not _on or fmt not in FORMATS or ctx.redact_fields:
        return None
    if (fmt == "json" and ctx.mapping) or (fmt == "apigw" and ctx.log_format):
        return None
    reader = _reader(fmt, ctx.tz is UTC)
    if reader is None:
        return None
    if fmt in ("json", "mule"):
        from collector.parsers import json_lines, mule  # on first use, like the parsers

        differs = json_lines.native_differs if fmt == "json" else mule.native_differs
        return partial(_declining, reader.parse, differs)
    return reader.parse


def _declining(parse, differs, *args) -> list:
    """``parse``'s answer with None for each event ``differs`` says the Python parser reads
    otherwise (what it learnt after the extension was built): that record, its continuation
    lines with it, goes through the Python path."""
    return [None if ev and differs(ev) else ev for ev in parse(*args)]
