"""``midwatch doctor [-c CONFIG]``: one row per configured backend, exit 1 if any fails."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check every backend the config names")
    p.add_argument("-c", "--config", help="config file (default: $MIDWATCH_CONFIG)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from collector.config import load_config
    from collector.doctor import run_checks
    from collector.terminal import safe
    from collector.yamlconf import ConfigError, registered_secrets

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"midwatch doctor: {exc}", file=sys.stderr)
        return 2
    rows = run_checks(cfg) + _flows(cfg) + _rules(cfg)
    secrets = registered_secrets()
    width = max(len(r.backend) for r in rows)
    for r in rows:
        detail = r.detail
        for s in secrets:
            detail = detail.replace(s, "***")
        print(f"{r.backend:<{width}}  {'OK' if r.ok else 'FAIL':<4}  {safe(r.target)}  "
              f"{safe(detail)}")
    return 0 if all(r.ok for r in rows) else 1


def _flows(cfg):
    """The flow catalog loaded as ``midwatch run`` loads it: a catalog ``run`` refuses (a
    misspelt terminal kind, a catalog file not found) passed ``doctor`` (new-team walk)."""
    from collector.correlation.catalog import load_catalog
    from collector.doctor import Check
    from collector.yamlconf import ConfigError

    flows = cfg.section("flows")
    if flows.data is None:
        return []
    target = flows.data if isinstance(flows.data, str) else "catalog in the config"
    try:
        catalog = load_catalog(flows.data, flows.doc, flows.path)
    except ConfigError as exc:
        return [Check("flows", target, False, str(exc))]
    except OSError as exc:
        return [Check("flows", target, False, f"{flows.data}: cannot read ({exc.strerror})")]
    notes = "".join(f"; {note}" for note in catalog.upgrade_notes())
    return [Check("flows", target, True, f"{len(catalog.flows)} flows{notes}")]


def _rules(cfg):
    """Rules and notifiers loaded exactly as ``midwatch run`` loads them (secrets resolved,
    nothing sent): a config ``run`` would refuse never passes ``doctor``."""
    from collector.doctor import Check
    from rules.config import load_rules_config

    if not any(k in cfg.doc.data for k in ("rules", "notifiers", "alertmanager")):
        return []
    loaded = load_rules_config(cfg.doc, sending=True)
    target = f"{len(loaded.rules)} rules, {len(loaded.notifiers)} notifiers"
    if loaded.errors:
        more = f" (+{len(loaded.errors) - 1} more)" if len(loaded.errors) > 1 else ""
        return [Check("rules", target, False, f"{loaded.errors[0]}{more}")]
    return [Check("rules", target, True, "loaded as midwatch run loads them")]
