"""``midwatch run`` (the pipeline service with its API) and ``midwatch serve`` (the API alone).

Exit status: 0 after a clean stop (SIGTERM/SIGINT, or every finite input ended; without
inputs only a signal stops it), 1 when a batch could not be stored before shutdown or an input
failed, 2 for a config error, a checkpoint directory in use or unusable, a store that cannot
be set up, or a listen address that cannot be taken (one line naming the setting and the port).
"""

from __future__ import annotations

import argparse
import sys
import threading

from collector.config_values import parse_listen
from collector.yamlconf import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the collector: inputs -> parse -> correlate -> store")
    p.add_argument("-c", "--config", metavar="FILE",
                   help="config file (default: $MIDWATCH_CONFIG)")
    p.add_argument("--no-api", action="store_true", help="do not start the HTTP API")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)

    s = sub.add_parser("serve", help="serve the HTTP trace API only")
    s.add_argument("-c", "--config", metavar="FILE",
                   help="config file (default: $MIDWATCH_CONFIG)")
    s.add_argument("--listen", metavar="HOST:PORT", help="override api.listen")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=serve)


def _config(args: argparse.Namespace):
    from collector.config import load_config
    from collector.logsetup import setup_logging

    setup_logging(args.log_level)
    return load_config(args.config)


def _load(args: argparse.Namespace):
    """(config, store, store ready) for ``serve``: a store that cannot be set up is an error."""
    config = _config(args)
    return (config, *_open_store(config))


def _open_store(config, *, outage_ok: bool = False):
    """(store, store ready). With ``outage_ok`` a store that does not answer yet is not an
    error: ``run`` spools until it does (a collector restarted during an outage must keep
    taking input)."""
    import logging

    from collector.store.base import StoreError, StoreUnavailable

    store = config.open_store()
    try:
        store.setup()
    except StoreUnavailable as exc:
        if not outage_ok:
            store.close()
            raise ConfigError(config.file, None, "store", f"store not usable: {exc}") from None
        logging.getLogger("midwatch.run").warning(
            "store unavailable at start; spooling until it answers", extra={"error": str(exc)})
        return store, False
    except StoreError as exc:
        store.close()
        raise ConfigError(config.file, None, "store", f"store not usable: {exc}") from None
    return store, True


def rule_workers(config, store) -> list:
    """The hook for packages above ``collector``: the rule scheduler, once ``rules`` has one."""
    try:
        from rules.scheduler import scheduler_worker
    except ModuleNotFoundError as exc:
        if exc.name not in ("rules.scheduler",):
            raise
        return []
    return [scheduler_worker(config, store)]


def probe_workers(config, store) -> list:
    """The probe scheduler when ``probes:`` configures any (validated here: file:line errors).
    Its runner (and the probe kinds' clients) is imported only then: ~0.01 s of CPU at every
    start otherwise."""
    from collector.probes.config import load_probes

    specs = load_probes(config)
    if not specs:
        return []
    from collector.probes.runner import ProbeRunner

    return [ProbeRunner(specs, store)]


def run(args: argparse.Namespace) -> int:
    import os

    from collector.exporters.config import with_exporters
    from collector.service.dirlock import DirInUse, lock_dir
    from collector.service.service import Service, build_correlator

    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"midwatch run: {exc}", file=sys.stderr)
        return 2
    # The lock comes before the store is touched: a second run is refused at once, without
    # writing templates or mappings to a live cluster or sitting through a dead one's retries.
    try:
        lock = lock_dir(config.collector.checkpoint_dir)  # held until run returns
    except DirInUse as exc:
        print(f"midwatch run: {config.file}: collector.checkpoint_dir: {exc}; stop it, or give "
              f"each process its own collector.checkpoint_dir and collector.spool.dir",
              file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"midwatch run: {config.file}: collector.checkpoint_dir: cannot lock "
              f"{config.collector.checkpoint_dir}: {exc.strerror or exc}; give a directory "
              f"this user may create and write", file=sys.stderr)
        return 2
    try:
        store, ready = _open_store(config, outage_ok=True)
    except ConfigError as exc:
        os.close(lock)
        print(f"midwatch run: {exc}", file=sys.stderr)
        return 2
    try:
        traced, exporters = with_exporters(config, store)  # journeys also go to exporters:
        service = Service(config, traced, with_api=not args.no_api,
                          workers=rule_workers(config, store) + probe_workers(config, store)
                          + exporters,
                          correlator=build_correlator(config, traced), store_ready=ready)
        for worker in service.workers:  # workers that report their own series in /metrics
            if hasattr(worker, "expose_metrics"):
                worker.expose_metrics(service.metrics)
            if hasattr(worker, "expose_api") and service.api is not None:
                worker.expose_api(service.api)  # the rules' /api/rules/{name}/explain
        if not service.inputs:  # rules always run, so there is something to do
            what = "the API, rules and probes" if service.api else "rules and probes"
            print(f"midwatch run: {config.file} configures no inputs; running {what} until "
                  f"stopped", file=sys.stderr)
        return service.run()
    except ConfigError as exc:
        print(f"midwatch run: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
        os.close(lock)


def serve(args: argparse.Namespace) -> int:
    import dataclasses
    import signal

    from collector.api import Api
    from collector.config import exposure_problem
    from collector.httpserver import ListenError
    from collector.metrics import Registry

    try:
        config, store, _ = _load(args)
        api_cfg = config.api
        if args.listen:
            api_cfg = dataclasses.replace(api_cfg, listen=parse_listen(args.listen))
            problem = exposure_problem(api_cfg.listen, api_cfg.tokens)
            if problem:
                raise ValueError(f"--listen: {problem}")
    except (ConfigError, ValueError) as exc:
        print(f"midwatch serve: {exc}", file=sys.stderr)
        return 2
    try:
        api = Api(api_cfg, store, Registry())
    except ListenError as exc:
        setting = "--listen" if args.listen else f"{config.file}: api.listen"
        print(f"midwatch serve: {setting}: {exc}", file=sys.stderr)
        store.close()
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    api.server.serve_in_thread("api")
    print(f"midwatch API on http://{api_cfg.listen[0]}:{api.port}", file=sys.stderr)
    done.wait()
    api.close()
    store.close()
    return 0
