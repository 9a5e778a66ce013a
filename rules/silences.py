"""Silences (mute matching alerts for a while, by hand) and inhibition (mute alerts that
another firing alert already explains: a ``platform down`` alert mutes its flows' alerts).

Both match alert labels the way Alertmanager does, with ``rule`` and ``severity`` added to
the labels, so ``--match rule=X,flow=Y`` and ``source_matchers: [rule=platform-down]`` read
the same as in an Alertmanager config.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from collector.config_values import Section
from collector.store.base import Store
from rules.timewindows import Recurrence

NAMESPACE = "silences"
# Expired silences stay listed this long (for `silence list`), then are deleted.
KEEP_EXPIRED_MS = 86_400_000
_MATCHER_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op in ("=", "!="):
            hit = got == self.value
        else:
            hit = re.fullmatch(self.value, got) is not None
        return hit if self.op in ("=", "=~") else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def parse_matcher(text: str) -> Matcher:
    m = _MATCHER_RE.match(text)
    if not m:
        raise ValueError(f"expected label=value (or !=, =~, !~), got {text!r}")
    name, op, value = m.groups()
    value = value.strip('"')
    if "~" in op:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression in {text!r}: {exc}") from None
    return Matcher(name, op, value)


def parse_matchers(text: str | Iterable[str]) -> tuple[Matcher, ...]:
    parts = text.split(",") if isinstance(text, str) else list(text)
    matchers = tuple(parse_matcher(p) for p in parts if p.strip())
    if not matchers:
        raise ValueError("no matchers given; e.g. rule=o2c-failures,flow=o2c")
    return matchers


def matches_all(matchers: Sequence[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True)
class Silence:
    """Made by ``silence add`` (kept in the store, ``origin`` ``cli``) or read from a
    silence file (``origin`` file:line, ``rules.silence_files``); a ``schedule`` makes it
    recurring: active inside its windows between ``starts_ms`` and ``ends_ms``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_ms: int
    ends_ms: int
    comment: str
    created_by: str
    origin: str = "cli"
    schedule: Recurrence | None = None

    def active(self, at_ms: int) -> bool:
        return (self.starts_ms <= at_ms < self.ends_ms
                and (self.schedule is None or self.schedule.contains(at_ms)))

    def to_doc(self) -> dict:
        return {"matchers": [str(m) for m in self.matchers], "starts_ms": self.starts_ms,
                "ends_ms": self.ends_ms, "comment": self.comment, "created_by": self.created_by}

    @staticmethod
    def from_doc(sid: str, d: dict) -> Silence:
        return Silence(sid, parse_matchers(d["matchers"]), d["starts_ms"], d["ends_ms"],
                       d.get("comment", ""), d.get("created_by", ""))


def new_silence(matchers: str, duration_ms: int, comment: str, author: str, now_ms: int) -> Silence:
    if duration_ms <= 0:
        raise ValueError("a silence needs a positive duration, e.g. --for 2h")
    if not comment.strip():
        raise ValueError("say why in --comment: the next on-call reads it")
    return Silence(uuid.uuid4().hex[:12], parse_matchers(matchers), now_ms, now_ms + duration_ms,
                   comment, author)


class Silences:
    """The silences kept in the store's state namespace ``silences``."""

    def __init__(self, store: Store):
        self.store = store

    def all(self, now_ms: int) -> list[Silence]:
        out = []
        for sid, doc in self.store.get_state(NAMESPACE).items():
            silence = Silence.from_doc(sid, doc)
            if silence.ends_ms + KEEP_EXPIRED_MS < now_ms:
                self.store.put_state(NAMESPACE, sid, None)
            else:
                out.append(silence)
        return sorted(out, key=lambda s: s.starts_ms)

    def active(self, now_ms: int) -> list[Silence]:
        return [s for s in self.all(now_ms) if s.active(now_ms)]

    def add(self, silence: Silence) -> None:
        self.store.put_state(NAMESPACE, silence.id, silence.to_doc())

    def expire(self, sid: str, now_ms: int) -> Silence:
        doc = self.store.get_state(NAMESPACE).get(sid)
        if doc is None:
            raise KeyError(sid)
        silence = Silence.from_doc(sid, doc)
        ended = Silence(sid, silence.matchers, silence.starts_ms, min(silence.ends_ms, now_ms),
                        silence.comment, silence.created_by)
        self.add(ended)
        return ended


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


def parse_inhibit(s: Section) -> InhibitRule:
    matchers = {}
    for key in ("source_matchers", "target_matchers"):
        try:
            matchers[key] = parse_matchers(s.str_list(key, required=True))
        except ValueError as exc:
            raise s.error(key, str(exc), "e.g. [rule=platform-down]") from None
    return InhibitRule(matchers["source_matchers"], matchers["target_matchers"],
                       s.str_list("equal"))


def inhibitors(key: str, labels: dict[str, str], firing: Sequence[tuple[str, dict[str, str]]],
               rules: Sequence[InhibitRule]) -> Iterator[dict[str, str]]:
    """The labels of each firing alert other than this one (``key``) that matches a source
    whose target is this alert, with the same values of the ``equal`` labels."""
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        for src_key, src in firing:
            if src_key == key or not matches_all(rule.source, src):
                continue
            if all(src.get(name, "") == labels.get(name, "") for name in rule.equal):
                yield src


def inhibited(key: str, labels: dict[str, str], firing: Sequence[tuple[str, dict[str, str]]],
              rules: Sequence[InhibitRule]) -> bool:
    return next(inhibitors(key, labels, firing, rules), None) is not None
