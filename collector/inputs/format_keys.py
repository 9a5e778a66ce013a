"""The keys every input that parses text shares: ``format``, ``mapping``, ``log_format``,
``encoding``; read here once so each input's ``parse`` names them the same way."""

from __future__ import annotations

from pathlib import Path

from collector.config_values import Section
from collector.encoding import codec_name
from collector.format_names import unknown_format
from collector.parsers import PARSERS, logformat


def format_and_mapping(s: Section, default: str) -> tuple[str, str | None]:
    fmt = s.text("format", default)
    if fmt != "auto" and fmt not in PARSERS:
        raise s.error("format", *unknown_format(fmt, ("auto", *PARSERS.paths())))
    mapping = s.text("mapping")
    if mapping is not None and not Path(mapping).is_file():
        raise s.error("mapping", f"mapping file {mapping} does not exist")
    return fmt, mapping


def log_format(s: Section, fmt: str) -> str | None:
    """The input's format string, compiled now so that a mistake names the config line."""
    text = s.text("log_format")
    if text is None:
        return None
    try:
        logformat.compile_format(text, logformat.dialect_for(fmt, text))
    except logformat.LogFormatError as exc:
        raise s.error("log_format", str(exc)) from None
    return text


def encoding(s: Section) -> str:
    try:
        return codec_name(s.text("encoding", "auto"))
    except ValueError as exc:
        raise s.error("encoding", str(exc)) from None
