"""Auto-detection with its prefilter (``collector.detect_prefilter``, ``DETECT_NEEDS``, the
JSON and NGINX parsers' ``claims_taken``) against full detection: line by line the same first claim,
and file by file the same events, over every fixture in tests/data, the shared data set
beside the checkout (../shared/data, when it is there) and the bench's lines.

The prefilter is a promise of each parser about its own ``detect`` (a line it claims holds
one of its needles; a line the native reader took is one it claims). The soundness tests
check those promises on every line we have; the differential tests check what auto mode
makes of the lines with the prefilter (native on) and without it (the reference path).
"""

from __future__ import annotations

import io
import random
from types import ModuleType

import pytest
from test_native_diff import ROOT, assert_same, native_events, needs_native, parse_bench

from collector import native
from collector.parse import (
    SourceParser,
    available_parsers,
    detect,
    detect_any,
    first_class,
    read_lines,
)
from collector.parsers import PARSERS
from collector.parsers._base import ParseContext

SHARED = ROOT.parent / "shared" / "data"
# The parsers that vouch for lines their native reader took (``claims_taken``).
VOUCHING = [m for m in map(PARSERS.get, native.FORMATS) if hasattr(m, "claims_taken")]
# Flat JSON lines the native JSON reader takes and a parser ranked before JSON claims: in a
# JSON log, auto mode must switch to that parser for them (the prefilter's needles found).
_T = '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"m",'
CLAIMED_ELSEWHERE = {
    "azure": _T + '"category":"WorkflowRuntime"}',
    "mule-json": _T + '"tracePoint":"START","correlationId":"abc"}',
    "rabbitmq": _T + '"pid":"<0.1.0>","msg":"x"}',
    "ibmmq": _T + '"type":"mq_put","ibm_qmgr":"QM1"}',
    "apigw": _T + '"remote_addr":"10.1.2.3","status":"200"}',
    "boomi": _T + '"executionId":"e1","processName":"p"}',
    "ace": _T + '"type":"ace_x"}',
}


def _files() -> dict[str, bytes]:
    """Every fixture file (not the notes and configs beside them), by a readable name."""
    found = {f"tests/{p.relative_to(ROOT / 'tests').as_posix()}": p.read_bytes()
             for p in sorted((ROOT / "tests" / "data").rglob("*"))
             if p.is_file() and p.suffix not in (".md", ".yaml")}
    found.update((f"shared/{p.relative_to(SHARED).as_posix()}", p.read_bytes())
                 for p in sorted(SHARED.rglob("*")) if p.is_file() and p.suffix != ".md")
    rng = random.Random("auto-detect")
    for fmt, generate in parse_bench.GENERATORS.items():
        found[f"bench/{fmt}"] = generate(2000, rng)[0]
    # NGINX clients with a dot at position 10 (asked of ``detect``, not vouched for), JSON
    # lines holding each parser's needles, and formats in turn in one source.
    found["crafted"] = "\n".join(
        [apigw_line.replace("10.20.1.", "10.100.200.") for apigw_line in
         parse_bench.nginx_events(50, rng)[0].decode().splitlines()]
        + [f'{{"@timestamp":"2024-03-01T10:15:00.000Z","message":"m {needle}","x":"{k}"}}'
           for k, needle in enumerate(n.replace('"', "'") for m in available_parsers()
                                      for ns in getattr(m, "DETECT_NEEDS", {}).values()
                                      for n in ns)]
        + [f'{{"@timestamp":"2024-03-01T10:15:00.000Z",{needle}"x","y":1}}'
           for m in available_parsers() for ns in getattr(m, "DETECT_NEEDS", {}).values()
           for needle in ns if needle.startswith('"')]).encode() + b"\n"
    found["mixed"] = b"".join(parse_bench.GENERATORS[("json", "apigw", "mule")[i % 3]](
        3 + i % 30, rng)[0] for i in range(60))
    # A file of one format with foreign lines in it: NGINX error lines in an access log, Java
    # service wrapper lines in a Mule log, other platforms' JSON lines among JSON logs.
    for fmt, foreign in (("apigw", "nginx-error/error.log"),
                         ("mule", "containers/wrapper-mule_ee.log"),
                         ("json", "rabbitmq/trace.jsonl"), ("json", "azure/PT1H.json")):
        own = parse_bench.GENERATORS[fmt](1000, rng)[0].decode().splitlines()
        other = (ROOT / "tests" / "data" / foreign).read_text().splitlines()
        for k, line in enumerate(other):
            own.insert(rng.randrange(len(own)) if k % 3 else 7 * k, line)
        found[f"{fmt} with {foreign}"] = ("\n".join(own) + "\n").encode()
    # Past the first read (64 KiB), where the format is known and the fast path reads.
    own = parse_bench.json_events(1000, rng)[0].decode().splitlines()
    for k, line in enumerate(CLAIMED_ELSEWHERE.values()):
        own[500 + 60 * k:500 + 60 * k] = [line] * (1 + k % 3)
    found["json with lines claimed elsewhere"] = ("\n".join(own) + "\n").encode()
    return found


