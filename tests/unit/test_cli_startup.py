"""``midwatch run`` imports only its own command module at start (the others cost it a
seventh of a second of CPU, numpy among them), and parses exactly as the full parser does."""

from __future__ import annotations

import subprocess
import sys

from midwatch.cli import build_parser

RUN_ARGS = ["run", "-c", "midwatch.yaml", "--no-api", "--log-level", "warning"]


def test_run_alone_parses_as_the_full_parser_does():
    alone, full = build_parser("run").parse_args(RUN_ARGS), build_parser().parse_args(RUN_ARGS)
    assert vars(alone) == vars(full)
    assert vars(build_parser("serve").parse_args(["serve", "--listen", "127.0.0.1:1"])) == \
        vars(build_parser().parse_args(["serve", "--listen", "127.0.0.1:1"]))


def test_run_does_not_import_the_other_commands():
    probe = ("import sys; from midwatch.cli import build_parser; build_parser('run'); "
             "print(sorted(m for m in sys.modules if m in ('numpy', 'midwatch.commands.anomaly',"
             " 'midwatch.commands.rules', 'midwatch.commands.run')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['midwatch.commands.run']"


def test_a_command_no_module_is_named_after_gets_the_full_parser():
    """``serve`` lives in the run module, ``known-issues`` in known_issues: both still parse,
    and an unknown command is refused naming every command."""
    assert build_parser("known-issues").parse_args(["known-issues", "list"]).command == \
        "known-issues"
    assert "anomaly" in build_parser("runn").format_help()


def test_run_start_up_loads_no_numpy_no_protobuf_and_scans_no_plug_ins(tmp_path):
    """What ``midwatch run`` builds before its first event (config, store, rule scheduler,
    service with a file input, auto-detected) needs neither numpy (rules' shared windows)
    nor protobuf (the OTLP limits), nor a scan of the installed packages' entry points for
    built-in components: ~0.1 s of CPU at every start (bench/peer_otelcol.py's start-up)."""
    conf = tmp_path / "midwatch.yaml"
    conf.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: {tmp_path / "mw.sqlite"}}}}}
collector: {{checkpoint_dir: {tmp_path / "ck"}, state_dir: {tmp_path}}}
inputs:
  - {{type: file, name: app, paths: ["{tmp_path}/*.log"]}}
""")
    probe = f"""
import argparse, sys
from collector.exporters import EXPORTERS
from collector.exporters.config import with_exporters
from collector.inputs import INPUTS
from collector.parsers import PARSERS
from collector.service.service import Service, build_correlator
from midwatch.commands.run import _load, probe_workers, rule_workers
config, store, ready = _load(argparse.Namespace(config={str(conf)!r}, log_level="warning"))
traced, exporters = with_exporters(config, store)
service = Service(config, traced, with_api=False, correlator=build_correlator(config, traced),
                  workers=rule_workers(config, store) + probe_workers(config, store) + exporters)
assert [i.name for i in service.inputs] == ["app"] and service.workers
print(sorted(m for m in ("numpy", "google.protobuf") if m in sys.modules),
      [r.kind for r in (INPUTS, PARSERS, EXPORTERS) if r._paths is not None])
store.close()
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[] []"


def test_the_parse_worker_auto_detecting_loads_no_protobuf():
    """Auto-detection loads every parser in the worker; the OTLP one brings protobuf only
    when it reads an export."""
    probe = ("import sys; from collector.parse import available_parsers; "
             "names = [p.__name__ for p in available_parsers()]; "
             "assert 'collector.parsers.otlp_json' in names, names; "
             "print('google.protobuf' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
