"""``midwatch parse``: raw middleware output in, one normalized event per line out.

Events go to stdout as the nested ECS document (``collector.event.to_doc``), dead letters to
stderr as one JSON object each (``reason``, ``source`` = file:line, ``field`` when known).
Dead letters are data, not failures: the exit status is 0 unless the command line was wrong
or a file could not be read (2).
"""

from __future__ import annotations

import argparse
import sys
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector import parsers
from collector.parsers import FORMATS
from collector.parsers.base import ParseContext
from collector.yamlconf import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="parse middleware logs into normalized events (JSON lines)")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                   help="input format; auto detects per file and per line (default: auto)")
    p.add_argument("--mapping", metavar="FILE",
                   help="YAML field mapping for --format json (timestamp, level, ids...)")
    p.add_argument("--tz", default="UTC", metavar="ZONE",
                   help="zone for timestamps that carry none, e.g. Europe/Berlin (default: UTC)")
    p.add_argument("files", nargs="+", metavar="FILE", help="files to read; - reads stdin")
    p.set_defaults(func=run)


class _UsageError(Exception):
    pass


def _context(args: argparse.Namespace) -> ParseContext:
    if args.format != "auto":
        try:
            parsers.get(args.format)
        except ModuleNotFoundError:
            raise _UsageError(f"--format {args.format}: this parser is not installed") from None
    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _UsageError(f"--tz: unknown time zone {args.tz!r} "
                          f"(use an IANA name like Europe/Berlin or UTC)") from None
    mapping: dict[str, str] = {}
    if args.mapping:
        from collector.parsers.json_lines import load_mapping

        try:
            mapping = load_mapping(args.mapping)
        except ConfigError as exc:
            raise _UsageError(f"--mapping: {exc}") from None
    return ParseContext(tz=tz, mapping=mapping, now_ms=int(time.time() * 1000))


def run(args: argparse.Namespace) -> int:
    # Imported here, not at module level: every `midwatch` invocation builds this parser.
    import orjson

    from collector.event import DeadLetter, to_doc
    from collector.parse import parse_stream
    from collector.terminal import safe, safe_json

    dump = orjson.OPT_APPEND_NEWLINE
    try:
        ctx = _context(args)
    except _UsageError as exc:
        print(f"midwatch parse: {exc}", file=sys.stderr)
        return 2
    out, err = sys.stdout.buffer, sys.stderr.buffer
    status = 0
    for name in args.files:
        try:
            stream = sys.stdin.buffer if name == "-" else open(name, "rb")
        except OSError as exc:
            err.write(f"midwatch parse: cannot read {safe(name)}: {exc.strerror}\n".encode())
            status = 2
            continue
        source = "<stdin>" if name == "-" else name
        try:
            for item in parse_stream(stream, source, args.format, ctx):
                if isinstance(item, DeadLetter):
                    err.write(safe_json(orjson.dumps(item.to_doc(), option=dump)))
                else:
                    out.write(safe_json(orjson.dumps(to_doc(item), option=dump)))
        except BrokenPipeError:
            raise  # the reader went away (`| head`): the CLI shell ends quietly
        except OSError as exc:
            err.write(f"midwatch parse: error reading {safe(name)}: "
                      f"{safe(exc.strerror or exc)}\n".encode())
            status = 2
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    out.flush()
    return status
