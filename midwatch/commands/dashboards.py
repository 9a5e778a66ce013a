"""``midwatch dashboards``: build, push, verify and preview the Grafana boards."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

from collector.terminal import safe
from dashboards.settings import (
    DEFAULT_DASHBOARDS_PATH,
    DEFAULT_ES_URL,
    DEFAULT_TRACE_API_URL,
    FLAVORS,
    BoardSettings,
)
from midwatch.commands.options import es_url


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dashboards", help="Grafana boards and datasources as code")
    group = parser.add_subparsers(dest="dashboards_command", metavar="ACTION", required=True)

    build = group.add_parser("build", help="write Grafana's file-provisioning layout to DIR")
    build.add_argument("--out", required=True, type=Path, metavar="DIR")
    build.add_argument("--es-url", default=DEFAULT_ES_URL,
                       help="Elasticsearch URL as Grafana reaches it (default: %(default)s)")
    build.add_argument("--dashboards-path", default=DEFAULT_DASHBOARDS_PATH,
                       help="where Grafana finds DIR/dashboards (default: %(default)s)")
    build.add_argument("-c", "--config", type=Path,
                       help="midwatch config: ui.external_url and ui.tracing "
                            "(default: $MIDWATCH_CONFIG)")
    _flavor(build)
    _common(build)
    build.set_defaults(func=_build)

    push = group.add_parser("push", help="folder, datasources and boards via the Grafana API")
    push.add_argument("--grafana-url", help="e.g. http://127.0.0.1:3000 (or grafana.url)")
    push.add_argument("-c", "--config", type=Path, help="midwatch config with a grafana: section")
    push.add_argument("--es-url", default=DEFAULT_ES_URL,
                      help="Elasticsearch URL as Grafana reaches it (default: %(default)s)")
    push.add_argument("--message", default="midwatch dashboards push",
                      help="version message of changed boards")
    _flavor(push)
    _common(push)
    push.set_defaults(func=_push)

    verify = group.add_parser("verify", help="replay every panel's query against Elasticsearch or OpenSearch")
    _replay_args(verify)
    verify.set_defaults(func=_verify)

    preview = group.add_parser("preview", help="render each board to a PNG from replayed data")
    _replay_args(preview)
    preview.add_argument("--out", required=True, type=Path, metavar="DIR")
    preview.set_defaults(func=_preview)


def _flavor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flavor", choices=FLAVORS, default="elasticsearch",
                   help="datasource: Grafana's Elasticsearch one, or the grafana-opensearch-"
                        "datasource plugin for OpenSearch (default: %(default)s)")
    p.add_argument("--engine-version", type=_engine_version, metavar="X.Y.Z",
                   help="the OpenSearch version the plugin is told, e.g. 3.3.2 (--flavor "
                        "opensearch; default: 2.19.4, the lowest tested)")


def _engine_version(text: str) -> str:
    """``X.Y.Z`` only: the plugin keeps ``jsonData.version`` only where semver's ``valid``
    takes it (``3.3`` is not valid there, and the plugin would drop it without a word)."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a version: give the OpenSearch version as X.Y.Z, e.g. 3.3.2 "
            "(GET / on the cluster names it in version.number)")
    return text


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-prefix",
                   help="default: the store's index_prefix in -c FILE or $MIDWATCH_CONFIG, "
                        "else midwatch")
    p.add_argument("--trace-api-url", default=DEFAULT_TRACE_API_URL,
                   help="trace API base URL for data links (default: %(default)s)")
    p.add_argument("--explorer-url", metavar="URL",
                   help="trace explorer base URL for the trace key links (default: ui.external_url "
                        "of -c FILE or $MIDWATCH_CONFIG, else the trace API URL)")


def _replay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--es", required=True, metavar="URL", type=es_url, help="Elasticsearch to query")
    p.add_argument("--index-prefix", default="midwatch", help="default: %(default)s")
    p.add_argument("--since", default="24h", help="range ending now (default: %(default)s)")
    p.add_argument("--from", dest="start", help="range start: ISO-8601 or epoch ms")
    p.add_argument("--to", dest="end", help="range end: ISO-8601 or epoch ms (default: now)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=V1,V2",
                   help="choose variable values instead of All (repeatable)")


def _settings(args: argparse.Namespace) -> BoardSettings:
    trace_api_url = getattr(args, "trace_api_url", DEFAULT_TRACE_API_URL)
    explorer, tracing, configured_prefix = _configured(args)
    flavor = getattr(args, "flavor", "elasticsearch")
    version = getattr(args, "engine_version", None)
    if version and flavor != "opensearch":
        # Grafana's Elasticsearch datasource asks the cluster itself; a version given for
        # it would be silently dropped.
        raise ValueError(f"--engine-version {version} is for --flavor opensearch only")
    return BoardSettings(
        index_prefix=args.index_prefix or configured_prefix or "midwatch",
        es_url=getattr(args, "es_url", DEFAULT_ES_URL),
        trace_api_url=trace_api_url,
        dashboards_path=getattr(args, "dashboards_path", DEFAULT_DASHBOARDS_PATH),
        explorer_url=getattr(args, "explorer_url", None) or explorer or trace_api_url,
        flavor=flavor,
        engine_version=version,
        tracing=tracing,
    )


