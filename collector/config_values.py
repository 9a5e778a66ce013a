"""Typed reads of one YAML mapping, each failure naming file, line and key.

``collector.config`` describes the config file's shape with these readers; every section
reads its keys through one ``Section`` so that an unknown key, a wrong type or a bad duration
all produce the same kind of error: ``midwatch.yaml:12:5: api.listen: expected HOST:PORT ...``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from collector.yamlconf import (
    ConfigError,
    Doc,
    KeyPath,
    Secret,
    UnsetSecret,
    did_you_mean,
    parse_duration_ms,
)

_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2,
               "gb": 1000**3, "gib": 1024**3}


def parse_size_bytes(value: Any) -> int:
    """'8MiB', '64KiB', '1MB' or a bare number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 8MiB, got {value!r}")
    if isinstance(value, int):
        return value
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"expected a size like 512KiB, 8MiB or a number of bytes; got {value!r}")
    return int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]


def parse_listen(value: Any) -> tuple[str, int]:
    """'HOST:PORT' (IPv6 as '[::1]:8080') -> (host, port)."""
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT like 127.0.0.1:8080, got {value!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class Section:
    """One mapping of the config file, at ``path``; reading it checks the keys it may hold."""

    def __init__(self, doc: Doc, path: KeyPath, data: Any, allowed: Iterable[str]):
        self.doc, self.path = doc, path
        self.allowed = tuple(allowed)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise doc.error(path, f"expected a mapping, got {describe(data)}")
        self.data: dict[str, Any] = data
        for key in data:
            if key not in self.allowed:
                hint = did_you_mean(str(key), self.allowed) or f"expected one of {', '.join(self.allowed)}"
                raise doc.error((*path, key), "unknown key", hint)

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return self.doc.error((*self.path, key), message, hint)

    def sub(self, key: str, allowed: Iterable[str]) -> Section:
        return Section(self.doc, (*self.path, key), self.data.get(key), allowed)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return default
        if isinstance(value, dict | list | bool | Secret):
            raise self.error(key, f"expected text, got {describe(value)}")
        return str(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}",
                             did_you_mean(str(value), choices))
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def number(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"expected a whole number >= {minimum}, got {value!r}")
        return value

    def duration_ms(self, key: str, default: str, *, minimum_ms: int = 0) -> int:
        return self._converted(key, default, parse_duration_ms, minimum_ms, "duration")

    def size_bytes(self, key: str, default: str, *, minimum: int = 1) -> int:
        return self._converted(key, default, parse_size_bytes, minimum, "size")

    def listen(self, key: str, default: str) -> tuple[str, int]:
        try:
            return parse_listen(self.raw(key, default))
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def _converted(self, key: str, default: str, convert, minimum: int, what: str) -> int:
        try:
            value = convert(self.raw(key, default))
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if value < minimum:
            raise self.error(key, f"{what} must be at least {minimum}, got {value}")
        return value

    def str_list(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        """A list of text; a single string is accepted as a list of one."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, f"expected a list of text, got {describe(value)}")
        if required and not value:
            raise self.error(key, "must not be empty")
        return tuple(value)

    def secret(self, key: str) -> Secret | None:
        """A credential: only from ${ENV} or file:, never a YAML literal."""
        value = self.doc.secret((*self.path, key), self.data.get(key))
        if value is not None and not isinstance(value, UnsetSecret) and not value.reveal():
            raise self.error(key, "is empty", f"check the source {value.origin}")
        return value


def describe(value: Any) -> str:
    """What a config value is, in words: ``a mapping``, ``a list``, ``str 'x'``."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Secret):
        return "a secret"
    return f"{type(value).__name__} {value!r}"
