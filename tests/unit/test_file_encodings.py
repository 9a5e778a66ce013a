"""Byte-order marks and encodings: a file in another encoding reads as its UTF-8 original.

The fixtures in tests/data/encodings are the UTF-8 fixtures of the platforms re-saved the
way Windows tools save them (tests/data/encodings/SOURCES.md); each must give exactly the
events of its original, at byte offsets of its own file.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest

from collector.config import CollectorSettings
from collector.encoding import codec_name, sniff
from collector.event import DeadLetter, Event
from collector.inputs.base import parse_context
from collector.inputs.file import Config as FileConfig
from collector.inputs.file import FileInput as FileTail
from collector.linesplit import LineSplitter
from collector.metrics import Registry
from collector.parse import ParseStats, parse_stream
from collector.parsers._base import ParseContext
from collector.yamlconf import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"
ENC = DATA / "encodings"
CTX = ParseContext(now_ms=1_709_900_000_000)

# (re-saved file, its original, the mark's length)
VARIANTS = [
    ("eventviewer-export-utf16le.txt", "biztalk/eventviewer-export.txt", 2),
    ("eventviewer-export-utf16be-nobom.txt", "biztalk/eventviewer-export.txt", 0),
    ("mule_ee-bom.log", "mule/mule_ee.log", 3),
    ("app-bom.jsonl", "json/app.jsonl", 3),
    ("app-utf32le.jsonl", "json/app.jsonl", 4),
    ("process_log_download-bom.log", "boomi/process_log_download.log", 3),
]


def summary(items) -> tuple[list[tuple], list[str]]:
    evs = [(e.timestamp_ms, e.dataset, e.level, e.message, e.error_message, tuple(e.ids))
           for e in items if isinstance(e, Event)]
    return evs, [d.reason.split(":")[0] for d in items if isinstance(d, DeadLetter)]


def parsed(path: Path, fmt: str = "auto") -> tuple[list[tuple], list[str]]:
    with path.open("rb") as fh:
        return summary(parse_stream(fh, path.name, fmt, CTX, ParseStats()))


@pytest.mark.parametrize(("variant", "original", "bom"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_parse_reads_a_resaved_file_as_its_original(variant, original, bom):
    want = parsed(DATA / original)
    assert want[0], "the original has events"
    assert parsed(ENC / variant) == want


def tail_all(tmp_path: Path, src: Path, **cfg) -> list:
    logs = tmp_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "a.log").write_bytes(src.read_bytes())
    inp = make_input(tmp_path, **cfg)
    inp.scan()
    items = []
    for _ in range(3):
        for tail in list(inp.tails.values()):
            while (chunk := inp.read(tail)) is not None:
                items.extend(chunk.items)
                if not chunk.items and chunk.records == 0:
                    break
    inp.close()
    return items


def make_input(tmp_path: Path, **overrides) -> FileTail:
    overrides.setdefault("multiline_timeout_ms", 0)
    cfg = FileConfig(name="t", paths=(str(tmp_path / "logs" / "*.log"),), parse_worker=False,
                    **overrides)
    return FileTail(cfg, parse_context(CollectorSettings(), frozenset(), None),
                    str(tmp_path / "ckpt"), Registry())


@pytest.mark.parametrize(("variant", "original", "bom"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_tailing_reads_a_resaved_file_as_its_original(tmp_path, variant, original, bom):
    got = tail_all(tmp_path, ENC / variant)
    evs, dead = summary(got)
    want = parsed(DATA / original)
    # Tailing dates events the same way; the file's own byte offsets name the positions.
    assert [e[3] for e in evs] == [e[3] for e in want[0]]
    assert [e[0] for e in evs] == [e[0] for e in want[0]]
    assert dead == want[1]
    first = next(i for i in got if isinstance(i, Event))
    assert first.id, "positioned"
    splitter = LineSplitter.at("auto", 0, 0, 1 << 20)
    lines = splitter.split((ENC / variant).read_bytes()) + splitter.rest()
    assert lines[0][1] == bom, "the first line starts after the mark"


def test_explicit_codepage_reads_accents(tmp_path):
    src = ENC / "eventviewer-export-cp1252.txt"
    got = tail_all(tmp_path, src, encoding=codec_name("cp1252"))
    text = " ".join(e.message or "" for e in got if isinstance(e, Event))
    assert "Müller" in text and "–" in text and "\ufffd" not in text
    # Read as UTF-8 (auto: no mark) the same bytes are replaced, not lost.
    auto = " ".join(e.message or "" for e in tail_all(tmp_path / "b", src)
                    if isinstance(e, Event))
    assert "M\ufffdller" in auto


def test_utf16_split_anywhere_gives_the_same_lines():
    data = (ENC / "eventviewer-export-utf16le.txt").read_bytes()
    whole = LineSplitter.at("auto", 0, 0, 1 << 20)
    want = whole.split(data) + whole.rest()
    assert want[0][0].startswith("Level\tDate and Time") and want[0][1] == 2
    for size in (1, 3, 7, 64):
        s = LineSplitter.at("auto", 0, 0, 1 << 20)
        got = [line for i in range(0, len(data), size) for line in s.split(data[i:i + size])]
        assert got + s.rest() == want, size


def test_utf16_long_line_is_cut_on_a_character_and_reading_goes_on():
    text = "a\r\n" + "é" * 5000 + "\r\nb\r\n"
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    s = LineSplitter.at("auto", 0, 0, 1001)  # odd: the cut must still fall between units
    got = [line for i in range(0, len(data), 333) for line in s.split(data[i:i + 333])]
    assert [(t[:3], off, n, cut) for t, off, n, cut, _ in got] == [
        ("a", 2, 1, False), ("ééé", 8, 2, True), ("b", 8 + 10004, 3, False)]
    assert got[1][0] == "é" * 500


def test_resume_mid_file_keeps_the_encoding_of_its_start(tmp_path):
    """A restart from a checkpoint past the mark reads the rest in the file's encoding."""
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "a.log"
    lines = [f'{{"timestamp":"2024-05-01T10:00:{n:02d}Z","message":"zeile {n} für"}}\r\n'
             for n in range(6)]
    path.write_bytes(codecs.BOM_UTF16_LE + "".join(lines[:3]).encode("utf-16-le"))
    first = make_input(tmp_path, format="json")
    first.scan()
    chunks = [c for t in list(first.tails.values()) if (c := first.read(t)) is not None]
    for c in chunks:
        c.ack()
    first.close()
    with path.open("ab") as fh:
        fh.write("".join(lines[3:]).encode("utf-16-le"))
    second = make_input(tmp_path, format="json")
    second.scan()
    again = [c for t in list(second.tails.values()) if (c := second.read(t)) is not None]
    second.close()
    msgs = [i.message for c in chunks + again for i in c.items if isinstance(i, Event)]
    assert msgs == [f"zeile {n} für" for n in range(6)]


