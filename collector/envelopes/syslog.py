"""A syslog message as rsyslog, syslog-ng or any RFC sender forwards a file's line.

- RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG``, ``-`` for
  a missing field, MSG optionally after a UTF-8 BOM. The file path travels in structured data
  when the sender's template puts it there (docs/shipping.md: ``[file@32473 path="..."]``;
  any SD parameter named ``path``, ``filename`` or ``file`` is taken).
- RFC 3164 (rsyslog's ``RSYSLOG_TraditionalForwardFormat``, syslog-ng's default network
  output): ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG``; the TAG (``mule:``, ``nginx[42]:``)
  names the program, there is no path.

The header's time is when the shipper read the line (imfile, syslog-ng's ``file()``), kept
as ``event.created``; the line keeps its own. A BSD time has no year or zone: the latest
year not in the future is taken, as rsyslog does, in UTC.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from collector.envelopes.shipped import Shipped, text_ms, when
from collector.timeparse import parse_ms

_RFC5424 = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
# The header with the one SD element of the documented templates (``[file@32473 path="..."]``)
# whose value has no escapes: most frames of rsyslog and syslog-ng, read in one match.
_RFC5424_PATH = re.compile(r'<\d{1,3}>1 (\S+) (\S+) (\S+) \S+ \S+ '
                           r'\[[^\]\s=]+ (?:path|filename|file)="([^"\\\]]+)"\](?!\[) ?')
_RFC3164 = re.compile(r"<(\d{1,3})>([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (\S+) "
                      r"([^\s:\[]{1,48})(?:\[[^\]]*\])?: ?")
_SD_ELEMENT = re.compile(r'\[([^\]\s]+)((?: [^=\s]+="(?:[^"\\\]]|\\.)*")*)\]')
_SD_PARAM = re.compile(r' ([^=\s]+)="((?:[^"\\]|\\.)*)"')
_SD_ESCAPE = re.compile(r'\\([\\"\]])')
_PATH_PARAMS = ("path", "filename", "file")


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _structured(rest: str) -> tuple[dict[str, str], str]:
    """The SD parameters (flattened; names repeat seldom) and the MSG after them."""
    if rest.startswith("- "):
        return {}, rest[2:]
    if rest == "-":
        return {}, ""
    params: dict[str, str] = {}
    pos = 0
    while True:
        found = _SD_ELEMENT.match(rest, pos)
        if found is None:
            break
        for name, value in _SD_PARAM.findall(found.group(2)):
            if "\\" in value:
                value = _SD_ESCAPE.sub(r"\1", value)
            params.setdefault(name, value)
        pos = found.end()
    return params, rest[pos:].removeprefix(" ")


def _with_path(msg: str, stamp: str, host: str | None, app: str | None, path: str) -> Shipped:
    """The line of a frame in the documented templates' form (``_RFC5424_PATH``)."""
    return Shipped(msg.removeprefix("\ufeff").rstrip("\r\n"), "syslog", host, path, None,
                   text_ms(stamp) if stamp != "-" else 0, app)


def match_all(frames: Sequence[str]) -> list[Shipped | None]:
    """``match`` of each frame of one read. A sender's frames of one file repeat their
    header but for its time (``<PRI>1 TIME HOST APP - - [file@32473 path="..."] ``): a frame
    whose header, past its time, is the frame before's is read from that one's, without the
    pattern, its time read again only when it changed (together half of what ``match`` cost
    such a frame)."""
    out: list[Shipped | None] = []
    head = tail = stamp_before = ""  # the last frame read in full: its header around its time
    start = skip = created = 0
    last: Shipped | None = None
    for frame in frames:
        if last is not None and frame.startswith(head):
            cut = frame.find(" ", start)
            stamp = frame[start:cut]
            # The pattern's time is \S+: no space (cut there), no other whitespace.
            if cut > start and frame.startswith(tail, cut) and stamp.isprintable():
                if stamp != stamp_before:
                    stamp_before, created = stamp, text_ms(stamp) if stamp != "-" else 0
                out.append(Shipped(frame[cut + skip:].removeprefix("\ufeff").rstrip("\r\n"),
                                   "syslog", last.host, last.path, None, created, last.app))
                continue
        found = _RFC5424_PATH.match(frame)
        if found is None:
            last = None
            out.append(match(frame))
            continue
        stamp, host, app, path = found.groups()
        last = _with_path(frame[found.end():], stamp, _nil(host), _nil(app), path)
        out.append(last)
        head, tail = frame[:found.start(1)], frame[found.end(1):found.end()]
        start, skip, stamp_before, created = len(head), len(tail), stamp, last.created_ms
        if not tail.endswith("] "):  # the optional space the MSG may lack: read in full
            last = None
    return out


def match(frame: str, now_ms: int = 0) -> Shipped | None:
    """The line in one syslog frame (its framing, octet count or newline, already taken off),
    or None when the frame is neither RFC 5424 nor RFC 3164."""
    found = _RFC5424_PATH.match(frame)
    if found is not None:
        stamp, host, app, path = found.groups()
        return _with_path(frame[found.end():], stamp, _nil(host), _nil(app), path)
    found = _RFC5424.match(frame)
    if found is not None:
        _pri, stamp, host, app, _procid, _msgid = found.groups()
        params, msg = _structured(frame[found.end():])
        path = next((params[k] for k in _PATH_PARAMS if params.get(k)), None)
        return Shipped(line=msg.removeprefix("\ufeff").rstrip("\r\n"), shipper="syslog",
                       host=_nil(host), path=path, app=_nil(app),
                       created_ms=when(stamp) if stamp != "-" else 0)
    found = _RFC3164.match(frame)
    if found is None:
        return None
    _pri, stamp, host, tag = found.groups()
    return Shipped(line=frame[found.end():].rstrip("\r\n"), shipper="syslog", host=host, app=tag,
                   created_ms=parse_ms(stamp, now_ms=now_ms or int(time.time() * 1000)) or 0)
