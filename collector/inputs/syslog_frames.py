"""The frames of one syslog read into events, as a batch: what the syslog input's parse
worker does with each TCP read (or burst of UDP datagrams).

``Delivery.frames`` reads any input's messages named by their content one by one: it asks
every shipper's envelope of each (the native Filebeat reader first, over a whole batch) and
feeds each line to its source's parser alone. A syslog connection's frames are syslog
frames, one source after another (a sender's file, line by line), so this reads them as
such: each frame's header once, by the native reader (``collector.native.syslog_runs``,
which decodes the frames and makes the runs itself) or else with
``collector.envelopes.syslog`` directly; runs of lines of one file then go to
``Delivery.parse_unwrapped``, which hands a run to the native fast path of its format where
there is one, as it does for Kafka. The events, their IDs (the
line's hash with the sender's time, numbered when it repeats) and dead letters are those of
``Delivery.frames``; tests/unit/test_syslog_frames.py holds the two to each other.

A batch holding a frame that is not a syslog message (a JSON template sent over TCP without
a syslog header: rsyslog's or syslog-ng's JSON, see ``collector.envelopes.shippers``) is read
by ``Delivery.frames`` as it stands.
"""

from __future__ import annotations

from collector import native
from collector.envelopes import shipped, syslog
from collector.envelopes.shipped import runs
from collector.event import Record
from collector.parse import Output
from collector.shipping import Delivery


def decode(frames: list[bytes]) -> list[str]:
    """Each frame as text (invalid UTF-8 replaced): decoded as one buffer, not frame by
    frame, when no frame holds a line feed to mistake for the seam between two."""
    joined = b"\n".join(frames)
    if joined.count(b"\n") != len(frames) - 1:
        return [frame.decode("utf-8", "replace") for frame in frames]
    return joined.decode("utf-8", "replace").split("\n")


def parse(delivery: Delivery, frames: list[bytes], source: str, ingested_ms: int) -> Output:
    """The events and dead letters of ``frames``, read from ``source`` at ``ingested_ms``."""
    if not frames:
        return []
    # The record of a frame in its envelope is only its source (its line, time and ID come
    # from the envelope): one for all of them; a frame in none is read as it stands.
    shared = Record(text="", source=source, ingested_ms=ingested_ms)
    read = native.syslog_runs()
    # The native reader decodes the frames itself (a read it takes is all RFC 5424 frames
    # in valid UTF-8, each starting with "<"); one it declines is decoded here.
    grouped = read(frames) if read is not None else None
    if grouped is not None:  # every frame read
        return delivery.parse_unwrapped([shared] * len(frames), shipped.grouped(grouped), False)
    texts = decode(frames)
    if not all(text[:1] == "<" for text in texts):
        return delivery.frames(frames, source, ingested_ms)
    unwrapped = syslog.match_all(texts)
    records = [shared if found is not None else Record(text=text, source=source,
                                                       ingested_ms=ingested_ms)
               for text, found in zip(texts, unwrapped, strict=True)]
    return delivery.parse_unwrapped(records, runs(unwrapped), False)

