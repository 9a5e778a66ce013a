"""Logs of the running service: JSON lines for machines, secrets masked either way.

Every ``extra={...}`` field of a log call becomes a JSON key, so a log pipeline can filter on
``input`` or ``step`` without parsing prose. Every secret loaded from the config (``${ENV}``
or ``file:``) is masked in the final line, whatever code path put it there.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

from collector.terminal import safe
from collector.yamlconf import registered_secrets

MASK = "***"
# Attributes every LogRecord has; anything else came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message",
                                                                              "asctime"}


def mask_secrets(text: str) -> str:
    for secret in registered_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return mask_secrets(orjson.dumps(doc, default=str).decode())


class TextFormatter(logging.Formatter):
    """For a person at a terminal: the message, then the extra fields as key=value, control
    characters from data shown escaped (``collector.terminal``)."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items()
                          if k not in _STANDARD and not k.startswith("_"))
        lines = [f"{record.levelname.lower():7} {record.getMessage()}"
                 + (f"  {extras}" if extras else "")]
        if record.exc_info:
            lines += self.formatException(record.exc_info).splitlines()
        return "\n".join(safe(mask_secrets(line)) for line in lines)


def setup_logging(level: str = "info", json_lines: bool | None = None) -> None:
    """JSON lines unless stderr is a terminal."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger("midwatch")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
