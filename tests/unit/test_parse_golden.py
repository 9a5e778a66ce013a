"""Parse output pinned byte for byte: every fixture of tests/data and the inputs of
bench/parse_bench.py, with their format named and with ``auto``, plus mixed sources.

The parse path is tuned for speed (issue 25: caches, prefilters, detection decided once per
source, the native fast path of collector.native when it is built); none of that may change
an event. Each case's output (every event's full document
including ``event.original``, every dead letter, the parse counters) is reduced to a SHA-256
and compared with ``parse_golden.json``. After a change that is meant to alter parser output,
regenerate with ``MIDWATCH_GOLDEN_UPDATE=1 .venv/bin/python -m pytest -q
tests/unit/test_parse_golden.py`` and say why in the commit; a failure names the case, and the
outputs of a case can be printed with ``python tests/unit/test_parse_golden.py CASE``.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from collector import native
from collector.event import DeadLetter, to_doc
from collector.parse import ParseStats, parse_stream
from collector.parsers import PARSERS
from collector.parsers._base import ParseContext

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
GOLDEN = Path(__file__).with_name("parse_golden.json")
NOW_MS = 1_709_900_000_000
KEY = b"golden-parse-key-0123456789abcdef"
BENCH_LINES = 1500
# Fixture folders of sources in an envelope or encoding rather than one format: auto only.
AUTO_ONLY = ("containers", "encodings", "shippers")

sys.path.insert(0, str(ROOT / "bench"))
import parse_bench  # noqa: E402


def _fixtures() -> list[Path]:
    return sorted(p for p in DATA.glob("*/*") if p.is_file() and p.suffix not in (".md", ".yaml")
                  and (p.parent.name in PARSERS or p.parent.name in AUTO_ONLY))


def _mixed_bench() -> bytes:
    """Blocks of a few records of each bench format in turn, as one source: auto-detection
    must switch at every block and stay within a multi-line Mule record."""
    rng = random.Random(7)
    blocks = []
    for i in range(60):
        name = ("mule", "json", "apigw")[i % 3]
        blocks.append(parse_bench.GENERATORS[name](1 + i % 5, rng)[0])
    return b"".join(blocks)


def cases() -> dict[str, tuple[str, bytes]]:
    """name -> (format, input bytes)."""
    out: dict[str, tuple[str, bytes]] = {}
    for path in _fixtures():
        rel = path.relative_to(DATA).as_posix()
        data = path.read_bytes()
        if path.parent.name not in AUTO_ONLY:
            out[f"{rel}@named"] = (path.parent.name, data)
        out[f"{rel}@auto"] = ("auto", data)
    for name, gen in parse_bench.GENERATORS.items():
        data = gen(BENCH_LINES, random.Random(f"{name}-golden"))[0]
        out[f"bench/{name}@named"] = (name, data)
        out[f"bench/{name}@auto"] = ("auto", data)
    out["bench/mixed@auto"] = ("auto", _mixed_bench())
    out["fixtures-concatenated@auto"] = ("auto", b"".join(
        p.read_bytes().rstrip(b"\n") + b"\n" for p in _fixtures()
        if p.parent.name not in AUTO_ONLY and p.parent.name not in ("x12", "edifact")))
    return out


def outputs(fmt: str, data: bytes, source: str) -> Iterator[bytes]:
    """One JSON line per event or dead letter, in order, then the counters."""
    ctx = ParseContext(now_ms=NOW_MS, redact_key=KEY)
    stats = ParseStats()
    for item in parse_stream(io.BytesIO(data), source, fmt, ctx, stats):
        if isinstance(item, DeadLetter):
            doc = {"dead": item.to_doc(), "line": item.line, "field": item.field}
        else:
            doc = {"event": to_doc(item, original=True)}
        yield orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    yield orjson.dumps({"records": stats.records, "events": stats.events,
                        "empty": stats.empty_records, "utf8": stats.replaced_utf8,
                        "dead": stats.deadletters}, option=orjson.OPT_SORT_KEYS)


def digest(name: str, fmt: str, data: bytes) -> str:
    import hashlib

    h = hashlib.sha256()
    for line in outputs(fmt, data, name):
        h.update(line + b"\n")
    return h.hexdigest()


CASES = cases()
PINNED: dict[str, str] = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def test_every_case_is_pinned() -> None:
    if os.environ.get("MIDWATCH_GOLDEN_UPDATE"):
        GOLDEN.write_text(json.dumps({n: digest(n, *c) for n, c in CASES.items()}, indent=1,
                                     sort_keys=True) + "\n")
        pytest.skip("golden digests rewritten")
    assert sorted(CASES) == sorted(PINNED), "cases added or removed: regenerate the digests"
    assert len(CASES) > 100


@pytest.mark.parametrize("fast", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_output_is_byte_identical(name: str, fast: bool) -> None:
    """With the native fast path (where it is built) and without it: the same digest."""
    fmt, data = CASES[name]
    before = native.use(fast)
    try:
        got = digest(name, fmt, data)
    finally:
        native.use(before)
    assert got == PINNED.get(name), (
        f"parse output of {name} changed; see it with: "
        f".venv/bin/python tests/unit/test_parse_golden.py {name!r}")


if __name__ == "__main__":
    for arg in sys.argv[1:] or sorted(CASES):
        for out in outputs(*CASES[arg], arg):
            sys.stdout.buffer.write(out + b"\n")
