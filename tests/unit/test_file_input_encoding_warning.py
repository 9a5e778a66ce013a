"""A file input warns, once per file and naming its line, when bytes are not valid in the
file's encoding (they are read as U+FFFD).

Found on a first-day walk-through: a Latin-1 Mule log read as UTF-8 was stored as
"Soci\\ufffdt\\ufffd G\\ufffdn\\ufffdrale" without a word in the log, the metrics or doctor."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from collector.config import CollectorSettings
from collector.inputs.base import parse_context
from collector.inputs.file import Config, FileInput
from collector.metrics import Registry

LINE = "INFO  2026-12-07 18:58:49,459 [[MuleRuntime].uber.03: [order-sync-v2].order-sync.CPU_LITE] " \
       "org.mule.runtime.core.internal.processor.LoggerMessageProcessor: {}\n"


def _read_all(tmp_path: Path, caplog, data: bytes, **options) -> list[logging.LogRecord]:
    (tmp_path / "logs").mkdir(exist_ok=True)
    path = tmp_path / "logs" / "app.log"
    path.write_bytes(data)
    options.setdefault("parse_worker", False)
    cfg = Config(name="mule", paths=(str(path),), read_chunk_bytes=4096, **options)
    inp = FileInput(cfg, parse_context(CollectorSettings(), frozenset(), None),
                    str(tmp_path / "ckpt"), Registry())
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="midwatch.inputs.file"):
        inp.scan()
        for tail in list(inp.tails.values()):
            while inp.read(tail) is not None:
                pass
    inp.close()
    return [r for r in caplog.records if "not valid" in r.getMessage()]


def test_latin1_bytes_in_a_utf8_read_file_are_warned_once_with_their_line(tmp_path, caplog):
    data = (LINE.format("ok 1").encode() + LINE.format("ok 2").encode()
            + LINE.format("pour Société Générale").encode("latin-1")
            + LINE.format("encore Société").encode("latin-1"))
    (warned,) = _read_all(tmp_path, caplog, data)
    assert warned.path.endswith("app.log") and warned.line == 3 and warned.encoding == "utf-8"
    assert "latin-1" in warned.hint


@pytest.mark.parametrize("worker", [False, True])
def test_the_line_is_counted_across_reads_in_either_process(tmp_path, caplog, worker):
    lines = [LINE.format(f"ok {i}").encode() for i in range(150)]
    lines[137] = LINE.format("pour Société Générale").encode("cp1252")
    (warned,) = _read_all(tmp_path, caplog, b"".join(lines), parse_worker=worker)
    assert warned.line == 138


def test_valid_text_is_not_warned_even_cut_mid_character(tmp_path, caplog):
    # 4096-byte reads cut some of these two-byte characters in half.
    data = b"".join(LINE.format(f"Société {i} " + "é" * (i % 7)).encode() for i in range(200))
    assert _read_all(tmp_path, caplog, data) == []
    latin = LINE.format("pour Société Générale").encode("latin-1")
    assert _read_all(tmp_path, caplog, latin, encoding="latin-1") == []


# Review M: the check sniffed the encoding from the file's first bytes when the input opened
# (or re-read from the start) a file; a file empty then (logrotate ``create``, a fresh
# appender, a copytruncate seen at 0 bytes) was assumed UTF-8, and a UTF-16 file written
# afterwards got a false warning whose hint (latin-1) dead-letters every line.

UTF16 = "\ufeff".encode("utf-16-le")


def _utf16(first: int, count: int) -> bytes:
    return "".join(LINE.format(f"Société Générale {i}") for i in range(first, first + count)
                   ).encode("utf-16-le")


def _tailing(tmp_path: Path, data: bytes) -> tuple[FileInput, Path]:
    (tmp_path / "logs").mkdir(exist_ok=True)
    path = tmp_path / "logs" / "app.log"
    path.write_bytes(data)
    cfg = Config(name="win", paths=(str(path),), read_chunk_bytes=4096, parse_worker=False)
    inp = FileInput(cfg, parse_context(CollectorSettings(), frozenset(), None),
                    str(tmp_path / "ckpt"), Registry())
    inp.scan()
    return inp, path


def _drain(inp: FileInput) -> None:
    for tail in list(inp.tails.values()):
        while inp.read(tail) is not None:
            pass


def _warned(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "not valid" in r.getMessage()]


@pytest.mark.parametrize("first", [b"", UTF16[:1], UTF16])  # what the writer had written
def test_a_utf16_file_empty_or_short_when_opened_is_not_warned(tmp_path, caplog, first):
    with caplog.at_level(logging.WARNING, logger="midwatch.inputs.file"):
        inp, path = _tailing(tmp_path, first)
        _drain(inp)
        with open(path, "ab") as fh:
            fh.write((UTF16 + _utf16(0, 3))[len(first):])
        _drain(inp)
    inp.close()
    assert not _warned(caplog)


def test_a_utf16_file_rewritten_after_copytruncate_is_not_warned(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="midwatch.inputs.file"):
        inp, path = _tailing(tmp_path, UTF16 + _utf16(0, 3))
        _drain(inp)
        os.truncate(path, 0)  # no copy kept; the input sees the file empty
        _drain(inp)
        with open(path, "ab") as fh:
            fh.write(UTF16 + _utf16(3, 3))
        _drain(inp)
    inp.close()
    assert not _warned(caplog)


def test_a_latin1_file_empty_when_opened_is_still_warned_with_its_line(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="midwatch.inputs.file"):
        inp, path = _tailing(tmp_path, b"")
        _drain(inp)
        with open(path, "ab") as fh:
            fh.write(b"ab")  # shorter than a mark: held until the encoding is known
        _drain(inp)
        with open(path, "ab") as fh:
            fh.write(LINE.format("ok").encode() + LINE.format("Société").encode("latin-1"))
        _drain(inp)
    inp.close()
    (warned,) = _warned(caplog)
    assert warned.line == 2 and warned.encoding == "utf-8"
