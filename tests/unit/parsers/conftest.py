"""Shared fixture for parser tests: run a fixture file through the real parse core."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from collector.event import DeadLetter, Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

DATA = Path(__file__).resolve().parents[2] / "data"
NOW_MS = 1_709_900_000_000  # 2024-03-08T12:13:20Z: the ingest time fixtures fall back to


@pytest.fixture
def parse_data():
    """``parse_data(fmt, "mule/app.log", **ctx_fields) -> (events, deadletters)``."""

    def run(fmt: str, relpath: str, **ctx_fields) -> tuple[list[Event], list[DeadLetter]]:
        ctx = ParseContext(now_ms=NOW_MS, **ctx_fields)
        path = DATA / relpath
        with path.open("rb") as stream:
            items = list(parse_stream(stream, str(path), fmt, ctx))
        return ([i for i in items if isinstance(i, Event)],
                [i for i in items if isinstance(i, DeadLetter)])

    return run


@pytest.fixture
def parse_text():
    """``parse_text(fmt, text, **ctx_fields) -> (events, deadletters)``: ``parse_data`` for
    lines a test spells out (a reviewer's input beside the fixture files)."""

    def run(fmt: str, text: str, **ctx_fields) -> tuple[list[Event], list[DeadLetter]]:
        ctx = ParseContext(now_ms=NOW_MS, **ctx_fields)
        items = list(parse_stream(io.BytesIO(text.encode()), "/var/log/app.log", fmt, ctx))
        return ([i for i in items if isinstance(i, Event)],
                [i for i in items if isinstance(i, DeadLetter)])

    return run