FILES = _files()


def _lines(data: bytes) -> list[str]:
    return [text for text, *_ in read_lines(io.BytesIO(data)) if text]


ALL_LINES = {name: _lines(data) for name, data in FILES.items()}


def test_the_fixtures_are_all_there() -> None:
    """A differential test over nothing would pass: the fixture tree and the bench lines
    are read (the shared data set only where it is beside the checkout)."""
    assert sum(name.startswith("tests/") for name in FILES) >= 100
    assert sum(len(lines) for lines in ALL_LINES.values()) >= 20_000
    if SHARED.is_dir():
        assert any(name.startswith("shared/") for name in FILES)


def test_every_claimed_line_holds_a_needle() -> None:
    """``DETECT_NEEDS`` of each parser: every line of ours it claims holds one of the
    needles for its first character."""
    checked = set()
    for module in available_parsers():
        needs = getattr(module, "DETECT_NEEDS", None)
        if needs is None:
            continue
        for name, lines in ALL_LINES.items():
            for line in lines:
                needles = needs.get(first_class(line))
                if needles is not None and module.detect(line):
                    checked.add(module.NAME)
                    assert any(n in line for n in needles), (
                        f"{name}: {module.NAME}.detect claims a line holding none of its "
                        f"DETECT_NEEDS {needles}: {line[:200]!r}")
    assert checked == {m.NAME for m in available_parsers() if getattr(m, "DETECT_NEEDS", None)}


@needs_native
@pytest.mark.parametrize("module", VOUCHING, ids=lambda m: m.NAME)
def test_lines_the_native_reader_takes_are_claimed(module: ModuleType) -> None:
    """``claims_taken``: a line the native reader made an event of, and which the parser
    vouches for, is one its ``detect`` claims."""
    checked = 0
    for name, lines in ALL_LINES.items():
        for line, ev in zip(lines, native_events(lines, module.NAME), strict=True):
            if ev and module.claims_taken(line):
                checked += 1
                assert module.detect(line), f"{name}: vouched for, not claimed: {line!r}"
    assert checked >= 2000


@needs_native
@pytest.mark.parametrize("name", sorted(ALL_LINES))
def test_first_claim_as_full_detection(name: str) -> None:
    """Per line, the prefiltered first claim is full detection's, asked of a batch's lines
    at once, of one line of a source or of a record (``parse_record``); asked only of the parsers before the vouching one (where it vouches
    for the line), the verdict "keep or switch" is (the same parser or none: keep)."""
    lines = ALL_LINES[name]
    if not lines:
        pytest.skip("no lines")
    parser = SourceParser("auto", ParseContext(), name)
    candidates = available_parsers()
    claims = parser._first_claims(lines)
    for line in lines:
        full = detect(line, candidates)
        assert claims.get(line) is full, f"{name}: {line[:200]!r}"
        assert parser._detect(line) is full, f"{name}: {line[:200]!r}"
        assert detect_any(line) is full, f"{name}: {line[:200]!r}"
    for module in VOUCHING:
        sure = [line for line in lines if module.claims_taken(line) and module.detect(line)]
        before = parser._first_claims(sure, before=module)
        for line in sure:
            assert (before.get(line) in (None, module)) is (claims.get(line) in (None, module)), (
                f"{name}: {module.NAME}: {line[:200]!r}")


@needs_native
def test_lines_claimed_elsewhere_are_taken_by_the_json_reader() -> None:
    """So that auto mode over them exercises the prefilter where it finds a needle."""
    lines = list(CLAIMED_ELSEWHERE.values())
    assert all(native_events([*lines, "not json"], "json")[:-1])
    assert [detect(line, available_parsers()).NAME for line in lines] == list(CLAIMED_ELSEWHERE)


@needs_native
def test_the_prefilter_is_on() -> None:
    """Else the tests above compare full detection with itself."""
    assert native.needles(('"category"',)).held(['{"category":1}', '{"x":1}']) == [True, False]
    assert native.needles(('"category"',)).holds("\ud800 a lone surrogate: asked of all")


@needs_native
@pytest.mark.parametrize("name", sorted(FILES))
def test_auto_mode_same_events_with_and_without_native(name: str) -> None:
    assert_same(FILES[name], fmt="auto", source=name)