@pytest.mark.parametrize(("head", "codec", "bom"), [
    (codecs.BOM_UTF8 + b"ab", "utf-8", 3), (codecs.BOM_UTF16_LE + b"a\x00", "utf-16-le", 2),
    (codecs.BOM_UTF16_BE + b"\x00a", "utf-16-be", 2), (codecs.BOM_UTF32_LE, "utf-32-le", 4),
    (codecs.BOM_UTF32_BE, "utf-32-be", 4), (b"a\x00b\x00", "utf-16-le", 0),
    (b"\x00a\x00b", "utf-16-be", 0), (b"abcd", "utf-8", 0), (b"", "utf-8", 0),
])
def test_sniff(head, codec, bom):
    enc = sniff(head)
    assert (enc.codec, enc.bom) == (codec, bom)


def test_explicit_encoding_skips_only_its_own_mark():
    assert sniff(codecs.BOM_UTF8 + b"x", "utf-8").bom == 3
    assert sniff(codecs.BOM_UTF8 + b"x", "iso8859-1").bom == 0  # the mark is text there
    assert sniff(codecs.BOM_UTF16_LE + b"x\x00", "utf-16-le").bom == 2


def test_config_encoding_is_checked(tmp_path):
    from collector.config import load_config

    def cfg(value: str) -> Path:
        p = tmp_path / "m.yaml"
        p.write_text(f"inputs:\n  - type: file\n    paths: [x.log]\n    encoding: {value}\n")
        return p

    assert load_config(cfg("utf-16le")).inputs[0].encoding == "utf-16-le"
    assert load_config(cfg("latin-1")).inputs[0].encoding == "iso8859-1"
    with pytest.raises(ConfigError) as err:
        load_config(cfg("klingon"))
    assert "inputs.0.encoding" in str(err.value) and "utf-16le" in str(err.value)


def test_stdin_style_stream_with_bom():
    data = codecs.BOM_UTF8 + (DATA / "json/app.jsonl").read_bytes()
    got = summary(parse_stream(io.BytesIO(data), "stdin", "json", CTX))
    assert got == parsed(DATA / "json/app.jsonl", "json")
    assert got[1] == []
