"""Log envelopes: the line a platform wrote, wrapped by whatever collected it.

A broker or gateway in a container does not write its log file itself; the runtime writes each
line of its output wrapped in an envelope, and the platform's layout is inside:

- Docker's ``json-file`` driver: ``{"log":"<line>\\n","stream":"stdout","time":"..."}``, the
  line JSON-escaped; a line longer than 16 KiB comes in pieces without the ``\\n``.
- CRI runtimes (containerd, CRI-O; Kubernetes' ``/var/log/containers``):
  ``<RFC 3339 time> stdout F <line>``, ``P`` instead of ``F`` for a piece of a longer line.
- ``docker compose logs``: ``<service>-<n>  | <line>`` (``_`` before the replica number in
  Compose v1).
- The Java Service Wrapper (Tanuki), which runs Mule standalone runtimes (``mule_ee.log``,
  ``wrapper.log``), ActiveMQ and SAP Commerce as services: ``INFO   | jvm 1    | <time> |
  <line>`` (``wrapper.logfile.format`` LPTM, and LPDTM with a thread column). Only the JVM's
  lines are unwrapped; the wrapper's own (``STATUS | wrapper  | ...``: JVM launched, exited,
  hung, restarted) are read as they are, by the ``java-wrapper`` parser.

A file of shipper documents (``shipped``: Filebeat, Vector, Fluent Bit... in JSON, see
``collector.envelopes.shippers``) is recognized here too and handed to ``collector.shipping``.

A source is one container's output, so its envelope is decided once, on its first line, and
taken off every line that has it; the platform's own parser then frames and reads the lines
(stack traces, multi-line records) as if the platform had written the file. The envelope's
time and stream are not kept: the platform's line carries its own time.
"""

from __future__ import annotations

import re

import orjson

# A line is wrapped at most this much (a cap for pieces joined back together).
MAX_JOINED_CHARS = 1 << 20

_CRI = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}) "
                  r"(?:stdout|stderr) ([FP]) ")
# A service name ending in its replica number, then the column of spaces and the bar: strict,
# so that a layout with "|" between its own fields ("2024-03-01 | INFO | ...") is not taken.
_COMPOSE = re.compile(r"[A-Za-z][\w.-]*[-_]\d+\s+\| ?")
# Level (optional), source, thread (optional), time, then the line: "INFO   | jvm 1    | ".
WRAPPER = re.compile(r"(?:(?P<level>[A-Z]+) *\| )?(?P<source>jvm \d+|wrapper) *\|(?: [\w-]+ *\|)? "
                     r"(?P<time>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) \| ?")


def kind_of(line: str) -> str | None:
    """The envelope of a source, from its first line; None when its lines are bare.
    ``shipped``: a file of shipper documents (a Filebeat or Vector file output, a dump of a
    Kafka topic), whose lines ``collector.shipping`` unwraps and parses per original source."""
    if line.startswith("{"):
        from collector.envelopes import shippers

        if shippers.unwrap(line) is not None:
            return "shipped"
    if line.startswith('{"log":'):
        return "docker" if unwrap("docker", line) is not None else None
    if _CRI.match(line):
        return "cri"
    if _COMPOSE.match(line):
        return "compose"
    if WRAPPER.match(line):
        return "wrapper"
    return None


def unwrap(kind: str, line: str) -> tuple[str, bool] | None:
    """(the platform's line, whether it is only a piece of a longer one), or None when this
    line is not in the source's envelope (it is then read as it is)."""
    if kind == "docker":
        if not line.startswith('{"log":'):
            return None
        try:
            text = orjson.loads(line)["log"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        if not isinstance(text, str):
            return None
        whole = text.endswith("\n")
        return text.removesuffix("\n").removesuffix("\r"), not whole
    if kind == "cri":
        found = _CRI.match(line)
        return None if found is None else (line[found.end():], found.group(1) == "P")
    if kind == "wrapper":
        found = WRAPPER.match(line)
        if found is None or found["source"] == "wrapper":
            return None
        return line[found.end():], False
    found = _COMPOSE.match(line)
    return None if found is None else (line[found.end():], False)
