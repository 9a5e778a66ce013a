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

from collector.format_names import unknown_format
from collector.parsers import PARSERS
from collector.parsers._base import ParseContext
from collector.yamlconf import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="parse middleware logs into normalized events (JSON lines)")
    # No argparse choices: its error prints the whole list and no hint (see _context).
    p.add_argument("--format", default="auto", metavar="FORMAT",
                   help="input format: auto (the default) detects per file and per line; "
                        "or one of " + ", ".join(PARSERS.paths()) + " (docs/formats.md)")
    p.add_argument("--mapping", metavar="FILE",
                   help="YAML field mapping for --format json (timestamp, level, ids...)")
    p.add_argument("--log-format", metavar="STRING",
                   help="the access log's own layout (NGINX log_format or Apache LogFormat "
                        "with --format apigw, HAProxy log-format with --format haproxy, Envoy "
                        "format string with --format envoy)")
    p.add_argument("--date-order", default="auto", choices=["auto", "ymd", "dmy", "mdy"],
                   help="order of a slashed date starting a text line (default: auto, each "
                        "layout's own: Spark's yy/MM/dd, WebSphere's M/d/yy)")
    p.add_argument("--tz", metavar="ZONE",
                   help="zone for timestamps that carry none, e.g. Europe/Berlin (default: the "
                        "config's collector.default_timezone, else UTC)")
    p.add_argument("--own-id", dest="own_ids", action="append", default=[], metavar="ID",
                   help="one of our own EDI interchange IDs (ISA06/ISA08, UNB sender or "
                        "recipient), as edi.own_ids: what we sent is read as sent, the other "
                        "party as the partner; repeatable")
    p.add_argument("-c", "--config", metavar="FILE",
                   help="read edi.own_ids, collector.default_timezone and collector.redaction "
                        "(with its key, so tokens match the store's) from this config, as "
                        "`midwatch run` does")
    p.add_argument("files", nargs="+", metavar="FILE", help="files to read; - reads stdin")
    p.set_defaults(func=run)


class _UsageError(Exception):
    pass


def _context(args: argparse.Namespace) -> ParseContext:
    known = ("auto", *PARSERS.paths())
    if args.format not in known:
        message, hint = unknown_format(args.format, known)
        raise _UsageError(f"--format: {message} ({hint})")
    if args.format != "auto":
        try:
            PARSERS.get(args.format)
        except ModuleNotFoundError:
            raise _UsageError(f"--format {args.format}: this parser is not installed") from None
    base = _from_config(args.config) if args.config else ParseContext()
    zone = args.tz or (str(base.tz) if args.config else "UTC")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _UsageError(f"--tz: unknown time zone {zone!r} "
                          f"(use an IANA name like Europe/Berlin or UTC)") from None
    mapping: dict[str, str] = {}
    if args.mapping:
        from collector.parsers.json_lines import load_mapping

        try:
            mapping = load_mapping(args.mapping)
        except ConfigError as exc:
            raise _UsageError(f"--mapping: {exc}") from None
    if args.log_format:
        from collector.parsers import logformat

        try:
            logformat.compile_format(args.log_format,
                                     logformat.dialect_for(args.format, args.log_format))
        except logformat.LogFormatError as exc:
            raise _UsageError(f"--log-format: {exc}") from None
    base.tz, base.mapping, base.now_ms = tz, mapping, int(time.time() * 1000)
    base.log_format, base.date_order = args.log_format, args.date_order
    base.edi_own_ids = base.edi_own_ids | frozenset(i.strip() for i in args.own_ids if i.strip())
    return base


def _from_config(path: str) -> ParseContext:
    """The context ``midwatch run`` gives its inputs, from the config's own settings."""
    from collector.config import load_config
    from collector.inputs.base import parse_context
    from collector.redaction_key import load_key

    try:
        config = load_config(path)
        return parse_context(config.collector, config.edi_own_ids, None,
                             load_key(config.collector, config.file))
    except ConfigError as exc:
        raise _UsageError(f"-c: {exc}") from None


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
                    out.write(safe_json(orjson.dumps(to_doc(item, original=False), option=dump)))
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
