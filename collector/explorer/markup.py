"""Auto-escaping HTML templates on ``string.Template``.

Values from log lines (IDs, messages, service names) reach every page, so escaping is the
default rather than something each view must remember: ``render`` escapes every value unless
it is ``Safe``, and only code in this package builds ``Safe`` strings (from escaped parts).
Templates live in ``templates/`` as package data and are read once.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from functools import cache
from importlib import resources


class Safe(str):
    """Markup that is already escaped (or fixed text written by midwatch)."""

    __slots__ = ()

    def __add__(self, other: object) -> Safe:
        """Concatenation stays markup, escaping the other side unless it is markup too."""
        return Safe(str.__add__(self, esc(other)))

    def __radd__(self, other: object) -> Safe:
        return Safe(str.__add__(esc(other), self))


def esc(value: object) -> Safe:
    """Escape a value for HTML text and quoted attributes; ``Safe`` passes through."""
    if isinstance(value, Safe):
        return value
    return Safe(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Safe:
    return Safe(esc(sep).join(esc(p) for p in parts))


def tag(name: str, content: object = "", /, **attrs: object) -> Safe:
    """``<name a="v">content</name>`` (``name=`` may be an attribute too); attribute names use ``_`` for ``-`` and a trailing
    ``_`` for reserved words (``class_``); None and False leave the attribute out."""
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        parts.append(attr if value is True else f'{attr}="{esc(value)}"')
    return Safe(f"<{' '.join(parts)}>{esc(content)}</{name}>")


@cache
def _template(name: str) -> string.Template:
    text = resources.files("collector.explorer").joinpath("templates", name).read_text("utf-8")
    return string.Template(text)


def render(name: str, **values: object) -> Safe:
    """Fill template ``name`` with escaped values. A placeholder without a value is a bug
    in the view, so it raises (KeyError) rather than leaving ``$name`` on the page."""
    return Safe(_template(name).substitute({k: esc(v) for k, v in values.items()}))
