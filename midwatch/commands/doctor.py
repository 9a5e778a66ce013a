"""``midwatch doctor [-c CONFIG]``: one row per configured backend, exit 1 if any fails."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace


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
    rows = run_checks(cfg) + _definitions(cfg) + _rules(cfg)
    secrets = registered_secrets()
    width = max(len(r.backend) for r in rows)
    for r in rows:
        detail = r.detail
        for s in secrets:
            detail = detail.replace(s, "***")
        status = "FAIL" if not r.ok else "WARN" if r.warn else "OK"
        print(f"{r.backend:<{width}}  {status:<4}  {safe(r.target)}  "
              f"{safe(detail)}")
    return 0 if all(r.ok for r in rows) else 1


def _definitions(cfg):
    """The flow catalog, known issues and SLOs loaded as ``midwatch run`` loads them (SLOs as
    ``slo status`` and the report do): one they refuse (a misspelt terminal kind, a catalog
    file not found, a known issue defined twice, an objective of 199) passed ``doctor`` with
    exit 0 and failed only when the service or report started (new-team walk)."""
    from collector.correlation.catalog import load_catalog
    from collector.knowledge import from_config
    from rules.slo import load_slos

    flows, data = cfg.section("flows"), cfg.doc.data
    rows, mapped = _mappings(cfg)
    if flows.data is not None:
        target = flows.data if isinstance(flows.data, str) else "catalog in the config"

        notes: list[str] = []  # what run warns of at start-up: a WARN row

        def catalog() -> str:
            loaded = load_catalog(flows.data, flows.doc, flows.path, mapped_types=mapped)
            notes.extend(loaded.upgrade_notes())
            return f"{len(loaded.flows)} flows" + "".join(f"; {n}" for n in notes)
        row = _loaded("flows", target, catalog)
        rows.append(replace(row, warn=bool(notes)))
    if data.get("knowledge") is not None:
        paths = (data["knowledge"] or {}).get("paths") if isinstance(data["knowledge"], dict) else None
        rows.append(_loaded("knowledge", ", ".join(map(str, paths or [])) or "knowledge:",
                            lambda: f"{len(from_config(cfg.doc).issues)} known issues"))
    if data.get("slos") is not None:
        # `midwatch run` never loads SLOs; `midwatch report` and `slo status` would fail
        rows.append(_loaded("slos", "slos: (used by report, slo status)",
                            lambda: f"{len(load_slos(cfg.doc))} SLOs"))
    return rows


def _mappings(cfg):
    """Each input's parser mapping read as the input reads it, for the ID types the catalog
    may name: a broken one is a FAIL row of its own, naming the input (it failed the flows
    row, as if the catalog were wrong); the catalog is checked with the types of the rest."""
    from collector.inputs.mapped_ids import mapped_id_types

    rows, types = [], set()
    for inp in cfg.inputs:
        if not getattr(inp, "mapping", None):
            continue

        def read(inp=inp) -> str:
            types.update(mapped_id_types([inp]))
            return "read"
        row = _loaded("mapping", f"input {inp.name}: {inp.mapping}", read)
        if not row.ok:
            rows.append(row)
    return rows, frozenset(types)


def _loaded(backend: str, target: str, load):
    from collector.doctor import Check
    from collector.yamlconf import ConfigError

    try:
        return Check(backend, target, True, load())
    except ConfigError as exc:
        return Check(backend, target, False, str(exc))
    except OSError as exc:
        return Check(backend, target, False, f"{exc.filename}: cannot read ({exc.strerror})")


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
