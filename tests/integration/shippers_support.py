"""Real rsyslog and syslog-ng, run in the foreground with their own config, pid and work
files under a test's temp dir (the system's syslog is never touched), and the traces a run of
the collector made, in a comparable shape.

The programs come from Debian (deploy/local/services.sh installs rsyslog and rsyslog-kafka,
and unpacks syslog-ng-core under $MIDWATCH_CACHE/dist/syslog-ng, the two packages being in
conflict); a test fails when they are missing (a missing peer is a failure, never a skip).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import es_support
import pytest
from service_runner import Running

from collector.config import Config
from collector.service.service import Service, build_correlator

CACHE = Path(os.environ.get("MIDWATCH_CACHE", Path.home() / ".cache" / "midwatch"))
SYSLOG_NG = CACHE / "dist" / "syslog-ng"
RSYSLOG_MODULES = Path("/usr/lib/x86_64-linux-gnu/rsyslog")

# RFC 5424 with the file path in structured data, as docs/shipping.md configures rsyslog.
RSYSLOG_5424 = ('template(name="mw5424" type="string" string="<%PRI%>1 '
                '%TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% - - '
                '[file@32473 path=\\"%$!metadata!filename%\\"] %msg%\\n")')
RSYSLOG_JSON = '''template(name="mwjson" type="list" option.jsonf="on") {
  property(outname="timegenerated" name="timegenerated" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="programname" name="programname" format="jsonf")
  property(outname="filename" name="$!metadata!filename" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}'''


def rsyslog_config(work: Path, files: dict[str, Path], action: str, template: str) -> str:
    inputs = "\n".join(
        f'input(type="imfile" File="{path}" Tag="{tag}" addMetadata="on" ruleset="ship")'
        for tag, path in files.items())
    return f'''global(workDirectory="{work}" maxMessageSize="64k"
       parser.escapeControlCharactersOnReceive="off")
module(load="imfile" mode="polling" PollingInterval="1")
module(load="omkafka")
{template}
{inputs}
ruleset(name="ship") {{
  {action}
}}
'''


def syslog_ng_config(files: dict[str, Path], port: int) -> str:
    sources = "\n".join(
        f'source s_{tag} {{ file("{path}" follow-freq(1) flags(no-parse) '
        f'program-override("{tag}")); }};' for tag, path in files.items())
    logs = "\n".join(f"log {{ source(s_{tag}); destination(d_midwatch); }};" for tag in files)
    return f'''@version: 3.38
options {{ keep-hostname(yes); flush-lines(0); }};
{sources}
destination d_midwatch {{
  network("127.0.0.1" port({port}) transport("tcp")
          template("<${{PRI}}>1 ${{ISODATE}} ${{HOST}} ${{PROGRAM}} - - [file@32473 path=\\"${{FILE_NAME}}\\"] ${{MSG}}\\n"));
}};
{logs}
'''


class Correlating(Running):
    """The service with its correlator (as ``midwatch run`` builds it), so traces are made."""

    def __init__(self, config: Config):
        self.store = config.open_store()
        self.store.setup()
        self.service = Service(config, self.store, with_api=False, progress_tty=False,
                               correlator=build_correlator(config, self.store))
        self.exit_code = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()


class Shipper:
    """One shipper process of ours; ``stop`` ends it by its own pid."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rsyslog(tmp: Path, files: dict[str, Path], action: str, template: str) -> Shipper:
    if shutil.which("rsyslogd") is None:
        pytest.fail("rsyslogd is not installed: run deploy/local/services.sh up", pytrace=False)
    work = tmp / "rsyslog"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(rsyslog_config(work, files, action, template))
    check = subprocess.run(["rsyslogd", "-N1", "-f", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    return Shipper(["rsyslogd", "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
                   work / "rsyslogd.log")


def syslog_ng(tmp: Path, files: dict[str, Path], port: int) -> Shipper:
    binary = SYSLOG_NG / "usr/sbin/syslog-ng"
    if not binary.exists():
        pytest.fail(f"syslog-ng is not unpacked in {SYSLOG_NG}: run deploy/local/services.sh up",
                    pytrace=False)
    work = tmp / "syslog-ng"
    work.mkdir()
    conf = work / "syslog-ng.conf"
    conf.write_text(syslog_ng_config(files, port))
    lib = SYSLOG_NG / "usr/lib/syslog-ng"
    return Shipper([str(binary), "-F", "-e", "--no-caps", "-f", str(conf),
                    f"--module-path={lib}/3.38", f"--persist-file={work}/persist",
                    f"--pidfile={work}/pid", f"--control={work}/ctl"],
                   work / "syslog-ng.log", env={"LD_LIBRARY_PATH": str(lib)})


def traces(es, prefix: str) -> list[tuple]:
    """Every trace as (IDs, status, hop count, the hops' stage/platform/outcome in order),
    sorted: what must be the same whichever way the lines arrived."""
    hits = es_support.search(es, index=f"{prefix}-traces", size=1000)["hits"]["hits"]
    out = []
    for hit in hits:
        t = hit["_source"]
        hops = tuple((h.get("stage"), h.get("platform"), h.get("outcome"), h.get("timestamp"))
                     for h in t.get("hops", []))
        out.append((tuple(sorted(t["ids"])), t["status"], t["hop_count"], hops))
    return sorted(out)


def events_summary(es, prefix: str) -> list[tuple]:
    hits = es_support.search(es, index=f"{prefix}-events-*", size=1000)["hits"]["hits"]
    return sorted((h["_source"]["@timestamp"], h["_source"]["event"]["dataset"],
                   h["_source"].get("message", ""), tuple(h["_source"]["midwatch"]["ids"]))
                  for h in hits)


OTELCOL = CACHE / "dist" / "otelcol-midwatch" / "otelcol-midwatch"


def otelcol(tmp: Path, files: dict[str, Path], exporter: str, exporter_config: str) -> Shipper:
    """The OpenTelemetry Collector (Collector Builder v0.148.0: filelog receiver, otlphttp and
    kafka exporters; deploy/local/services.sh shippers builds it where Go is installed)."""
    if not OTELCOL.exists():
        pytest.fail(f"the OTel Collector is not built at {OTELCOL}: run deploy/local/services.sh up",
                    pytrace=False)
    work = tmp / "otelcol"
    work.mkdir()
    include = ", ".join(f'"{p}"' for p in files.values())
    conf = work / "config.yaml"
    conf.write_text(f"""receivers:
  filelog:
    include: [{include}]
    start_at: beginning
    include_file_path: true
exporters:
  {exporter}:
{exporter_config}
service:
  telemetry:
    metrics: {{level: none}}
  pipelines:
    logs: {{receivers: [filelog], exporters: [{exporter}]}}
""")
    return Shipper([str(OTELCOL), f"--config={conf}"], work / "otelcol.log")
