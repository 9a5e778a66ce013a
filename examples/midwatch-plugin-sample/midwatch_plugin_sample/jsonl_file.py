"""Notifier ``jsonl_file``: each notification appended to ``path`` as one JSON line.

One ``write`` of one line per notification (O_APPEND), so concurrent writers never interleave
within a line and a reader tailing the file sees whole records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from collector.config_values import Section
from rules.notify.base import Notification, SendError

KEYS = ("type", "path")


@dataclass(frozen=True, slots=True)
class Options:
    path: str


def parse(s: Section) -> Options:
    return Options(s.text("path", required=True))


class JsonlFile:
    kind = "jsonl_file"

    def __init__(self, name: str, options: Options):
        self.name, self.options = name, options

    def send(self, n: Notification) -> None:
        line = json.dumps({"action": n.action, "rule": n.rule, "dedup_key": n.key,
                           "severity": n.severity, "labels": n.labels, "value": n.value,
                           "summary": n.summary, "at": n.iso(n.at_ms)}, sort_keys=True) + "\n"
        try:
            fd = os.open(self.options.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise SendError(f"jsonl_file ({self.name}): cannot append to "
                            f"{self.options.path}: {exc.strerror}", retryable=True) from None


NOTIFIER = JsonlFile
