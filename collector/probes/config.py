"""The ``probes:`` section: a list of probes, each checked with file:line errors.

Common keys: ``name`` (unique; the events' ``service.name``), ``kind``, ``interval`` (the
kind's default when omitted), ``timeout`` (default 10s, at most the interval: a run never
outlasts its own schedule) and ``enabled``. The kind's module reads the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from collector.config_values import Section
from collector.probes import PROBES
from collector.yamlconf import did_you_mean

COMMON_KEYS = ("name", "kind", "interval", "timeout", "enabled")
DEFAULT_TIMEOUT = "10s"


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    name: str
    kind: str
    interval_ms: int
    timeout_ms: int
    settings: Any

    @property
    def module(self) -> ModuleType:
        return PROBES.get(self.kind)


def load_probes(config) -> list[ProbeSpec]:
    """The enabled probes of a loaded ``collector.config.Config``."""
    raw = config.section("probes")
    if raw.data is None:
        return []
    if not isinstance(raw.data, list):
        raise raw.doc.error(raw.path, "expected a list of probes",
                            "e.g. probes: [{name: orders-lag, kind: kafka, groups: [orders]}]")
    probes, names = [], set()
    for i, item in enumerate(raw.data):
        path = (*raw.path, i)
        if not isinstance(item, dict):
            raise raw.doc.error(path, "expected a mapping with name and kind")
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in PROBES:
            kinds = PROBES.paths()
            hint = did_you_mean(str(kind), kinds) or f"expected one of {', '.join(kinds)}"
            raise raw.doc.error((*path, "kind"), "is required" if kind is None else
                                f"unknown probe kind {kind!r}", hint)
        module = PROBES.get(kind)
        s = Section(raw.doc, path, item, COMMON_KEYS + module.KEYS)
        name = s.text("name", required=True)
        if name in names:
            raise s.error("name", f"probe {name!r} is defined twice", "give each probe its own name")
        names.add(name)
        interval = s.duration_ms("interval", module.DEFAULT_INTERVAL, minimum_ms=1000)
        timeout = s.duration_ms("timeout", DEFAULT_TIMEOUT, minimum_ms=100)
        if timeout > interval:
            raise s.error("timeout", f"is longer than the interval ({interval} ms)",
                          "a run must end before the next one is due")
        settings = module.parse(s, config)
        if s.flag("enabled", True):
            probes.append(ProbeSpec(name, kind, interval, timeout, settings))
    return probes


def regex(s: Section, key: str, default: str | None = None) -> re.Pattern | None:
    """A regular expression setting, refused with its position when it does not compile."""
    text = s.text(key, default)
    try:
        return re.compile(text) if text else None
    except re.error as exc:
        raise s.error(key, f"not a regular expression: {exc}") from None


def http_url(s: Section, default: str | None = None) -> str:
    """The probe's ``url``: required without a default, http(s) only."""
    url = s.text("url", default, required=default is None)
    if not url.startswith(("http://", "https://")):
        raise s.error("url", f"expected an http(s):// URL, got {url!r}")
    return url
