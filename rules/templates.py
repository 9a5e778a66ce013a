"""Annotation templates: ``{{ labels.flow }} failed {{ ratio | percent }} in {{ window | duration }}``.

Rule files come from many hands and end up in pages, so templates get a deliberately small
language instead of Jinja or ``str.format`` (both reach into Python objects): a variable path,
optionally one helper. Every variable and helper is checked when the rule is loaded, so a typo
is a validation error, never a page that reads "None".

Helpers: ``percent`` (0.123 -> 12.3%), ``duration`` (ms -> 2h 5m), ``number`` (1234.5 ->
1,234.5), ``top(N)`` (first N items of a list, comma-joined), ``upper``, ``lower``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from collector.yamlconf import did_you_mean

_EXPR_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_BODY_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\|\s*([a-z]+)\s*(?:\(\s*(\d+)\s*\))?)?\s*$")
MAX_RENDERED = 4096


def duration(ms: Any) -> str:
    if float(ms) < 1000:
        return f"{int(ms)}ms"
    total = int(float(ms) // 1000)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def percent(x: Any) -> str:
    return f"{float(x) * 100:.1f}%"


def number(x: Any) -> str:
    x = float(x)
    return f"{int(x):,}" if x.is_integer() else f"{x:,.2f}"


def _top(items: Any, n: int) -> str:
    if isinstance(items, str) or not isinstance(items, Iterable):
        return str(items)
    return ", ".join(str(i) for i in list(items)[:n])


HELPERS: dict[str, Callable[..., str]] = {
    "percent": percent,
    "duration": duration,
    "number": number,
    "top": _top,
    "upper": lambda x: str(x).upper(),
    "lower": lambda x: str(x).lower(),
}


class TemplateError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    # (start, end, path, helper, helper argument) for each {{ }}.
    parts: tuple[tuple[int, int, tuple[str, ...], str | None, int | None], ...]

    def render(self, values: dict[str, Any]) -> str:
        out, last = [], 0
        for start, end, path, helper, arg in self.parts:
            out.append(self.text[last:start])
            out.append(_render_one(_lookup(values, path), helper, arg))
            last = end
        out.append(self.text[last:])
        text = "".join(out)
        return text if len(text) <= MAX_RENDERED else text[: MAX_RENDERED - 1] + "…"


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = values
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _render_one(value: Any, helper: str | None, arg: int | None) -> str:
    if value is None:
        return "-"
    if helper is None:
        return number(value) if isinstance(value, float) else str(value)
    try:
        return HELPERS[helper](value, arg) if helper == "top" else HELPERS[helper](value)
    except (TypeError, ValueError):
        return str(value)


def compile_template(text: str, variables: Iterable[str],
                     labels: Iterable[str] | None) -> Template:
    """Check every ``{{ }}`` against the variables the rule provides and the labels its alerts
    carry (``labels.x``); TemplateError with a did-you-mean hint otherwise. ``labels`` None:
    the labels are unknown (the rule's group_by is in error) and any ``labels.x`` passes, so
    that one mistake is not reported again as an unknown label."""
    variables = set(variables)
    labels = None if labels is None else set(labels)
    parts = []
    for m in _EXPR_RE.finditer(text):
        body = _BODY_RE.match(m.group(1))
        if not body:
            raise TemplateError(f"cannot read {m.group(0)!r}",
                                "write {{ name }} or {{ name | helper }}")
        path = tuple(body.group(1).split("."))
        if path[0] == "labels":
            if len(path) != 2 or (labels is not None and path[1] not in labels):
                name = path[1] if len(path) > 1 else ""
                known = labels or set()
                raise TemplateError(
                    f"unknown label {name!r} in {m.group(0)}",
                    did_you_mean(name, known) or f"alerts of this rule carry {sorted(known)}")
        elif len(path) != 1 or path[0] not in variables:
            raise TemplateError(f"unknown variable {body.group(1)!r} in {m.group(0)}",
                                did_you_mean(path[0], variables) or f"known: {sorted(variables)}")
        helper, arg = body.group(2), body.group(3)
        if helper is not None and helper not in HELPERS:
            raise TemplateError(f"unknown helper {helper!r}",
                                did_you_mean(helper, HELPERS) or f"known: {sorted(HELPERS)}")
        if (helper == "top") != (arg is not None):
            raise TemplateError(f"{m.group(0)}: only top takes an argument, and it needs one",
                                "e.g. {{ message_ids | top(3) }}")
        parts.append((m.start(), m.end(), path, helper, int(arg) if arg else None))
    return Template(text, tuple(parts))
