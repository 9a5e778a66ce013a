"""``midwatch probes list|run``: the configured probes, and running them by hand.

``run --once`` runs every probe once, stores the results (unless ``--no-store``) and prints a
table; exit 1 when any reading is a failure (endpoint down, certificate not trusted, probe
failed), so it also serves as a cron check. Without ``--once`` it runs the probes on their
intervals until stopped, as ``midwatch run`` does alongside the pipeline.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probes", help="queue, consumer-lag, certificate and endpoint probes")
    cmds = p.add_subparsers(dest="probes_command", metavar="COMMAND", required=True)
    ls = cmds.add_parser("list", help="the configured probes and their intervals")
    ls.add_argument("-c", "--config", metavar="FILE", help="config file (default: $MIDWATCH_CONFIG)")
    ls.set_defaults(func=list_probes)
    r = cmds.add_parser("run", help="run the probes (once, or on their intervals)")
    r.add_argument("-c", "--config", metavar="FILE", help="config file (default: $MIDWATCH_CONFIG)")
    r.add_argument("--once", action="store_true", help="run every probe once and print a table")
    r.add_argument("--no-store", action="store_true", help="with --once: print, do not store")
    r.add_argument("--probe", action="append", metavar="NAME", help="only this probe (repeatable)")
    r.set_defaults(func=run)


def _load(args: argparse.Namespace):
    from collector.config import load_config
    from collector.probes.config import load_probes

    config = load_config(args.config)
    specs = load_probes(config)
    wanted = set(getattr(args, "probe", None) or ())
    unknown = wanted - {s.name for s in specs}
    if unknown:
        raise ValueError(f"no probe named {', '.join(sorted(unknown))} in {config.file}")
    return config, [s for s in specs if not wanted or s.name in wanted]


def list_probes(args: argparse.Namespace) -> int:
    from collector.yamlconf import ConfigError

    try:
        _, specs = _load(args)
    except (ConfigError, ValueError) as exc:
        print(f"midwatch probes: {exc}", file=sys.stderr)
        return 2
    rows = [(s.name, s.kind, f"{s.interval_ms / 1000:g}s", f"{s.timeout_ms / 1000:g}s",
             s.module.Probe(s.settings).target) for s in specs]
    _table(("PROBE", "KIND", "INTERVAL", "TIMEOUT", "TARGET"), rows)
    return 0


def run(args: argparse.Namespace) -> int:
    from collector.yamlconf import ConfigError

    try:
        config, specs = _load(args)
        store = None if args.once and args.no_store else config.open_store()
    except (ConfigError, ValueError) as exc:
        print(f"midwatch probes: {exc}", file=sys.stderr)
        return 2
    if not specs:
        print(f"midwatch probes: {config.file} configures no probes (probes:)", file=sys.stderr)
        return 2
    try:
        if store is not None:
            store.setup()
        return _once(specs, store) if args.once else _forever(specs, store)
    finally:
        if store is not None:
            store.close()


def _once(specs, store) -> int:
    from collector.probes.runner import run_once
    from collector.store.base import StoreError

    events = run_once(specs)
    rows = []
    for e in events:
        labels = {k: v for k, v in e.labels.items() if not k.startswith("probe.")}
        detail = " ".join(f"{k}={v}" for k, v in labels.items())
        rows.append((e.service or "", e.labels.get("probe.metric", ""),
                     "" if e.probe_value is None else str(e.probe_value),
                     "ok" if e.outcome == "success" else "FAIL",
                     detail + (f"  ({e.error_message})" if e.error_message else "")))
    _table(("PROBE", "METRIC", "VALUE", "STATUS", "LABELS"), rows)
    if store is not None:
        try:
            store.write_events(events)
        except StoreError as exc:
            print(f"midwatch probes: results not stored: {exc}", file=sys.stderr)
            return 1
    return 0 if all(e.outcome == "success" for e in events) else 1


def _forever(specs, store) -> int:
    import signal
    import threading

    from collector.logsetup import setup_logging
    from collector.probes.runner import ProbeRunner

    setup_logging("info")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    runner = ProbeRunner(specs, store)
    runner.start()
    done.wait()
    runner.stop()
    return 0


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from collector.terminal import safe

    rows = [tuple(safe(c) for c in row) for row in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
