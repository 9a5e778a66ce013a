"""``midwatch demo``: generate a synthetic order-to-cash + EDI landscape with its broker logs,
collect it, evaluate the rule packs along its timeline and report.

Deterministic by ``--seed`` (timestamps are relative to now). Writes log files, a flow catalog
and ``midwatch.yaml`` to ``--workdir`` (default: a new temporary directory), so the printed
follow-up commands (``midwatch trace ... -c``) work on the result; with ``--es`` every panel of
the Grafana boards has data (``midwatch dashboards verify``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from midwatch.commands.options import es_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="collect a synthetic integration landscape and report on it")
    p.add_argument("--seed", type=int, default=7, help="scenario seed (default 7)")
    p.add_argument("--messages", type=int, default=300, metavar="N",
                   help="orders in the order-to-cash flow (default 300)")
    p.add_argument("--workdir", metavar="DIR", help="where to write files (default: a new temp dir)")
    p.add_argument("--es", metavar="URL", type=es_url, help="store in Elasticsearch or OpenSearch at URL instead of SQLite")
    p.add_argument("--index-prefix", default="midwatch-demo", metavar="P",
                   help="index prefix with --es, its indices replaced on every run (default "
                        "midwatch-demo; never a deployment's)")
    p.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    from collector.store.base import StoreError
    from collector.tracequery import render_trace
    from collector.yamlconf import ConfigError
    from midwatch.demo.alerts import QUIET_STEP_MS, STEP_MS
    from midwatch.demo.run import run_demo

    if args.messages < 1:
        print("midwatch demo: --messages must be at least 1", file=sys.stderr)
        return 2
    from collector.store.es_mappings import DEFAULT_PREFIX as DEFAULT_INDEX_PREFIX

    if args.es and args.index_prefix == DEFAULT_INDEX_PREFIX:
        print(f"midwatch demo: --index-prefix {DEFAULT_INDEX_PREFIX} is where `midwatch run` "
              "stores by default, and the demo replaces its prefix's indices: keep the "
              "default midwatch-demo or pick another", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="midwatch-demo-"))
    print(f"workdir: {workdir}")
    try:
        r = run_demo(workdir, seed=args.seed, messages=args.messages, es=args.es,
                     index_prefix=args.index_prefix)
    except (ConfigError, StoreError) as exc:
        print(f"midwatch demo: {exc}", file=sys.stderr)
        return 2
    cfg = shlex.quote(str(r.config))  # printed as commands to paste into a shell
    if r.replaced:
        print(f"replaced the previous demo's {r.replaced} indices under {args.index_prefix}-")
    dead = f"{r.dead_letters} dead letter{'' if r.dead_letters == 1 else 's'}"
    print(f"collected {r.events} events ({dead}) in {r.seconds:.1f}s; config: {cfg}")
    print(f"{r.broker_lines} Kafka and RabbitMQ broker log lines; {r.probe_readings} probe "
          f"readings (consumer lag, queues, certificates)")
    print(_rejections(r.rejected))
    if r.spans_error:
        print(f"OTLP spans skipped: {r.spans_error}")
    else:
        print(f"{r.spans} web-shop spans sent via OTLP/HTTP (opentelemetry-sdk) to an "
              f"in-process receiver")
    print()
    print("\n".join(r.summary))
    for title, t in (("failed", r.failed), ("stuck", r.stuck)):
        if t is not None:
            print(f"\n--- a {title} message: midwatch trace {shlex.quote(t.trace_key)} -c {cfg}")
            print(render_trace(t))
    h = r.history
    if h is not None:
        print(f"\nalert history (rule packs evaluated every {STEP_MS // 60_000} min of the "
              f"order traffic, {QUIET_STEP_MS // 60_000} min before it: {h.evaluations} times):\n  {h.fired} alerts fired, {h.resolved} "
              f"resolved, {h.pages.count} notifications recorded as would_page (no notifier "
              "configured)")
    print("alerts at now (rule packs):")
    if r.alerts_error:
        print(f"  rules not evaluated: {r.alerts_error}")
    for line in r.alerts or ["  none firing"]:
        print(f"  {line}")
    if r.report_error:
        print(f"\nhealth report not written: {r.report_error}")
    else:
        print(f"\nhealth report: {' and '.join(shlex.quote(str(p)) for p in r.reports)}")
    print("\nnext:")
    if r.failed is not None:
        print(f"  midwatch trace {shlex.quote(r.failed.trace_key)} -c {cfg}     # one message, "
              "hop by hop")
    print(f"  midwatch traces --status stuck -c {cfg}")
    print(f"  midwatch traces --status failed -c {cfg}")
    if r.rejected:
        print(f"  midwatch traces --status rejected -c {cfg}     # the 850s GLOBEX rejected")
    if r.dead_letters:
        print(f"  midwatch deadletters -c {cfg}     # the records midwatch could not read, and why")
    print(f"  midwatch rules eval -c {cfg} --at now")
    if args.es:
        boards = f"--es {args.es} --index-prefix {args.index_prefix} --since 12h"
        print(f"  midwatch dashboards verify {boards}     # what each Grafana panel shows")
        print(f"  midwatch dashboards preview {boards} --out {workdir / 'boards'}")
    else:
        print("  midwatch demo --es http://127.0.0.1:9200     # the same into Elasticsearch, "
              "for the Grafana boards")
    return 0


def _rejections(rejected: list[tuple[int, str]]) -> str:
    """'5 EDI rejections in GLOBEX's 997s: GS06 1002 ST02 0002; GS06 1004 ST02 0001, 0002 and
    the whole group'."""
    if not rejected:
        return "no EDI rejections"
    by_group: dict[int, list[str]] = {}
    for gs, st in rejected:
        by_group.setdefault(gs, []).append(st)
    parts = []
    for gs, sts in by_group.items():
        sets = ", ".join(st for st in sts if st)
        group = " and the whole group" if "" in sts else ""
        parts.append(f"GS06 {gs} ST02 {sets}{group}" if sets else f"GS06 {gs} group")
    return f"{len(rejected)} EDI rejections in GLOBEX's 997s: {'; '.join(parts)}"