def _configured(args: argparse.Namespace):
    """``ui.external_url``, ``ui.tracing`` and the store's index prefix from ``-c FILE`` or
    ``$MIDWATCH_CONFIG``."""
    import os

    from collector.config import CONFIG_ENV
    from collector.store import configured_index_prefix
    from collector.yamlconf import ConfigError, load
    from dashboards.settings import explorer_url_from, tracing_source_from

    path = getattr(args, "config", None) or os.environ.get(CONFIG_ENV)
    if not path:
        return None, None, None
    try:
        doc = load(path)
        return explorer_url_from(doc), tracing_source_from(doc), configured_index_prefix(doc)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _fail(message: str) -> int:
    print(f"midwatch dashboards: {message}", file=sys.stderr)
    return 2


def _build(args: argparse.Namespace) -> int:
    from dashboards.provision import render, write

    try:
        files = render(_settings(args))
    except ValueError as exc:
        return _fail(str(exc))
    for path in write(args.out, files):
        print(path)
    return 0


def _push(args: argparse.Namespace) -> int:
    from collector.yamlconf import ConfigError, load
    from dashboards.push import PushError, connect, push, target_from_config

    try:
        doc = load(args.config) if args.config else None
        api = connect(target_from_config(doc, args.grafana_url))
        report = push(api, _settings(args), args.message)
    except (ConfigError, PushError, ValueError) as exc:
        return _fail(str(exc))
    for word, items in (("created", report.created), ("updated", report.updated),
                        ("unchanged", report.unchanged)):
        for item in items:
            print(f"{word} {item}")
    return 0


def _time_ms(text: str, flag: str) -> int:
    from collector.event import iso_to_ms

    if text.isdigit():
        return int(text)
    try:
        return iso_to_ms(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected ISO-8601 (2025-06-01T10:00:00Z) "
                         "or epoch milliseconds") from None


def _range(args: argparse.Namespace):
    from collector.yamlconf import parse_duration_ms
    from dashboards.replay import TimeRange

    end = _time_ms(args.end, "--to") if args.end else time.time_ns() // 1_000_000
    if args.start:
        start = _time_ms(args.start, "--from")
    else:
        start = end - parse_duration_ms(args.since)
    if start >= end:
        raise ValueError(f"the range is empty: --from {start} is not before --to {end}")
    return TimeRange(start, end)


def _chosen(pairs: list[str]) -> dict[str, list[str]]:
    chosen = {}
    for pair in pairs:
        name, sep, values = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--var {pair!r}: expected NAME=VALUE[,VALUE...]")
        chosen[name] = [v for v in values.split(",") if v]
    return chosen


def _replayed(args: argparse.Namespace):
    from elastic_transport import TransportError

    from collector.store.base import StoreError
    from collector.store.elasticsearch import unreachable
    from collector.store.engines import engine_of_client
    from dashboards.verify import open_client, replay_boards

    client = open_client(args.es)
    try:
        # The boards as built for the engine that answers (OpenSearch: the plugin's flavor).
        settings = dataclasses.replace(_settings(args), flavor=engine_of_client(client).product)
        return replay_boards(client, settings, _range(args), _chosen(args.var))
    except TransportError as exc:
        raise ValueError(unreachable(exc, "Elasticsearch or OpenSearch", args.es, "--es",
                                     None)) from None
    except StoreError as exc:
        raise ValueError(f"cannot query Elasticsearch at {args.es}: {exc}") from None
    finally:
        client.close()


def _verify(args: argparse.Namespace) -> int:
    from dashboards.verify import report_lines

    try:
        results = _replayed(args)
    except ValueError as exc:
        return _fail(str(exc))
    for line in report_lines(results):
        print(safe(line))
    failed = [r for rs in results.values() for r in rs if r.status == "ERROR"]
    for r in failed:
        print(safe(f"{r.board}/{r.title}: {r.error}"), file=sys.stderr)
    return 1 if failed else 0


def _preview(args: argparse.Namespace) -> int:
    from dashboards.preview import render_board

    try:
        results = _replayed(args)
    except ValueError as exc:
        return _fail(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    for slug, panel_results in results.items():
        path = args.out / f"board-{slug}.png"
        render_board(slug, panel_results, path)
        print(path)
    return 0
