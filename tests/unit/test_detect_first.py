"""``DETECT_FIRST`` of a parser never leaves out a line its ``detect`` claims: auto-detection
skips the parser for lines starting otherwise, so a wrong declaration would hand a line to
another parser (or none) and change the events."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import detect_prefilter
from collector.parse import _askable, available_parsers, detect, first_class

DATA = Path(__file__).resolve().parents[1] / "data"
# First characters tried in front of every fixture line's own text: each class of
# DETECT_FIRST (digits of several scripts, blanks of several kinds) and common line heads.
PROBES = ["", " ", "\t", "\u2003", "0", "7", "٣", "²", "{", "[", "<", "=", "#", '"', "A", "E",
          "I", "S", "T", "U", "W", "a", "h", "t", "*", "-", ".", "|", "é"]


def _lines() -> list[str]:
    out = []
    for path in sorted(DATA.rglob("*")):
        if path.is_file() and path.suffix not in (".md", ".yaml"):
            out.extend(path.read_bytes().decode("utf-8", "replace").splitlines())
    return [line for line in out if line.strip()]


LINES = _lines()
DECLARED = [m for m in available_parsers() if hasattr(m, "DETECT_FIRST")]


@pytest.mark.parametrize("module", DECLARED, ids=lambda m: m.NAME)
def test_every_claimed_line_starts_as_declared(module) -> None:
    claimed = 0
    for line in LINES:
        for variant in {line, *(p + line for p in PROBES), *(p + line[1:] for p in PROBES)}:
            if module.detect(variant):
                claimed += 1
                assert first_class(variant) in module.DETECT_FIRST, (module.NAME, variant[:80])
    assert claimed, f"{module.NAME}: no fixture line claimed, so nothing was checked"


def test_detection_with_and_without_the_first_character_filter_agree() -> None:
    candidates = tuple(available_parsers())

    def unfiltered(line: str):
        return next((m for m in candidates if m.detect(line)), None)

    for line in LINES:
        assert detect(line, candidates) is unfiltered(line), line[:80]
    # A JSON line is asked of at most half the parsers and the two catch-alls (12 of 21);
    # those that name the substrings such a line must hold (DETECT_NEEDS) are asked only
    # when one is there, so a line holding none is asked of the catch-alls alone.
    askable = _askable("{", candidates)
    assert len(askable) <= len(candidates) // 2 + 2
    assert [m.NAME for m in detect_prefilter.plan("{", askable).bare] == ["json", "text"]
